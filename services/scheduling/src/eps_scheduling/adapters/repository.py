"""Persistence of the scheduling service in its own schema. Every query is scoped to a tenant."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from eps_chassis.errors import Conflict
from eps_contracts.scheduling import AppointmentKind, FundingStream

from eps_scheduling.domain.calendar import academic_year_of, london_date
from eps_scheduling.domain.delivery import Delivery
from eps_scheduling.domain.model import (
    Appointment,
    AppointmentStatus,
    Ep,
    EpRole,
    GeoPoint,
    Policy,
    School,
    SchoolAllowance,
    WorkingHours,
    WorkingPattern,
)

_APPOINTMENT_COLUMNS = (
    "appointment_id, ep_id, kind, status, starts_at, ends_at, funding_stream, place, school_urn,"
    " referral_id, child_id, case_ref, request_id, reason, advice_id"
)


def pattern_to_json(pattern: WorkingPattern) -> str:
    return json.dumps(
        {str(day): [h.start_minute, h.end_minute] for day, h in sorted(pattern.days.items())}
    )


@functools.lru_cache(maxsize=4096)  # EPs are read on every booking and share a few patterns
def pattern_from_json(raw: str) -> WorkingPattern:
    return WorkingPattern(
        {int(day): WorkingHours(*hours) for day, hours in json.loads(raw).items()}
    )


def _ep(row: asyncpg.Record) -> Ep:
    return Ep(
        ep_id=row["ep_id"],
        role=EpRole(row["role"]),
        pattern=pattern_from_json(row["working_pattern"]),
        weekly_capacity_minutes=row["weekly_capacity_minutes"],
        base=GeoPoint(row["base_latitude"], row["base_longitude"]),
        on_rota=row["on_rota"],
        active=row["active"],
    )


def _appointment(row: asyncpg.Record) -> Appointment:
    return Appointment(
        appointment_id=row["appointment_id"],
        ep_id=row["ep_id"],
        kind=AppointmentKind(row["kind"]),
        status=AppointmentStatus(row["status"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        funding_stream=FundingStream(row["funding_stream"]),
        place=row["place"],
        school_urn=row["school_urn"],
        referral_id=row["referral_id"],
        child_id=row["child_id"],
        case_ref=row["case_ref"],
        request_id=row["request_id"],
        reason=row["reason"],
        advice_id=row["advice_id"],
    )


class PolicyRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, tenant: str) -> Policy:
        row = await self.conn.fetchrow("SELECT * FROM policies WHERE tenant = $1", tenant)
        if row is None:
            return Policy()
        return Policy(
            travel_buffer_minutes=row["travel_buffer_minutes"],
            slot_step_minutes=row["slot_step_minutes"],
            fast_track_step_minutes=row["fast_track_step_minutes"],
            planning_meeting_minutes=row["planning_meeting_minutes"],
            planning_notice_days=row["planning_notice_days"],
            reschedule_horizon_days=row["reschedule_horizon_days"],
            autumn_term=_term(row["autumn_term"]),
            spring_term=_term(row["spring_term"]),
        )

    async def save(self, tenant: str, policy: Policy) -> None:
        await self.conn.execute(
            "INSERT INTO policies (tenant, travel_buffer_minutes, slot_step_minutes,"
            " fast_track_step_minutes, planning_meeting_minutes, reschedule_horizon_days,"
            " autumn_term, spring_term, planning_notice_days)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (tenant) DO UPDATE SET"
            " travel_buffer_minutes = excluded.travel_buffer_minutes,"
            " slot_step_minutes = excluded.slot_step_minutes,"
            " fast_track_step_minutes = excluded.fast_track_step_minutes,"
            " planning_meeting_minutes = excluded.planning_meeting_minutes,"
            " reschedule_horizon_days = excluded.reschedule_horizon_days,"
            " autumn_term = excluded.autumn_term, spring_term = excluded.spring_term,"
            " planning_notice_days = excluded.planning_notice_days",
            tenant,
            policy.travel_buffer_minutes,
            policy.slot_step_minutes,
            policy.fast_track_step_minutes,
            policy.planning_meeting_minutes,
            policy.reschedule_horizon_days,
            json.dumps(policy.autumn_term),
            json.dumps(policy.spring_term),
            policy.planning_notice_days,
        )


def _term(raw: str) -> tuple[tuple[int, int], tuple[int, int]]:
    (sm, sd), (em, ed) = json.loads(raw)
    return (int(sm), int(sd)), (int(em), int(ed))


class StaffRepository:
    """EPs and schools (reference data)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def save_ep(self, tenant: str, ep: Ep) -> None:
        await self.conn.execute(
            "INSERT INTO eps (tenant, ep_id, role, working_pattern, weekly_capacity_minutes,"
            " base_latitude, base_longitude, on_rota, active)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (tenant, ep_id) DO UPDATE SET role = excluded.role,"
            " working_pattern = excluded.working_pattern,"
            " weekly_capacity_minutes = excluded.weekly_capacity_minutes,"
            " base_latitude = excluded.base_latitude, base_longitude = excluded.base_longitude,"
            " on_rota = excluded.on_rota, active = excluded.active",
            tenant,
            ep.ep_id,
            str(ep.role),
            pattern_to_json(ep.pattern),
            ep.weekly_capacity_minutes,
            ep.base.latitude,
            ep.base.longitude,
            ep.on_rota,
            ep.active,
        )

    async def get_ep(self, tenant: str, ep_id: str) -> Ep | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM eps WHERE tenant = $1 AND ep_id = $2", tenant, ep_id
        )
        return _ep(row) if row else None

    async def lock_eps(self, tenant: str, ep_ids: Sequence[str]) -> list[Ep]:
        """Lock the EPs' diaries (in id order, so two lockers never deadlock)."""
        rows = await self.conn.fetch(
            "SELECT * FROM eps WHERE tenant = $1 AND ep_id = ANY($2::text[])"
            " ORDER BY ep_id FOR UPDATE",
            tenant,
            sorted(set(ep_ids)),
        )
        return [_ep(r) for r in rows]

    async def list_eps(self, tenant: str) -> list[Ep]:
        rows = await self.conn.fetch("SELECT * FROM eps WHERE tenant = $1 ORDER BY ep_id", tenant)
        return [_ep(r) for r in rows]

    async def tenants_with_schools(self) -> list[str]:
        """Every local authority with a school registered (for the periodic jobs)."""
        rows = await self.conn.fetch("SELECT DISTINCT tenant FROM schools ORDER BY tenant")
        return [r["tenant"] for r in rows]

    async def get_school(self, tenant: str, school_urn: str) -> School | None:
        row = await self.conn.fetchrow(
            "SELECT school_urn, latitude, longitude, named_ep_id FROM schools"
            " WHERE tenant = $1 AND school_urn = $2",
            tenant,
            school_urn,
        )
        if row is None:
            return None
        return School(
            row["school_urn"], GeoPoint(row["latitude"], row["longitude"]), row["named_ep_id"]
        )

    async def lock_school(self, tenant: str, school_urn: str) -> str | None:
        """Lock a school's row before its EPs'; returns its named EP (None for a new school)."""
        named = await self.conn.fetchval(
            "SELECT named_ep_id FROM schools WHERE tenant = $1 AND school_urn = $2 FOR UPDATE",
            tenant,
            school_urn,
        )
        return named if isinstance(named, str) else None

    async def save_school(self, tenant: str, school: School, named_from: Any) -> str | None:
        """Upsert a school; returns the previous named EP (None for a new school)."""
        previous = await self.conn.fetchval(
            "SELECT named_ep_id FROM schools WHERE tenant = $1 AND school_urn = $2 FOR UPDATE",
            tenant,
            school.school_urn,
        )
        await self.conn.execute(
            "INSERT INTO schools (tenant, school_urn, latitude, longitude, named_ep_id,"
            " named_ep_from) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (tenant, school_urn) DO UPDATE SET latitude = excluded.latitude,"
            " longitude = excluded.longitude, named_ep_id = excluded.named_ep_id,"
            " named_ep_from = CASE WHEN schools.named_ep_id = excluded.named_ep_id"
            " THEN schools.named_ep_from ELSE excluded.named_ep_from END",
            tenant,
            school.school_urn,
            school.location.latitude,
            school.location.longitude,
            school.named_ep_id,
            named_from,
        )
        return previous if isinstance(previous, str) else None

    async def set_core_allocation(
        self, tenant: str, school_urn: str, academic_year: int, core_minutes: int
    ) -> None:
        await self.conn.execute(
            "INSERT INTO core_allocations (tenant, school_urn, academic_year, core_minutes)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, school_urn, academic_year)"
            " DO UPDATE SET core_minutes = excluded.core_minutes",
            tenant,
            school_urn,
            academic_year,
            core_minutes,
        )

    async def add_traded_time(
        self, tenant: str, purchase_id: uuid.UUID, school_urn: str, year: int, minutes: int
    ) -> bool:
        """Record time bought outside billing once (by its id); False when already recorded."""
        status = await self.conn.execute(
            "INSERT INTO traded_purchases (tenant, purchase_id, school_urn, academic_year, minutes)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            tenant,
            purchase_id,
            school_urn,
            year,
            minutes,
        )
        return bool(status.endswith(" 1"))

    async def set_agreement(
        self, tenant: str, agreement_id: uuid.UUID, school_urn: str, year: int, minutes: int
    ) -> None:
        """An SLA bought in billing: its traded minutes, always billing's latest."""
        await self.conn.execute(
            "INSERT INTO traded_purchases"
            " (tenant, purchase_id, school_urn, academic_year, minutes, source)"
            " VALUES ($1, $2, $3, $4, $5, 'billing_sla') ON CONFLICT (tenant, purchase_id)"
            " DO UPDATE SET school_urn = excluded.school_urn,"
            " academic_year = excluded.academic_year, minutes = excluded.minutes"
            " WHERE traded_purchases.source = 'billing_sla'",
            tenant,
            agreement_id,
            school_urn,
            year,
            minutes,
        )

    async def remove_agreement(self, tenant: str, agreement_id: uuid.UUID) -> None:
        await self.conn.execute(
            "DELETE FROM traded_purchases WHERE tenant = $1 AND purchase_id = $2"
            " AND source = 'billing_sla'",
            tenant,
            agreement_id,
        )

    async def traded_time(
        self, tenant: str, school_urn: str, academic_year: int
    ) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT purchase_id, source, minutes FROM traded_purchases WHERE tenant = $1"
            " AND school_urn = $2 AND academic_year = $3 ORDER BY source, purchase_id",
            tenant,
            school_urn,
            academic_year,
        )
        return [dict(r) for r in rows]

    async def allowance(self, tenant: str, school_urn: str, academic_year: int) -> SchoolAllowance:
        row = await self.conn.fetchrow(
            "SELECT (SELECT core_minutes FROM core_allocations WHERE tenant = $1"
            "   AND school_urn = $2 AND academic_year = $3) AS core,"
            " (SELECT sum(minutes) FROM traded_purchases WHERE tenant = $1 AND school_urn = $2"
            "   AND academic_year = $3) AS traded",
            tenant,
            school_urn,
            academic_year,
        )
        assert row is not None
        return SchoolAllowance(int(row["core"] or 0), int(row["traded"] or 0))

    async def lock_school_year(self, tenant: str, school_urn: str, academic_year: int) -> None:
        """Serialise bookings that draw on one school's allowance for one year."""
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"allowance:{tenant}:{school_urn}:{academic_year}",
        )


class AppointmentRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, tenant: str, a: Appointment) -> None:
        """Insert in a savepoint: a refused insert leaves the caller's transaction usable."""
        async with self.conn.transaction():
            await self.add_all(tenant, [a])

    async def add_all(self, tenant: str, appointments: Sequence[Appointment]) -> None:
        """Insert in one round trip, for a caller that gives up its transaction on a Conflict."""
        try:
            await self.conn.executemany(
                "INSERT INTO appointments (appointment_id, tenant, ep_id, kind, status, starts_at,"
                " ends_at, funding_stream, place, school_urn, academic_year, referral_id,"
                " child_id, case_ref, request_id, reason, advice_id) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                [
                    (
                        a.appointment_id,
                        tenant,
                        a.ep_id,
                        str(a.kind),
                        str(a.status),
                        a.starts_at,
                        a.ends_at,
                        str(a.funding_stream),
                        a.place,
                        a.school_urn,
                        academic_year_of(london_date(a.starts_at)),
                        a.referral_id,
                        a.child_id,
                        a.case_ref,
                        a.request_id,
                        a.reason,
                        a.advice_id,
                    )
                    for a in appointments
                ],
            )
        except asyncpg.ExclusionViolationError as exc:
            booked = ", ".join(sorted({a.ep_id for a in appointments}))
            raise Conflict(
                f"EP {booked} is already booked at that time", field="starts_at"
            ) from exc

    async def update(self, tenant: str, a: Appointment) -> None:
        try:
            await self.conn.execute(
                "UPDATE appointments SET ep_id = $3, status = $4, starts_at = $5, ends_at = $6,"
                " academic_year = $7, reason = $8 WHERE tenant = $1 AND appointment_id = $2",
                tenant,
                a.appointment_id,
                a.ep_id,
                str(a.status),
                a.starts_at,
                a.ends_at,
                academic_year_of(london_date(a.starts_at)),
                a.reason,
            )
        except asyncpg.ExclusionViolationError as exc:
            raise Conflict(
                f"EP {a.ep_id} is already booked at that time", field="starts_at"
            ) from exc

    async def get(self, tenant: str, appointment_id: uuid.UUID) -> Appointment | None:
        row = await self.conn.fetchrow(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments"
            " WHERE tenant = $1 AND appointment_id = $2 FOR UPDATE",
            tenant,
            appointment_id,
        )
        return _appointment(row) if row else None

    async def for_request(self, tenant: str, request_id: uuid.UUID) -> Appointment | None:
        row = await self.conn.fetchrow(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments"
            " WHERE tenant = $1 AND request_id = $2",
            tenant,
            request_id,
        )
        return _appointment(row) if row else None

    async def diaries(
        self, tenant: str, ep_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Appointment]]:
        """Each EP's appointments that occupy time overlapping [start, end)."""
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND ep_id = ANY($2::text[]) AND status <> 'cancelled'"
            " AND starts_at < $4 AND ends_at > $3 ORDER BY starts_at",
            tenant,
            list(ep_ids),
            start,
            end,
        )
        found: dict[str, list[Appointment]] = {ep_id: [] for ep_id in ep_ids}
        for row in rows:
            found[row["ep_id"]].append(_appointment(row))
        return found

    async def used_minutes(
        self, tenant: str, school_urn: str, academic_year: int
    ) -> tuple[int, int]:
        """(core, traded) minutes booked or delivered for a school in a year."""
        row = await self.conn.fetchrow(
            "SELECT coalesce(sum(extract(epoch FROM ends_at - starts_at) / 60)"
            "   FILTER (WHERE funding_stream = 'core'), 0)::int AS core,"
            " coalesce(sum(extract(epoch FROM ends_at - starts_at) / 60)"
            "   FILTER (WHERE funding_stream = 'traded'), 0)::int AS traded"
            " FROM appointments WHERE tenant = $1 AND school_urn = $2 AND academic_year = $3"
            " AND status <> 'cancelled'",
            tenant,
            school_urn,
            academic_year,
        )
        assert row is not None
        return int(row["core"]), int(row["traded"])

    async def future_for_advice(
        self, tenant: str, advice_id: uuid.UUID, after: datetime
    ) -> list[Appointment]:
        """Booked appointments for a statutory advice request, from ``after`` (locked)."""
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND advice_id = $2 AND status = 'booked' AND starts_at >= $3"
            " ORDER BY starts_at FOR UPDATE",
            tenant,
            advice_id,
            after,
        )
        return [_appointment(r) for r in rows]

    async def future_for_consent(
        self, tenant: str, referral_id: uuid.UUID, child_id: uuid.UUID, after: datetime
    ) -> list[Appointment]:
        """Booked appointments of the referral, or of the child with no referral, from ``after``."""
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND status = 'booked' AND starts_at >= $4"
            " AND (referral_id = $2 OR (referral_id IS NULL AND child_id = $3))"
            " ORDER BY starts_at FOR UPDATE",
            tenant,
            referral_id,
            child_id,
            after,
        )
        return [_appointment(r) for r in rows]

    async def school_appointments_from(
        self, tenant: str, school_urn: str, kinds: Collection[AppointmentKind], start: datetime
    ) -> list[Appointment]:
        """The school's booked appointments of ``kinds`` starting at ``start`` or later, locked."""
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND school_urn = $2 AND status = 'booked' AND kind = ANY($3::text[])"
            " AND starts_at >= $4 ORDER BY starts_at, appointment_id FOR UPDATE",
            tenant,
            school_urn,
            sorted(str(k) for k in kinds),
            start,
        )
        return [_appointment(r) for r in rows]

    async def view(
        self,
        tenant: str,
        *,
        ep_id: str | None,
        school_urn: str | None,
        start: datetime,
        end: datetime,
    ) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT appointment_id, ep_id, kind, status, starts_at, ends_at, funding_stream,"
            " school_urn, referral_id, case_ref, reason FROM appointments WHERE tenant = $1"
            " AND ($2::text IS NULL OR ep_id = $2) AND ($3::text IS NULL OR school_urn = $3)"
            " AND starts_at < $5 AND ends_at > $4 ORDER BY starts_at",
            tenant,
            ep_id,
            school_urn,
            start,
            end,
        )
        return [dict(r) for r in rows]


class PlanningRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def proposed(self, tenant: str, school_urn: str, year: int) -> set[str]:
        """Terms of ``year`` whose planning meeting was already proposed for the school."""
        rows = await self.conn.fetch(
            "SELECT term FROM planning_meetings WHERE tenant = $1 AND school_urn = $2"
            " AND academic_year = $3",
            tenant,
            school_urn,
            year,
        )
        return {r["term"] for r in rows}

    async def not_placed(
        self, tenant: str, school_urn: str, year: int, term: str, at: datetime
    ) -> bool:
        """Note that a term's meeting found no slot; True the first time (it is to be told)."""
        first = await self.conn.fetchval(
            "INSERT INTO planning_not_placed (tenant, school_urn, academic_year, term, told_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            tenant,
            school_urn,
            year,
            term,
            at,
        )
        return bool(first)

    async def schools_due(self, tenant: str, year: int) -> list[str]:
        """Schools with a term of ``year`` not yet settled (proposed, or found too late)."""
        rows = await self.conn.fetch(
            "SELECT s.school_urn FROM schools s WHERE s.tenant = $1 AND (SELECT count(*)"
            " FROM planning_meetings p WHERE p.tenant = s.tenant AND p.school_urn = s.school_urn"
            " AND p.academic_year = $2) < 2 ORDER BY s.school_urn",
            tenant,
            year,
        )
        return [r["school_urn"] for r in rows]

    async def add(
        self,
        tenant: str,
        school_urn: str,
        year: int,
        term: str,
        appointment_id: uuid.UUID | None,
    ) -> None:
        """Settle a term: its meeting, or None when it was too late to propose one."""
        await self.conn.execute(
            "INSERT INTO planning_meetings (tenant, school_urn, academic_year, term,"
            " appointment_id) VALUES ($1, $2, $3, $4, $5)",
            tenant,
            school_urn,
            year,
            term,
            appointment_id,
        )


class DeliveryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, tenant: str, d: Delivery) -> None:
        try:
            await self.conn.execute(
                "INSERT INTO deliveries (delivery_id, tenant, appointment_id, school_urn,"
                " referral_id, ep_id, activity, minutes, delivered_on, funding_stream)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                d.delivery_id,
                tenant,
                d.appointment_id,
                d.school_urn,
                d.referral_id,
                d.ep_id,
                str(d.activity),
                d.minutes,
                d.delivered_on,
                str(d.funding_stream),
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("time was already logged for this appointment") from exc

    async def get(self, tenant: str, delivery_id: uuid.UUID) -> Delivery | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM deliveries WHERE tenant = $1 AND delivery_id = $2 FOR UPDATE",
            tenant,
            delivery_id,
        )
        if row is None:
            return None
        return Delivery(
            delivery_id=row["delivery_id"],
            appointment_id=row["appointment_id"],
            school_urn=row["school_urn"],
            referral_id=row["referral_id"],
            ep_id=row["ep_id"],
            activity=AppointmentKind(row["activity"]),
            minutes=row["minutes"],
            delivered_on=row["delivered_on"],
            funding_stream=FundingStream(row["funding_stream"]),
            voided=row["voided"],
        )

    async def update(self, tenant: str, d: Delivery) -> None:
        await self.conn.execute(
            "UPDATE deliveries SET minutes = $3, funding_stream = $4, voided = $5"
            " WHERE tenant = $1 AND delivery_id = $2",
            tenant,
            d.delivery_id,
            d.minutes,
            str(d.funding_stream),
            d.voided,
        )

    async def add_correction(
        self,
        tenant: str,
        delivery_id: uuid.UUID,
        correction_id: uuid.UUID,
        minutes: int,
        funding: FundingStream,
        reason: str,
    ) -> bool:
        status = await self.conn.execute(
            "INSERT INTO delivery_corrections (correction_id, tenant, delivery_id, minutes,"
            " funding_stream, reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            correction_id,
            tenant,
            delivery_id,
            minutes,
            str(funding),
            reason,
        )
        return bool(status.endswith(" 1"))


class ReadModelRepository:
    """What scheduling keeps of other contexts' events: consent, referrals, advice requests."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record_consent(
        self, tenant: str, referral_id: uuid.UUID, child_id: uuid.UUID, valid: bool, at: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO consent_status (tenant, referral_id, child_id, involvement_valid,"
            " changed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, referral_id)"
            " DO UPDATE SET child_id = excluded.child_id,"
            " involvement_valid = excluded.involvement_valid, changed_at = excluded.changed_at"
            " WHERE consent_status.changed_at <= excluded.changed_at",
            tenant,
            referral_id,
            child_id,
            valid,
            at,
        )

    async def consent_valid(
        self, tenant: str, referral_id: uuid.UUID | None, child_id: uuid.UUID | None
    ) -> bool:
        """Valid involvement consent for the referral, or (no referral) for one of the child's.

        The rows are share-locked: a withdrawal arriving meanwhile waits for this booking to
        commit, and then finds (and cancels) the appointment.
        """
        rows = await self.conn.fetch(
            "SELECT involvement_valid FROM consent_status WHERE tenant = $1"
            " AND (($2::uuid IS NOT NULL AND referral_id = $2)"
            "   OR ($2::uuid IS NULL AND child_id = $3)) FOR SHARE",
            tenant,
            referral_id,
            child_id,
        )
        return any(r["involvement_valid"] for r in rows)

    async def record_referral(
        self, tenant: str, referral_id: uuid.UUID, child_id: uuid.UUID, school_urn: str | None
    ) -> None:
        await self.conn.execute(
            "INSERT INTO referrals (tenant, referral_id, child_id, school_urn)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            tenant,
            referral_id,
            child_id,
            school_urn,
        )

    async def referral(
        self, tenant: str, referral_id: uuid.UUID
    ) -> tuple[uuid.UUID, str | None] | None:
        row = await self.conn.fetchrow(
            "SELECT child_id, school_urn FROM referrals WHERE tenant = $1 AND referral_id = $2",
            tenant,
            referral_id,
        )
        return (row["child_id"], row["school_urn"]) if row else None

    async def record_advice(
        self, tenant: str, advice_id: uuid.UUID, status: str, at: datetime
    ) -> None:
        """An advice request's state; a closed one never reopens (its events may overtake)."""
        await self.conn.execute(
            "INSERT INTO advice_requests (tenant, advice_id, status, changed_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, advice_id) DO UPDATE"
            " SET status = excluded.status, changed_at = excluded.changed_at"
            " WHERE advice_requests.status = 'open'",
            tenant,
            advice_id,
            status,
            at,
        )

    async def advice_status(self, tenant: str, advice_id: uuid.UUID) -> str | None:
        """The advice request's state (share-locked, as consent is: a withdrawal arriving
        meanwhile waits for this booking and then cancels it); None when not known yet."""
        value = await self.conn.fetchval(
            "SELECT status FROM advice_requests WHERE tenant = $1 AND advice_id = $2 FOR SHARE",
            tenant,
            advice_id,
        )
        return value if isinstance(value, str) else None


class FastTrackRepository:
    """Answers given to fast-track requests, one per (incident, attempt)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def answer(self, tenant: str, incident_id: uuid.UUID, attempt: int = 1) -> str | None:
        value = await self.conn.fetchval(
            "SELECT answer::text FROM fast_track_allocations"
            " WHERE tenant = $1 AND incident_id = $2 AND attempt = $3",
            tenant,
            incident_id,
            attempt,
        )
        return value if isinstance(value, str) else None

    async def allocated_ep_ids(self, tenant: str, incident_id: uuid.UUID) -> set[str]:
        """The EPs every earlier answer for the incident sent (never to be booked twice)."""
        rows = await self.conn.fetch(
            "SELECT DISTINCT ep->>'ep_id' FROM fast_track_allocations,"
            " jsonb_array_elements(answer->'eps') AS ep WHERE tenant = $1 AND incident_id = $2",
            tenant,
            incident_id,
        )
        return {r[0] for r in rows}

    async def save_answer(
        self, tenant: str, incident_id: uuid.UUID, attempt: int, answer_json: str
    ) -> None:
        await self.conn.execute(
            "INSERT INTO fast_track_allocations (tenant, incident_id, attempt, answer)"
            " VALUES ($1, $2, $3, $4)",
            tenant,
            incident_id,
            attempt,
            answer_json,
        )
