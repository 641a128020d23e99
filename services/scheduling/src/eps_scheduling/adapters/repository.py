"""Persistence of the scheduling service in its own schema.

Each repository is an abstract port (what the service layer needs) and its PostgreSQL adapter,
bound to one unit of work: its transaction and its local authority, so no method takes a tenant.
Appointments and deliveries loaded or added are tracked by the unit of work, which publishes
the events they record when it commits. Tests use in-memory fakes
(``tests/support/fakes/scheduling.py``).
"""

from __future__ import annotations

import abc
import functools
import json
import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime

import asyncpg
from eps_chassis.errors import Conflict
from eps_chassis.london import academic_year_of, london_date
from eps_chassis.subject_access import changed
from eps_chassis.unit_of_work import PostgresRepository, PostgresUnitOfWork
from eps_contracts.scheduling import AppointmentKind, FundingStream

from eps_scheduling.domain.delivery import Delivery
from eps_scheduling.domain.model import (
    Appointment,
    AppointmentStatus,
    BookingRule,
    Ep,
    EpRole,
    GeoPoint,
    Policy,
    School,
    SchoolAllowance,
    WorkingHours,
    WorkingPattern,
)

# --- ports ----------------------------------------------------------------------------------


class PolicyRepository(abc.ABC):
    """The local authority's scheduling figures."""

    @abc.abstractmethod
    async def get(self) -> Policy:
        """Its policy, or the defaults when it has set none."""

    @abc.abstractmethod
    async def set(self, policy: Policy) -> None: ...


class StaffRepository(abc.ABC):
    """EPs and schools (reference data), and each school's time: core allocations, traded time
    bought outside billing and SLAs bought in billing."""

    @abc.abstractmethod
    async def save_ep(self, ep: Ep) -> None: ...

    @abc.abstractmethod
    async def get_ep(self, ep_id: str) -> Ep | None: ...

    @abc.abstractmethod
    async def lock_eps(self, ep_ids: Sequence[str]) -> list[Ep]:
        """The EPs known among ``ep_ids``, their diaries locked for this transaction (in id
        order, so two lockers never deadlock), in id order."""

    @abc.abstractmethod
    async def list_eps(self) -> list[Ep]:
        """Every EP, in id order."""

    @abc.abstractmethod
    async def get_school(self, school_urn: str) -> School | None: ...

    @abc.abstractmethod
    async def lock_school(self, school_urn: str) -> str | None:
        """Lock a school's row before its EPs'; returns its named EP (None for a new school)."""

    @abc.abstractmethod
    async def save_school(self, school: School, named_from: date) -> None:
        """Create or update a school; ``named_from`` is kept only when the named EP changes."""

    @abc.abstractmethod
    async def set_core_allocation(
        self, school_urn: str, academic_year: int, core_minutes: int
    ) -> None: ...

    @abc.abstractmethod
    async def add_traded_time(
        self, purchase_id: uuid.UUID, school_urn: str, academic_year: int, minutes: int
    ) -> bool:
        """Record time bought outside billing once (by its id); False when already recorded."""

    @abc.abstractmethod
    async def set_agreement(
        self, agreement_id: uuid.UUID, school_urn: str, academic_year: int, minutes: int
    ) -> None:
        """An SLA bought in billing: its traded minutes, always billing's latest."""

    @abc.abstractmethod
    async def remove_agreement(self, agreement_id: uuid.UUID) -> None: ...

    @abc.abstractmethod
    async def allowance(self, school_urn: str, academic_year: int) -> SchoolAllowance:
        """The school's core and traded minutes for a year (0 where none)."""

    @abc.abstractmethod
    async def lock_school_year(self, school_urn: str, academic_year: int) -> None:
        """Serialise bookings that draw on one school's allowance for one year."""


class AppointmentRepository(abc.ABC):
    """Appointments in EPs' diaries. Every appointment loaded or added is tracked."""

    @abc.abstractmethod
    async def add(self, appointment: Appointment) -> None:
        """Insert one; a refused insert (Conflict: the EP is booked then) leaves the
        transaction usable."""

    @abc.abstractmethod
    async def add_all(self, appointments: Sequence[Appointment]) -> None:
        """Insert several at once, for a caller that gives up its transaction on a Conflict."""

    @abc.abstractmethod
    async def update(self, appointment: Appointment) -> None:
        """Keep a changed appointment (Conflict when it now overlaps another of its EP's)."""

    @abc.abstractmethod
    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        """An appointment, locked for this transaction."""

    @abc.abstractmethod
    async def for_request(self, request_id: uuid.UUID) -> Appointment | None:
        """The appointment booked for another service's request, if any."""

    @abc.abstractmethod
    async def diaries(
        self, ep_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Appointment]]:
        """Each EP's appointments that occupy time overlapping [start, end), by start."""

    @abc.abstractmethod
    async def used_minutes(self, school_urn: str, academic_year: int) -> tuple[int, int]:
        """(core, traded) minutes booked or delivered for a school in a year."""

    @abc.abstractmethod
    async def future_for_advice(self, advice_id: uuid.UUID, after: datetime) -> list[Appointment]:
        """Booked appointments for a statutory advice request, from ``after`` (locked)."""

    @abc.abstractmethod
    async def future_for_consent(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, after: datetime
    ) -> list[Appointment]:
        """Booked appointments of the referral, or of the child with no referral, from
        ``after`` (locked)."""

    @abc.abstractmethod
    async def school_appointments_from(
        self, school_urn: str, kinds: Collection[AppointmentKind], start: datetime
    ) -> list[Appointment]:
        """The school's booked appointments of ``kinds`` starting at ``start`` or later, locked,
        by start."""


class PlanningRepository(abc.ABC):
    """Which terms' planning meetings are settled for each school and year."""

    @abc.abstractmethod
    async def proposed(self, school_urn: str, academic_year: int) -> set[str]:
        """Terms of the year whose planning meeting was already settled for the school."""

    @abc.abstractmethod
    async def not_placed(
        self, school_urn: str, academic_year: int, term: str, at: datetime
    ) -> bool:
        """Note that a term's meeting found no slot; True the first time (it is to be told)."""

    @abc.abstractmethod
    async def schools_due(self, academic_year: int) -> list[str]:
        """Schools with a term of the year not yet settled (proposed, or found too late)."""

    @abc.abstractmethod
    async def add(
        self, school_urn: str, academic_year: int, term: str, appointment_id: uuid.UUID | None
    ) -> None:
        """Settle a term: its meeting, or None when it was too late to propose one."""


class DeliveryRepository(abc.ABC):
    """Time delivered at completed appointments. Every delivery loaded or added is tracked."""

    @abc.abstractmethod
    async def add(self, delivery: Delivery) -> None:
        """Keep a new delivery (Conflict when its appointment's time was already logged)."""

    @abc.abstractmethod
    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        """A delivery, locked for this transaction."""

    @abc.abstractmethod
    async def update(self, delivery: Delivery) -> None: ...

    @abc.abstractmethod
    async def add_correction(
        self,
        delivery_id: uuid.UUID,
        correction_id: uuid.UUID,
        minutes: int,
        funding_stream: FundingStream,
        reason: str,
    ) -> bool:
        """Record a correction once (by its id); False when it was already recorded."""


class ReadModelRepository(abc.ABC):
    """What scheduling keeps of other contexts' events: consent, referrals, advice requests."""

    @abc.abstractmethod
    async def record_consent(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, valid: bool, at: datetime
    ) -> None:
        """A referral's consent to involvement as of ``at`` (an older change never wins)."""

    @abc.abstractmethod
    async def consent_valid(
        self, referral_id: uuid.UUID | None, child_id: uuid.UUID | None
    ) -> bool:
        """Valid involvement consent for the referral, or (no referral) for one of the child's.

        What it read stays as read until the transaction ends: a withdrawal arriving meanwhile
        waits for this booking to commit, and then finds (and cancels) the appointment."""

    @abc.abstractmethod
    async def record_referral(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, school_urn: str | None
    ) -> None:
        """A referral received (once)."""

    @abc.abstractmethod
    async def referral(self, referral_id: uuid.UUID) -> tuple[uuid.UUID, str | None] | None:
        """The referral's child and school, when it is known."""

    @abc.abstractmethod
    async def record_advice(self, advice_id: uuid.UUID, status: str, at: datetime) -> None:
        """An advice request's state; a closed one never reopens (its events may overtake)."""

    @abc.abstractmethod
    async def advice_status(self, advice_id: uuid.UUID) -> str | None:
        """The advice request's state, held as read until the transaction ends (as consent
        is); None when not known yet."""


class FastTrackRepository(abc.ABC):
    """Answers given to fast-track requests, one per (incident, attempt)."""

    @abc.abstractmethod
    async def answer(self, incident_id: uuid.UUID, attempt: int = 1) -> str | None:
        """The answer given to that attempt (as JSON), if any."""

    @abc.abstractmethod
    async def allocated_ep_ids(self, incident_id: uuid.UUID) -> set[str]:
        """The EPs every earlier answer for the incident sent (never to be booked twice)."""

    @abc.abstractmethod
    async def save_answer(self, incident_id: uuid.UUID, attempt: int, answer_json: str) -> None: ...


async def tenants_with_schools(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with a school registered (the planning job's round; whether a school
    is due depends on each LA's own policy, so that is asked in its own unit of work)."""
    rows = await conn.fetch("SELECT DISTINCT tenant FROM schools ORDER BY tenant")
    return [r["tenant"] for r in rows]


# --- PostgreSQL adapters --------------------------------------------------------------------

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


def _term(raw: str) -> tuple[tuple[int, int], tuple[int, int]]:
    (sm, sd), (em, ed) = json.loads(raw)
    return (int(sm), int(sd)), (int(em), int(ed))


class PostgresPolicyRepository(PolicyRepository, PostgresRepository):
    async def get(self) -> Policy:
        row = await self.conn.fetchrow("SELECT * FROM policies WHERE tenant = $1", self.tenant)
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
            booking_rule=BookingRule(row["booking_rule"]),
            statutory_share_percent=row["statutory_share_percent"],
        )

    async def set(self, policy: Policy) -> None:
        await self.conn.execute(
            "INSERT INTO policies (tenant, travel_buffer_minutes, slot_step_minutes,"
            " fast_track_step_minutes, planning_meeting_minutes, reschedule_horizon_days,"
            " autumn_term, spring_term, planning_notice_days, booking_rule,"
            " statutory_share_percent)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (tenant) DO UPDATE SET"
            " travel_buffer_minutes = excluded.travel_buffer_minutes,"
            " slot_step_minutes = excluded.slot_step_minutes,"
            " fast_track_step_minutes = excluded.fast_track_step_minutes,"
            " planning_meeting_minutes = excluded.planning_meeting_minutes,"
            " reschedule_horizon_days = excluded.reschedule_horizon_days,"
            " autumn_term = excluded.autumn_term, spring_term = excluded.spring_term,"
            " planning_notice_days = excluded.planning_notice_days,"
            " booking_rule = excluded.booking_rule,"
            " statutory_share_percent = excluded.statutory_share_percent",
            self.tenant,
            policy.travel_buffer_minutes,
            policy.slot_step_minutes,
            policy.fast_track_step_minutes,
            policy.planning_meeting_minutes,
            policy.reschedule_horizon_days,
            json.dumps(policy.autumn_term),
            json.dumps(policy.spring_term),
            policy.planning_notice_days,
            str(policy.booking_rule),
            policy.statutory_share_percent,
        )


class PostgresStaffRepository(StaffRepository, PostgresRepository):
    async def save_ep(self, ep: Ep) -> None:
        await self.conn.execute(
            "INSERT INTO eps (tenant, ep_id, role, working_pattern, weekly_capacity_minutes,"
            " base_latitude, base_longitude, on_rota, active)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (tenant, ep_id) DO UPDATE SET role = excluded.role,"
            " working_pattern = excluded.working_pattern,"
            " weekly_capacity_minutes = excluded.weekly_capacity_minutes,"
            " base_latitude = excluded.base_latitude, base_longitude = excluded.base_longitude,"
            " on_rota = excluded.on_rota, active = excluded.active",
            self.tenant,
            ep.ep_id,
            str(ep.role),
            pattern_to_json(ep.pattern),
            ep.weekly_capacity_minutes,
            ep.base.latitude,
            ep.base.longitude,
            ep.on_rota,
            ep.active,
        )

    async def get_ep(self, ep_id: str) -> Ep | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM eps WHERE tenant = $1 AND ep_id = $2", self.tenant, ep_id
        )
        return _ep(row) if row else None

    async def lock_eps(self, ep_ids: Sequence[str]) -> list[Ep]:
        rows = await self.conn.fetch(
            "SELECT * FROM eps WHERE tenant = $1 AND ep_id = ANY($2::text[])"
            " ORDER BY ep_id FOR UPDATE",
            self.tenant,
            sorted(set(ep_ids)),
        )
        return [_ep(r) for r in rows]

    async def list_eps(self) -> list[Ep]:
        rows = await self.conn.fetch(
            "SELECT * FROM eps WHERE tenant = $1 ORDER BY ep_id", self.tenant
        )
        return [_ep(r) for r in rows]

    async def get_school(self, school_urn: str) -> School | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, school_urn, latitude, longitude, named_ep_id FROM schools"
            " WHERE school_urn = $1",
            school_urn,
        )
        row = self.owned(row, "school", school_urn, field="school_urn")
        if row is None:
            return None
        return School(
            row["school_urn"], GeoPoint(row["latitude"], row["longitude"]), row["named_ep_id"]
        )

    async def lock_school(self, school_urn: str) -> str | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, named_ep_id FROM schools WHERE school_urn = $1 FOR UPDATE", school_urn
        )
        row = self.owned(row, "school", school_urn, field="school_urn")
        return row["named_ep_id"] if row is not None else None

    async def save_school(self, school: School, named_from: date) -> None:
        await self.conn.execute(
            "INSERT INTO schools (tenant, school_urn, latitude, longitude, named_ep_id,"
            " named_ep_from) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (tenant, school_urn) DO UPDATE SET latitude = excluded.latitude,"
            " longitude = excluded.longitude, named_ep_id = excluded.named_ep_id,"
            " named_ep_from = CASE WHEN schools.named_ep_id = excluded.named_ep_id"
            " THEN schools.named_ep_from ELSE excluded.named_ep_from END",
            self.tenant,
            school.school_urn,
            school.location.latitude,
            school.location.longitude,
            school.named_ep_id,
            named_from,
        )

    async def set_core_allocation(
        self, school_urn: str, academic_year: int, core_minutes: int
    ) -> None:
        await self.conn.execute(
            "INSERT INTO core_allocations (tenant, school_urn, academic_year, core_minutes)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, school_urn, academic_year)"
            " DO UPDATE SET core_minutes = excluded.core_minutes",
            self.tenant,
            school_urn,
            academic_year,
            core_minutes,
        )

    async def add_traded_time(
        self, purchase_id: uuid.UUID, school_urn: str, academic_year: int, minutes: int
    ) -> bool:
        status = await self.conn.execute(
            "INSERT INTO traded_purchases (tenant, purchase_id, school_urn, academic_year, minutes)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            self.tenant,
            purchase_id,
            school_urn,
            academic_year,
            minutes,
        )
        return bool(status.endswith(" 1"))

    async def set_agreement(
        self, agreement_id: uuid.UUID, school_urn: str, academic_year: int, minutes: int
    ) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO traded_purchases"
            " (tenant, purchase_id, school_urn, academic_year, minutes, source)"
            " VALUES ($1, $2, $3, $4, $5, 'billing_sla') ON CONFLICT (purchase_id)"
            " DO UPDATE SET school_urn = excluded.school_urn,"
            " academic_year = excluded.academic_year, minutes = excluded.minutes"
            " WHERE traded_purchases.source = 'billing_sla'"
            " AND traded_purchases.tenant = excluded.tenant RETURNING true",
            self.tenant,
            agreement_id,
            school_urn,
            academic_year,
            minutes,
        )
        if not kept:  # a purchase made here outside billing keeps its own terms
            await self.refuse_anothers(
                "traded_purchases", "purchase_id", agreement_id, "agreement", "agreement_id"
            )

    async def remove_agreement(self, agreement_id: uuid.UUID) -> None:
        another = await self.conn.fetchval(
            "WITH gone AS (DELETE FROM traded_purchases WHERE tenant = $1 AND purchase_id = $2"
            " AND source = 'billing_sla') SELECT EXISTS (SELECT 1 FROM traded_purchases"
            " WHERE purchase_id = $2 AND tenant <> $1)",
            self.tenant,
            agreement_id,
        )
        self.kept(not another, "agreement", agreement_id, field="agreement_id")

    async def allowance(self, school_urn: str, academic_year: int) -> SchoolAllowance:
        row = await self.conn.fetchrow(
            "SELECT (SELECT core_minutes FROM core_allocations WHERE tenant = $1"
            "   AND school_urn = $2 AND academic_year = $3) AS core,"
            " (SELECT sum(minutes) FROM traded_purchases WHERE tenant = $1 AND school_urn = $2"
            "   AND academic_year = $3) AS traded",
            self.tenant,
            school_urn,
            academic_year,
        )
        assert row is not None
        return SchoolAllowance(int(row["core"] or 0), int(row["traded"] or 0))

    async def lock_school_year(self, school_urn: str, academic_year: int) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"allowance:{self.tenant}:{school_urn}:{academic_year}",
        )


class PostgresAppointmentRepository(AppointmentRepository, PostgresRepository):
    async def add(self, appointment: Appointment) -> None:
        async with self.conn.transaction():  # a savepoint
            await self.add_all([appointment])

    async def add_all(self, appointments: Sequence[Appointment]) -> None:
        try:
            await self.conn.executemany(
                "INSERT INTO appointments (appointment_id, tenant, ep_id, kind, status, starts_at,"
                " ends_at, funding_stream, place, school_urn, academic_year, referral_id,"
                " child_id, case_ref, request_id, reason, advice_id) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                [
                    (
                        a.appointment_id,
                        self.tenant,
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
        for appointment in appointments:
            self.uow.track(appointment)

    async def update(self, appointment: Appointment) -> None:
        a = appointment
        try:
            await self.conn.execute(
                "UPDATE appointments SET ep_id = $3, status = $4, starts_at = $5, ends_at = $6,"
                " academic_year = $7, reason = $8 WHERE tenant = $1 AND appointment_id = $2",
                self.tenant,
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

    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        row = await self.conn.fetchrow(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments"
            " WHERE tenant = $1 AND appointment_id = $2 FOR UPDATE",
            self.tenant,
            appointment_id,
        )
        return self._tracked(row) if row else None

    async def for_request(self, request_id: uuid.UUID) -> Appointment | None:
        row = await self.conn.fetchrow(
            f"SELECT tenant, {_APPOINTMENT_COLUMNS} FROM appointments WHERE request_id = $1",
            request_id,
        )
        row = self.owned(row, "booking request", request_id, field="request_id")
        return self._tracked(row) if row else None

    async def diaries(
        self, ep_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Appointment]]:
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND ep_id = ANY($2::text[]) AND status <> 'cancelled'"
            " AND starts_at < $4 AND ends_at > $3 ORDER BY starts_at",
            self.tenant,
            list(ep_ids),
            start,
            end,
        )
        found: dict[str, list[Appointment]] = {ep_id: [] for ep_id in ep_ids}
        for row in rows:
            found[row["ep_id"]].append(self._tracked(row))
        return found

    async def used_minutes(self, school_urn: str, academic_year: int) -> tuple[int, int]:
        row = await self.conn.fetchrow(
            "SELECT coalesce(sum(extract(epoch FROM ends_at - starts_at) / 60)"
            "   FILTER (WHERE funding_stream = 'core'), 0)::int AS core,"
            " coalesce(sum(extract(epoch FROM ends_at - starts_at) / 60)"
            "   FILTER (WHERE funding_stream = 'traded'), 0)::int AS traded"
            " FROM appointments WHERE tenant = $1 AND school_urn = $2 AND academic_year = $3"
            " AND status <> 'cancelled'",
            self.tenant,
            school_urn,
            academic_year,
        )
        assert row is not None
        return int(row["core"]), int(row["traded"])

    async def future_for_advice(self, advice_id: uuid.UUID, after: datetime) -> list[Appointment]:
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND advice_id = $2 AND status = 'booked' AND starts_at >= $3"
            " ORDER BY starts_at FOR UPDATE",
            self.tenant,
            advice_id,
            after,
        )
        return [self._tracked(r) for r in rows]

    async def future_for_consent(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, after: datetime
    ) -> list[Appointment]:
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND status = 'booked' AND starts_at >= $4"
            " AND (referral_id = $2 OR (referral_id IS NULL AND child_id = $3))"
            " ORDER BY starts_at FOR UPDATE",
            self.tenant,
            referral_id,
            child_id,
            after,
        )
        return [self._tracked(r) for r in rows]

    async def school_appointments_from(
        self, school_urn: str, kinds: Collection[AppointmentKind], start: datetime
    ) -> list[Appointment]:
        rows = await self.conn.fetch(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE tenant = $1"
            " AND school_urn = $2 AND status = 'booked' AND kind = ANY($3::text[])"
            " AND starts_at >= $4 ORDER BY starts_at, appointment_id FOR UPDATE",
            self.tenant,
            school_urn,
            sorted(str(k) for k in kinds),
            start,
        )
        return [self._tracked(r) for r in rows]

    def _tracked(self, row: asyncpg.Record) -> Appointment:
        return self.uow.track(_appointment(row))


class PostgresPlanningRepository(PlanningRepository, PostgresRepository):
    async def proposed(self, school_urn: str, academic_year: int) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT term FROM planning_meetings WHERE tenant = $1 AND school_urn = $2"
            " AND academic_year = $3",
            self.tenant,
            school_urn,
            academic_year,
        )
        return {r["term"] for r in rows}

    async def not_placed(
        self, school_urn: str, academic_year: int, term: str, at: datetime
    ) -> bool:
        first = await self.conn.fetchval(
            "INSERT INTO planning_not_placed (tenant, school_urn, academic_year, term, told_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            self.tenant,
            school_urn,
            academic_year,
            term,
            at,
        )
        return bool(first)

    async def schools_due(self, academic_year: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT s.school_urn FROM schools s WHERE s.tenant = $1 AND (SELECT count(*)"
            " FROM planning_meetings p WHERE p.tenant = s.tenant AND p.school_urn = s.school_urn"
            " AND p.academic_year = $2) < 2 ORDER BY s.school_urn",
            self.tenant,
            academic_year,
        )
        return [r["school_urn"] for r in rows]

    async def add(
        self, school_urn: str, academic_year: int, term: str, appointment_id: uuid.UUID | None
    ) -> None:
        await self.conn.execute(
            "INSERT INTO planning_meetings (tenant, school_urn, academic_year, term,"
            " appointment_id) VALUES ($1, $2, $3, $4, $5)",
            self.tenant,
            school_urn,
            academic_year,
            term,
            appointment_id,
        )


class PostgresDeliveryRepository(DeliveryRepository, PostgresRepository):
    async def add(self, delivery: Delivery) -> None:
        d = delivery
        try:
            await self.conn.execute(
                "INSERT INTO deliveries (delivery_id, tenant, appointment_id, school_urn,"
                " referral_id, ep_id, activity, minutes, delivered_on, funding_stream)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                d.delivery_id,
                self.tenant,
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
        self.uow.track(delivery)

    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM deliveries WHERE tenant = $1 AND delivery_id = $2 FOR UPDATE",
            self.tenant,
            delivery_id,
        )
        if row is None:
            return None
        delivery = Delivery(
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
        return self.uow.track(delivery)

    async def update(self, delivery: Delivery) -> None:
        await self.conn.execute(
            "UPDATE deliveries SET minutes = $3, funding_stream = $4, voided = $5"
            " WHERE tenant = $1 AND delivery_id = $2",
            self.tenant,
            delivery.delivery_id,
            delivery.minutes,
            str(delivery.funding_stream),
            delivery.voided,
        )

    async def add_correction(
        self,
        delivery_id: uuid.UUID,
        correction_id: uuid.UUID,
        minutes: int,
        funding_stream: FundingStream,
        reason: str,
    ) -> bool:
        status = await self.conn.execute(
            "INSERT INTO delivery_corrections (correction_id, tenant, delivery_id, minutes,"
            " funding_stream, reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            correction_id,
            self.tenant,
            delivery_id,
            minutes,
            str(funding_stream),
            reason,
        )
        return bool(status.endswith(" 1"))


class PostgresReadModelRepository(ReadModelRepository, PostgresRepository):
    async def record_consent(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, valid: bool, at: datetime
    ) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO consent_status (tenant, referral_id, child_id, involvement_valid,"
            " changed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (referral_id)"
            " DO UPDATE SET child_id = excluded.child_id,"
            " involvement_valid = excluded.involvement_valid, changed_at = excluded.changed_at"
            " WHERE consent_status.changed_at <= excluded.changed_at"
            " AND consent_status.tenant = excluded.tenant RETURNING true",
            self.tenant,
            referral_id,
            child_id,
            valid,
            at,
        )
        if not kept:  # an older change than the one kept, or another authority's referral
            await self.refuse_anothers("consent_status", "referral_id", referral_id, "referral")

    async def consent_valid(
        self, referral_id: uuid.UUID | None, child_id: uuid.UUID | None
    ) -> bool:
        # share-locked: a withdrawal waits for this booking's transaction
        rows = await self.conn.fetch(
            "SELECT involvement_valid FROM consent_status WHERE tenant = $1"
            " AND (($2::uuid IS NOT NULL AND referral_id = $2)"
            "   OR ($2::uuid IS NULL AND child_id = $3)) FOR SHARE",
            self.tenant,
            referral_id,
            child_id,
        )
        return any(r["involvement_valid"] for r in rows)

    async def record_referral(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, school_urn: str | None
    ) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO referrals (tenant, referral_id, child_id, school_urn)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            self.tenant,
            referral_id,
            child_id,
            school_urn,
        )
        if not kept:  # told before: by this authority, or by another
            await self.refuse_anothers("referrals", "referral_id", referral_id, "referral")

    async def referral(self, referral_id: uuid.UUID) -> tuple[uuid.UUID, str | None] | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, child_id, school_urn FROM referrals WHERE referral_id = $1",
            referral_id,
        )
        row = self.owned(row, "referral", referral_id, field="referral_id")
        return (row["child_id"], row["school_urn"]) if row else None

    async def record_advice(self, advice_id: uuid.UUID, status: str, at: datetime) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO advice_requests (tenant, advice_id, status, changed_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (advice_id) DO UPDATE"
            " SET status = excluded.status, changed_at = excluded.changed_at"
            " WHERE advice_requests.status = 'open'"
            " AND advice_requests.tenant = excluded.tenant RETURNING true",
            self.tenant,
            advice_id,
            status,
            at,
        )
        if not kept:  # closed before, or another authority's
            await self.refuse_anothers("advice_requests", "advice_id", advice_id, "advice request")

    async def advice_status(self, advice_id: uuid.UUID) -> str | None:
        row = await self.conn.fetchrow(  # share-locked, as consent is
            "SELECT tenant, status FROM advice_requests WHERE advice_id = $1 FOR SHARE",
            advice_id,
        )
        row = self.owned(row, "advice request", advice_id, field="advice_id")
        return row["status"] if row is not None else None


class PostgresFastTrackRepository(FastTrackRepository, PostgresRepository):
    async def answer(self, incident_id: uuid.UUID, attempt: int = 1) -> str | None:
        row = await self.conn.fetchrow(  # this attempt's answer, else any of the incident's
            "SELECT tenant, attempt, answer::text AS answer FROM fast_track_allocations"
            " WHERE incident_id = $1 ORDER BY attempt = $2 DESC LIMIT 1",
            incident_id,
            attempt,
        )
        row = self.owned(row, "incident", incident_id, field="incident_id")
        return row["answer"] if row is not None and row["attempt"] == attempt else None

    async def allocated_ep_ids(self, incident_id: uuid.UUID) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT ep->>'ep_id' FROM fast_track_allocations,"
            " jsonb_array_elements(answer->'eps') AS ep WHERE tenant = $1 AND incident_id = $2",
            self.tenant,
            incident_id,
        )
        return {r[0] for r in rows}

    async def save_answer(self, incident_id: uuid.UUID, attempt: int, answer_json: str) -> None:
        await self.conn.execute(
            "INSERT INTO fast_track_allocations (tenant, incident_id, attempt, answer)"
            " VALUES ($1, $2, $3, $4)",
            self.tenant,
            incident_id,
            attempt,
            answer_json,
        )


async def erase_child(uow: PostgresUnitOfWork, child_id: uuid.UUID) -> int:
    """The child's retention has ended: their appointments stay (an EP's diary, delivered time
    and its invoices are counted from them) but no longer name the child, their referral, case
    or the reason given; the read models of their referrals and consent go."""
    referrals = "SELECT referral_id FROM referrals WHERE tenant = $1 AND child_id = $2"
    count = await changed(
        uow,
        "UPDATE appointments SET child_id = NULL, referral_id = NULL, case_ref = NULL,"
        f" reason = NULL WHERE tenant = $1 AND (child_id = $2 OR referral_id IN ({referrals}))",
        uow.tenant,
        child_id,
    )
    erased = count
    await uow.conn.execute(
        f"UPDATE deliveries SET referral_id = NULL WHERE referral_id IN ({referrals})",
        uow.tenant,
        child_id,
    )
    for table in ("consent_status", "referrals"):
        count = await changed(
            uow, f"DELETE FROM {table} WHERE tenant = $1 AND child_id = $2", uow.tenant, child_id
        )
        erased += count
    return erased
