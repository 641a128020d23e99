"""Persistence of advice, the LA's rules and the read models. Every query is scoped to a tenant,
except :meth:`AdviceRepository.tenants_with_open_advice`, which the deadline watch uses to open
one unit of work per local authority."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import asyncpg
from eps_contracts.statutory import (
    AdviceDocument,
    AllocationRoute,
    AssessmentPurpose,
    ExceptionKind,
    TribunalTask,
)

from eps_statutory.domain.clock import ClockException, plan_due_on
from eps_statutory.domain.document import KnownSchool
from eps_statutory.domain.model import Advice, AdviceStatus, Booking
from eps_statutory.domain.policy import AllocationRule, ExceptionRule, LaPolicy
from eps_statutory.domain.reporting import SubmittedAdvice

_POLICY_FIELDS = tuple(LaPolicy.__dataclass_fields__)


class PolicyRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, tenant: str) -> LaPolicy:
        row = await self.conn.fetchrow(
            f"SELECT {', '.join(_POLICY_FIELDS)} FROM policies WHERE tenant = $1", tenant
        )
        if row is None:
            return LaPolicy()
        values = dict(row)
        values["exception_rule"] = ExceptionRule(values["exception_rule"])
        values["allocation_rule"] = AllocationRule(values["allocation_rule"])
        return LaPolicy(**values)

    async def put(self, tenant: str, policy: LaPolicy, updated_by: str) -> None:
        values = [str(v) if isinstance(v, str) else v for v in asdict(policy).values()]
        columns = ", ".join(_POLICY_FIELDS)
        params = ", ".join(f"${i}" for i in range(3, len(_POLICY_FIELDS) + 3))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _POLICY_FIELDS)
        await self.conn.execute(
            f"INSERT INTO policies (tenant, updated_by, {columns}) VALUES ($1, $2, {params})"
            f" ON CONFLICT (tenant) DO UPDATE SET {updates}, updated_by = EXCLUDED.updated_by,"
            " updated_at = clock_timestamp()",
            tenant,
            updated_by,
            *values,
        )


class SchoolRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record_named_ep(
        self, tenant: str, school_urn: str, ep_id: str, effective_from: date
    ) -> None:
        await self.conn.execute(
            "INSERT INTO named_eps (tenant, school_urn, effective_from, ep_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, school_urn, effective_from)"
            " DO UPDATE SET ep_id = EXCLUDED.ep_id",
            tenant,
            school_urn,
            effective_from,
            ep_id,
        )

    async def named_ep_on(self, tenant: str, school_urn: str, day: date) -> str | None:
        value = await self.conn.fetchval(
            "SELECT ep_id FROM named_eps WHERE tenant = $1 AND school_urn = $2"
            " AND effective_from <= $3 ORDER BY effective_from DESC LIMIT 1",
            tenant,
            school_urn,
            day,
        )
        return value if isinstance(value, str) else None

    async def remember_school(self, tenant: str, school_urn: str, name: str) -> None:
        await self.conn.execute(
            "INSERT INTO known_schools (tenant, school_urn, name) VALUES ($1, $2, $3)"
            " ON CONFLICT (tenant, school_urn) DO UPDATE SET name = EXCLUDED.name",
            tenant,
            school_urn,
            name,
        )

    async def known_schools(self, tenant: str) -> list[KnownSchool]:
        rows = await self.conn.fetch(
            "SELECT school_urn, name FROM known_schools WHERE tenant = $1", tenant
        )
        return [KnownSchool(urn=r["school_urn"], name=r["name"]) for r in rows]


_ADVICE_COLUMNS = (
    "advice_id, tenant, request_id, la_case_ref, child_id, child_given_name, child_family_name,"
    " child_date_of_birth, school_urn, received_at, received_on, assessment_requested_on,"
    " advice_weeks, exception_rule, status, route, ep_id, booking_request_id, booking_failure,"
    " appointment_id, appointment_starts_at, assessment_completed_at, document, version,"
    " drafted_by, approved_by, submitted_on, at_risk_raised_for, breach_raised_for, bookings,"
    " withdrawn_on, withdrawal_reason"
)
_OPEN = "status NOT IN ('submitted', 'withdrawn')"  # AdviceStatus, domain.model.CLOSED
_MUTABLE = (
    "status",
    "route",
    "ep_id",
    "booking_request_id",
    "booking_failure",
    "appointment_id",
    "appointment_starts_at",
    "bookings",
    "assessment_completed_at",
    "document",
    "version",
    "drafted_by",
    "approved_by",
    "submitted_on",
    "withdrawn_on",
    "withdrawal_reason",
    "at_risk_raised_for",
    "breach_raised_for",
    "due_on",
    "exception_applied",
)


def _optional(value: Any, convert: Callable[[Any], Any]) -> Any:
    return convert(value) if value is not None else None


def _booking_json(booking: Booking) -> dict[str, Any]:
    return {
        "purpose": str(booking.purpose),
        "request_id": _optional(booking.request_id, str),
        "failure": booking.failure,
        "appointment_id": _optional(booking.appointment_id, str),
        "starts_at": _optional(booking.starts_at, datetime.isoformat),
        "completed_at": _optional(booking.completed_at, datetime.isoformat),
    }


def _bookings_from(values: dict[str, Any]) -> list[Booking]:
    """The advice's bookings, popping the stored columns from ``values``. Advice saved before
    bookings had purposes (``bookings`` NULL) has at most one: an assessment visit."""
    raw = values.pop("bookings", None)
    request_id, failure = values.pop("booking_request_id"), values.pop("booking_failure")
    appointment_id, starts_at = values.pop("appointment_id"), values.pop("appointment_starts_at")
    if raw is not None:
        return [
            Booking(
                purpose=AssessmentPurpose(b["purpose"]),
                request_id=_optional(b["request_id"], uuid.UUID),
                failure=b["failure"],
                appointment_id=_optional(b["appointment_id"], uuid.UUID),
                starts_at=_optional(b["starts_at"], datetime.fromisoformat),
                completed_at=_optional(b["completed_at"], datetime.fromisoformat),
            )
            for b in json.loads(raw)
        ]
    if request_id is None and appointment_id is None:
        return []
    return [
        Booking(
            purpose=AssessmentPurpose.ASSESSMENT_VISIT,
            request_id=request_id,
            failure=failure,
            appointment_id=appointment_id,
            starts_at=starts_at,
            completed_at=values.get("assessment_completed_at") if appointment_id else None,
        )
    ]


def _row_values(advice: Advice) -> dict[str, Any]:
    return {
        "status": str(advice.status),
        "route": str(advice.route) if advice.route else None,
        "ep_id": advice.ep_id,
        "booking_request_id": advice.booking_request_id,
        "booking_failure": advice.booking_failure,
        "appointment_id": advice.appointment_id,
        "appointment_starts_at": advice.appointment_starts_at,
        "bookings": json.dumps([_booking_json(b) for b in advice.bookings]),
        "assessment_completed_at": advice.assessment_completed_at,
        "document": advice.document.model_dump_json() if advice.document else None,
        "version": advice.version,
        "drafted_by": advice.drafted_by,
        "approved_by": advice.approved_by,
        "submitted_on": advice.submitted_on,
        "withdrawn_on": advice.withdrawn_on,
        "withdrawal_reason": advice.withdrawal_reason,
        "at_risk_raised_for": advice.at_risk_raised_for,
        "breach_raised_for": advice.breach_raised_for,
        "due_on": advice.due_on,
        "exception_applied": bool(advice.exceptions),
    }


class AdviceRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_request(self, tenant: str, request_id: uuid.UUID) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"advice-request:{tenant}:{request_id}"
        )

    async def id_for_request(self, tenant: str, request_id: uuid.UUID) -> uuid.UUID | None:
        value = await self.conn.fetchval(
            "SELECT advice_id FROM advice WHERE tenant = $1 AND request_id = $2",
            tenant,
            request_id,
        )
        return value if isinstance(value, uuid.UUID) else None

    async def add(self, advice: Advice) -> None:
        await self.conn.execute(
            "INSERT INTO advice (advice_id, tenant, request_id, la_case_ref, child_id,"
            " child_given_name, child_family_name, child_date_of_birth, school_urn, received_at,"
            " received_on, assessment_requested_on, advice_weeks, exception_rule, status,"
            " six_week_due_on) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            advice.advice_id,
            advice.tenant,
            advice.request_id,
            advice.la_case_ref,
            advice.child_id,
            advice.child_given_name,
            advice.child_family_name,
            advice.child_date_of_birth,
            advice.school_urn,
            advice.received_at,
            advice.received_on,
            advice.assessment_requested_on,
            advice.advice_weeks,
            str(advice.exception_rule),
            str(advice.status),
            advice.six_week_due_on,
        )
        await self.save(advice)

    async def save(self, advice: Advice) -> None:
        values = _row_values(advice)
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(_MUTABLE, start=3))
        await self.conn.execute(
            f"UPDATE advice SET {sets} WHERE tenant = $1 AND advice_id = $2",
            advice.tenant,
            advice.advice_id,
            *(values[c] for c in _MUTABLE),
        )
        for e in advice.exceptions:
            await self.conn.execute(
                "INSERT INTO advice_exceptions (exception_id, tenant, advice_id, kind, starts_on,"
                " ends_on, reason, evidence, parents_notified_on, recorded_on, recorded_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (exception_id) DO NOTHING",
                e.exception_id,
                advice.tenant,
                advice.advice_id,
                str(e.kind),
                e.starts_on,
                e.ends_on,
                e.reason,
                list(e.evidence),
                e.parents_notified_on,
                e.recorded_on,
                e.recorded_by,
            )

    async def get(self, tenant: str, advice_id: uuid.UUID) -> Advice | None:
        """Load an advice and lock it for the rest of the transaction."""
        row = await self.conn.fetchrow(
            f"SELECT {_ADVICE_COLUMNS} FROM advice WHERE tenant = $1 AND advice_id = $2 FOR UPDATE",
            tenant,
            advice_id,
        )
        if row is None:
            return None
        return await self._load(row)

    async def open_advice_due_by(self, tenant: str, day: date) -> list[Advice]:
        """Open advice whose last day is on or before ``day`` (locked for the transaction)."""
        rows = await self.conn.fetch(
            f"SELECT {_ADVICE_COLUMNS} FROM advice WHERE tenant = $1 AND {_OPEN}"
            " AND due_on <= $2 ORDER BY due_on, advice_id FOR UPDATE",
            tenant,
            day,
        )
        return [await self._load(r) for r in rows]

    async def tenants_with_open_advice(self) -> list[str]:
        rows = await self.conn.fetch(
            f"SELECT DISTINCT tenant FROM advice WHERE {_OPEN} ORDER BY tenant"
        )
        return [r["tenant"] for r in rows]

    async def _load(self, row: asyncpg.Record) -> Advice:
        values = dict(row)
        values["status"] = AdviceStatus(values["status"])
        values["exception_rule"] = ExceptionRule(values["exception_rule"])
        values["route"] = AllocationRoute(values["route"]) if values["route"] else None
        raw_document = values.pop("document")
        values["document"] = (
            AdviceDocument.model_validate_json(raw_document) if raw_document else None
        )
        values["bookings"] = _bookings_from(values)
        advice = Advice(**values)
        advice.exceptions = await self._exceptions(advice.tenant, advice.advice_id)
        return advice

    async def _exceptions(self, tenant: str, advice_id: uuid.UUID) -> list[ClockException]:
        rows = await self.conn.fetch(
            "SELECT exception_id, kind, starts_on, ends_on, reason, evidence,"
            " parents_notified_on, recorded_on, recorded_by FROM advice_exceptions"
            " WHERE tenant = $1 AND advice_id = $2 ORDER BY starts_on, exception_id",
            tenant,
            advice_id,
        )
        return [
            ClockException(
                **{**dict(r), "kind": ExceptionKind(r["kind"]), "evidence": tuple(r["evidence"])}
            )
            for r in rows
        ]

    # --- views and reports ---------------------------------------------------------------------

    async def view(self, tenant: str, advice_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT advice_id, request_id, la_case_ref, child_id, child_given_name,"
            " child_family_name, child_date_of_birth, school_urn, received_at, received_on,"
            " assessment_requested_on, status, route, ep_id, booking_request_id, booking_failure,"
            " appointment_id, appointment_starts_at, bookings, assessment_completed_at, document,"
            " version, drafted_by, approved_by, submitted_on, six_week_due_on, due_on,"
            " exception_applied, withdrawn_on, withdrawal_reason"
            " FROM advice WHERE tenant = $1 AND advice_id = $2",
            tenant,
            advice_id,
        )
        if row is None:
            return None
        view = dict(row)
        bookings = _bookings_from({**view})
        del view["booking_request_id"]
        view["bookings"] = [_booking_json(b) for b in bookings]  # each purpose's booking
        view["document"] = json.loads(view["document"]) if view["document"] else None
        view["plan_due_on"] = plan_due_on(view["assessment_requested_on"])
        view["exceptions"] = [
            {k: v for k, v in asdict(e).items()} for e in await self._exceptions(tenant, advice_id)
        ]
        return view

    async def open_list(self, tenant: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT advice_id, la_case_ref, status, ep_id, received_on, six_week_due_on, due_on,"
            " exception_applied, appointment_id IS NOT NULL AS assessment_booked,"
            " document IS NOT NULL AS drafted, assessment_requested_on FROM advice"
            f" WHERE tenant = $1 AND {_OPEN} ORDER BY due_on NULLS LAST, advice_id",
            tenant,
        )
        return [{**dict(r), "plan_due_on": plan_due_on(r["assessment_requested_on"])} for r in rows]

    async def submitted(self, tenant: str, start: date, end: date) -> list[SubmittedAdvice]:
        rows = await self.conn.fetch(
            "SELECT submitted_on, submitted_on <= six_week_due_on AS within_six_weeks,"
            " (due_on IS NULL OR submitted_on <= due_on) AS within_time_limit,"
            " exception_applied FROM advice WHERE tenant = $1 AND status = 'submitted'"
            " AND submitted_on >= $2 AND submitted_on < $3",
            tenant,
            start,
            end,
        )
        return [SubmittedAdvice(**dict(r)) for r in rows]


class TribunalTaskRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(
        self,
        tenant: str,
        appeal_id: uuid.UUID,
        advice_id: uuid.UUID,
        tasks: tuple[TribunalTask, ...],
    ) -> bool:
        """Store the appeal's tasks; False when the appeal already has them."""
        inserted = 0
        for task in tasks:
            status = await self.conn.execute(
                "INSERT INTO tribunal_tasks (task_id, tenant, appeal_id, advice_id, kind, ep_id,"
                " due_on) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (tenant, appeal_id, kind) DO NOTHING",
                task.task_id,
                tenant,
                appeal_id,
                advice_id,
                str(task.kind),
                task.ep_id,
                task.due_on,
            )
            inserted += int(status.split()[-1])
        return inserted > 0

    async def for_ep(self, tenant: str, ep_id: str | None) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT task_id, appeal_id, advice_id, kind, ep_id, due_on FROM tribunal_tasks"
            " WHERE tenant = $1 AND ($2::text IS NULL OR ep_id = $2 OR ep_id IS NULL)"
            " ORDER BY due_on, task_id",
            tenant,
            ep_id,
        )
        return [dict(r) for r in rows]
