"""Persistence of advice, the LA's rules, the schools the service knows and tribunal tasks.

Each repository is an abstract port (what the service layer needs) and its PostgreSQL adapter,
bound to one unit of work: its transaction and its local authority. Tests use in-memory fakes
(``tests/support/fakes/statutory.py``). What HTTP reads is in ``eps_statutory.views``.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import asyncpg
from eps_chassis.subject_access import changed
from eps_chassis.unit_of_work import PostgresRepository, PostgresUnitOfWork
from eps_contracts.privacy import RectifiedDetails
from eps_contracts.statutory import (
    AdviceDocument,
    AllocationRoute,
    AssessmentPurpose,
    ExceptionKind,
    TribunalTask,
)

from eps_statutory.domain.clock import ClockException
from eps_statutory.domain.document import KnownSchool
from eps_statutory.domain.model import Advice, AdviceStatus, Booking
from eps_statutory.domain.policy import AllocationRule, ExceptionRule, LaPolicy


class AdviceRepository(abc.ABC):
    """One local authority's advice. Advice loaded or added is tracked by the unit of work,
    which publishes the events it records."""

    @abc.abstractmethod
    async def lock_request(self, request_id: uuid.UUID) -> None:
        """Hold back, until this transaction ends, anyone registering the same request (the
        SEN team may send it twice at once)."""

    @abc.abstractmethod
    async def id_for_request(self, request_id: uuid.UUID) -> uuid.UUID | None:
        """The advice asked for under the LA's request id, if it was received."""

    @abc.abstractmethod
    async def add(self, advice: Advice) -> None:
        """Keep a newly received advice."""

    @abc.abstractmethod
    async def get(self, advice_id: uuid.UUID) -> Advice | None:
        """An advice, locked for this transaction."""

    @abc.abstractmethod
    async def save(self, advice: Advice) -> None:
        """Keep an advice's new state and the exceptions recorded on it."""

    @abc.abstractmethod
    async def open_due_by(self, day: date) -> list[Advice]:
        """Open advice whose last day is on or before ``day``, soonest first (locked)."""


class PolicyRepository(abc.ABC):
    """The local authority's statutory figures and rules."""

    @abc.abstractmethod
    async def get(self) -> LaPolicy:
        """Its policy, or the defaults when it has set none."""

    @abc.abstractmethod
    async def set(self, policy: LaPolicy, updated_by: str) -> None: ...


class SchoolRepository(abc.ABC):
    """What the service knows of the LA's schools: their named EPs (from scheduling) and their
    names (from requests for advice, so that advice naming one is refused)."""

    @abc.abstractmethod
    async def record_named_ep(self, school_urn: str, ep_id: str, effective_from: date) -> None:
        """The school's named EP from ``effective_from`` on (told again: the same)."""

    @abc.abstractmethod
    async def named_ep_on(self, school_urn: str, day: date) -> str | None:
        """The school's named EP on ``day``, if it has one."""

    @abc.abstractmethod
    async def remember(self, school_urn: str, name: str) -> None:
        """A school's name as the SEN team gave it (the latest one kept)."""

    @abc.abstractmethod
    async def known(self) -> list[KnownSchool]:
        """Every school the service knows for the LA."""


class TribunalTaskRepository(abc.ABC):
    """The tasks SEND Tribunal appeals give the EPs."""

    @abc.abstractmethod
    async def add(
        self, appeal_id: uuid.UUID, advice_id: uuid.UUID, tasks: tuple[TribunalTask, ...]
    ) -> bool:
        """Keep the appeal's tasks; False when the appeal already has them."""


OPEN_ADVICE = "status NOT IN ('submitted', 'withdrawn')"  # SQL for domain.model.CLOSED


async def tenants_with_open_advice(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with advice still open (the deadline watch's round): any of it may be
    at risk or past its last day ``now``, by each LA's own at-risk days."""
    rows = await conn.fetch(
        f"SELECT DISTINCT tenant FROM advice WHERE {OPEN_ADVICE} ORDER BY tenant"
    )
    return [r["tenant"] for r in rows]


_POLICY_FIELDS = tuple(LaPolicy.__dataclass_fields__)


class PostgresPolicyRepository(PolicyRepository, PostgresRepository):
    async def get(self) -> LaPolicy:
        row = await self.conn.fetchrow(
            f"SELECT {', '.join(_POLICY_FIELDS)} FROM policies WHERE tenant = $1", self.tenant
        )
        if row is None:
            return LaPolicy()
        values = dict(row)
        values["exception_rule"] = ExceptionRule(values["exception_rule"])
        values["allocation_rule"] = AllocationRule(values["allocation_rule"])
        return LaPolicy(**values)

    async def set(self, policy: LaPolicy, updated_by: str) -> None:
        values = [str(v) if isinstance(v, str) else v for v in asdict(policy).values()]
        columns = ", ".join(_POLICY_FIELDS)
        params = ", ".join(f"${i}" for i in range(3, len(_POLICY_FIELDS) + 3))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _POLICY_FIELDS)
        await self.conn.execute(
            f"INSERT INTO policies (tenant, updated_by, {columns}) VALUES ($1, $2, {params})"
            f" ON CONFLICT (tenant) DO UPDATE SET {updates}, updated_by = EXCLUDED.updated_by,"
            " updated_at = clock_timestamp()",
            self.tenant,
            updated_by,
            *values,
        )


# a school belongs to one local authority: one another authority holds ($2, for tenant $1)
_NOBODY_ELSES_SCHOOL = (
    "NOT EXISTS (SELECT 1 FROM named_eps WHERE school_urn = $2 AND tenant <> $1)"
    " AND NOT EXISTS (SELECT 1 FROM known_schools WHERE school_urn = $2 AND tenant <> $1)"
)


class PostgresSchoolRepository(SchoolRepository, PostgresRepository):
    async def record_named_ep(self, school_urn: str, ep_id: str, effective_from: date) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO named_eps (tenant, school_urn, effective_from, ep_id)"
            f" SELECT $1, $2, $3, $4 WHERE {_NOBODY_ELSES_SCHOOL}"
            " ON CONFLICT (tenant, school_urn, effective_from)"
            " DO UPDATE SET ep_id = EXCLUDED.ep_id RETURNING true",
            self.tenant,
            school_urn,
            effective_from,
            ep_id,
        )
        self.kept(kept, "school", school_urn, field="school_urn")

    async def named_ep_on(self, school_urn: str, day: date) -> str | None:
        value = await self.conn.fetchval(
            "SELECT ep_id FROM named_eps WHERE tenant = $1 AND school_urn = $2"
            " AND effective_from <= $3 ORDER BY effective_from DESC LIMIT 1",
            self.tenant,
            school_urn,
            day,
        )
        return value if isinstance(value, str) else None

    async def remember(self, school_urn: str, name: str) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO known_schools (tenant, school_urn, name)"
            f" SELECT $1, $2, $3 WHERE {_NOBODY_ELSES_SCHOOL}"
            " ON CONFLICT (school_urn) DO UPDATE SET name = EXCLUDED.name"
            " WHERE known_schools.tenant = EXCLUDED.tenant RETURNING true",
            self.tenant,
            school_urn,
            name,
        )
        self.kept(kept, "school", school_urn, field="school_urn")

    async def known(self) -> list[KnownSchool]:
        rows = await self.conn.fetch(
            "SELECT school_urn, name FROM known_schools WHERE tenant = $1", self.tenant
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


def booking_json(booking: Booking) -> dict[str, Any]:
    """A booking as the ``bookings`` column keeps it."""
    return {
        "purpose": str(booking.purpose),
        "request_id": _optional(booking.request_id, str),
        "failure": booking.failure,
        "appointment_id": _optional(booking.appointment_id, str),
        "starts_at": _optional(booking.starts_at, datetime.isoformat),
        "completed_at": _optional(booking.completed_at, datetime.isoformat),
    }


def bookings_from(values: dict[str, Any]) -> list[Booking]:
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
        "bookings": json.dumps([booking_json(b) for b in advice.bookings]),
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


async def advice_exceptions(
    conn: asyncpg.Connection, tenant: str, advice_id: uuid.UUID
) -> list[ClockException]:
    """The reg 8(2) exceptions recorded on an advice, in date order (also shown by the views)."""
    rows = await conn.fetch(
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


class PostgresAdviceRepository(AdviceRepository, PostgresRepository):
    async def lock_request(self, request_id: uuid.UUID) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"advice-request:{self.tenant}:{request_id}",
        )

    async def id_for_request(self, request_id: uuid.UUID) -> uuid.UUID | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, advice_id FROM advice WHERE request_id = $1", request_id
        )
        row = self.owned(row, "request for advice", request_id, field="request_id")
        return row["advice_id"] if row is not None else None

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
        self.uow.track(advice)
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

    async def get(self, advice_id: uuid.UUID) -> Advice | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ADVICE_COLUMNS} FROM advice WHERE advice_id = $1 FOR UPDATE", advice_id
        )
        row = self.owned(
            row, "advice", advice_id, field="advice_id", message=f"no advice {advice_id}"
        )
        if row is None:
            return None
        return await self._load(row)

    async def open_due_by(self, day: date) -> list[Advice]:
        rows = await self.conn.fetch(
            f"SELECT {_ADVICE_COLUMNS} FROM advice WHERE tenant = $1 AND {OPEN_ADVICE}"
            " AND due_on <= $2 ORDER BY due_on, advice_id FOR UPDATE",
            self.tenant,
            day,
        )
        return [await self._load(r) for r in rows]

    async def _load(self, row: asyncpg.Record) -> Advice:
        values = dict(row)
        values["status"] = AdviceStatus(values["status"])
        values["exception_rule"] = ExceptionRule(values["exception_rule"])
        values["route"] = AllocationRoute(values["route"]) if values["route"] else None
        raw_document = values.pop("document")
        values["document"] = (
            AdviceDocument.model_validate_json(raw_document) if raw_document else None
        )
        values["bookings"] = bookings_from(values)
        advice = Advice(**values)
        advice.exceptions = await advice_exceptions(self.conn, advice.tenant, advice.advice_id)
        return self.uow.track(advice)


class PostgresTribunalTaskRepository(TribunalTaskRepository, PostgresRepository):
    async def add(
        self, appeal_id: uuid.UUID, advice_id: uuid.UUID, tasks: tuple[TribunalTask, ...]
    ) -> bool:
        inserted = 0
        for task in tasks:
            status = await self.conn.execute(
                "INSERT INTO tribunal_tasks (task_id, tenant, appeal_id, advice_id, kind, ep_id,"
                " due_on) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (tenant, appeal_id, kind) DO NOTHING",
                task.task_id,
                self.tenant,
                appeal_id,
                advice_id,
                str(task.kind),
                task.ep_id,
                task.due_on,
            )
            inserted += int(status.split()[-1])
        return inserted > 0


ERASED = "(erased)"


async def erase_child(uow: PostgresUnitOfWork, child_id: uuid.UUID) -> int:
    """The child's retention has ended: each request for advice stays (the LA's timeliness
    figures are counted from its dates) but no longer names the child: no name, the date of
    birth kept to its year, no advice document, no reasons given."""
    count = await changed(
        uow,
        "UPDATE advice SET child_given_name = $3, child_family_name = $3,"
        " child_date_of_birth = date_trunc('year', child_date_of_birth)::date, document = NULL,"
        " la_case_ref = $3, withdrawal_reason = NULL, booking_failure = NULL"
        " WHERE tenant = $1 AND child_id = $2",
        uow.tenant,
        child_id,
        ERASED,
    )
    erased = count
    count = await changed(
        uow,
        "UPDATE advice_exceptions SET reason = $3, evidence = '{}' WHERE advice_id IN"
        " (SELECT advice_id FROM advice WHERE tenant = $1 AND child_id = $2)",
        uow.tenant,
        child_id,
        ERASED,
    )
    return erased + count


async def rectify_child(
    uow: PostgresUnitOfWork, child_id: uuid.UUID, details: RectifiedDetails
) -> int:
    """The corrected name and date of birth on every request for advice about the child."""
    count = await changed(
        uow,
        "UPDATE advice SET child_given_name = COALESCE($3, child_given_name),"
        " child_family_name = COALESCE($4, child_family_name),"
        " child_date_of_birth = COALESCE($5, child_date_of_birth)"
        " WHERE tenant = $1 AND child_id = $2",
        uow.tenant,
        child_id,
        details.given_name,
        details.family_name,
        details.date_of_birth,
    )
    return count
