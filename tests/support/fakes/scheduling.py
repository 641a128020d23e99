"""In-memory scheduling repositories and unit of work, behind the service's ports."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from eps_chassis.clock import Clock
from eps_chassis.errors import Conflict
from eps_chassis.london import academic_year_of, london_date
from eps_contracts.scheduling import AppointmentKind, FastTrackEpsAllocated, FundingStream
from eps_scheduling.adapters.repository import (
    AppointmentRepository,
    DeliveryRepository,
    FastTrackRepository,
    PlanningRepository,
    PolicyRepository,
    ReadModelRepository,
    StaffRepository,
)
from eps_scheduling.domain.delivery import Delivery
from eps_scheduling.domain.model import (
    Appointment,
    AppointmentStatus,
    Ep,
    Policy,
    School,
    SchoolAllowance,
)
from eps_scheduling.service_layer.unit_of_work import SchedulingUnitOfWork

from tests.support.fakes import TENANT, FakeUnitOfWork


class FakePolicyRepository(PolicyRepository):
    def __init__(self) -> None:
        self.policy: Policy | None = None

    async def get(self) -> Policy:
        return self.policy if self.policy is not None else Policy()

    async def set(self, policy: Policy) -> None:
        self.policy = policy


@dataclass
class TradedPurchase:
    school_urn: str
    academic_year: int
    minutes: int
    source: str  # "direct" (bought outside billing) or "billing_sla"


class FakeStaffRepository(StaffRepository):
    def __init__(self) -> None:
        self.eps: dict[str, Ep] = {}
        self.schools: dict[str, School] = {}
        self.named_from: dict[str, date] = {}
        self.core: dict[tuple[str, int], int] = {}
        self.traded: dict[uuid.UUID, TradedPurchase] = {}
        self.locked_eps: list[str] = []  # every EP locked, in locking order

    async def save_ep(self, ep: Ep) -> None:
        self.eps[ep.ep_id] = ep

    async def get_ep(self, ep_id: str) -> Ep | None:
        return self.eps.get(ep_id)

    async def lock_eps(self, ep_ids: Sequence[str]) -> list[Ep]:
        found = [self.eps[i] for i in sorted(set(ep_ids)) if i in self.eps]
        self.locked_eps.extend(ep.ep_id for ep in found)
        return found

    async def list_eps(self) -> list[Ep]:
        return [self.eps[i] for i in sorted(self.eps)]

    async def get_school(self, school_urn: str) -> School | None:
        return self.schools.get(school_urn)

    async def lock_school(self, school_urn: str) -> str | None:
        school = self.schools.get(school_urn)
        return school.named_ep_id if school else None

    async def save_school(self, school: School, named_from: date) -> None:
        previous = self.schools.get(school.school_urn)
        if previous is None or previous.named_ep_id != school.named_ep_id:
            self.named_from[school.school_urn] = named_from
        self.schools[school.school_urn] = school

    async def set_core_allocation(
        self, school_urn: str, academic_year: int, core_minutes: int
    ) -> None:
        self.core[(school_urn, academic_year)] = core_minutes

    async def add_traded_time(
        self, purchase_id: uuid.UUID, school_urn: str, academic_year: int, minutes: int
    ) -> bool:
        if purchase_id in self.traded:
            return False
        self.traded[purchase_id] = TradedPurchase(school_urn, academic_year, minutes, "direct")
        return True

    async def set_agreement(
        self, agreement_id: uuid.UUID, school_urn: str, academic_year: int, minutes: int
    ) -> None:
        known = self.traded.get(agreement_id)
        if known is None or known.source == "billing_sla":
            self.traded[agreement_id] = TradedPurchase(
                school_urn, academic_year, minutes, "billing_sla"
            )

    async def remove_agreement(self, agreement_id: uuid.UUID) -> None:
        known = self.traded.get(agreement_id)
        if known is not None and known.source == "billing_sla":
            del self.traded[agreement_id]

    async def allowance(self, school_urn: str, academic_year: int) -> SchoolAllowance:
        traded = sum(
            p.minutes
            for p in self.traded.values()
            if (p.school_urn, p.academic_year) == (school_urn, academic_year)
        )
        return SchoolAllowance(self.core.get((school_urn, academic_year), 0), traded)

    async def lock_school_year(self, school_urn: str, academic_year: int) -> None:
        return None  # one fake unit of work at a time: nothing to serialise


class FakeAppointmentRepository(AppointmentRepository):
    """Keeps copies, as a database does: a handler changes what it loaded, then updates."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.rows: dict[uuid.UUID, Appointment] = {}

    def _loaded(self, row: Appointment) -> Appointment:
        loaded = copy.copy(row)
        loaded.events = []
        return self.uow.track(loaded)

    def _clashes(self, a: Appointment) -> bool:
        return any(
            other.appointment_id != a.appointment_id
            and other.ep_id == a.ep_id
            and other.status is not AppointmentStatus.CANCELLED
            and a.status is not AppointmentStatus.CANCELLED
            and other.starts_at < a.ends_at
            and a.starts_at < other.ends_at
            for other in self.rows.values()
        )

    def _store(self, a: Appointment) -> Appointment:
        stored = copy.copy(a)
        stored.events = []
        return stored

    async def add(self, appointment: Appointment) -> None:
        await self.add_all([appointment])

    async def add_all(self, appointments: Sequence[Appointment]) -> None:
        for a in appointments:
            if self._clashes(a):
                raise Conflict(f"EP {a.ep_id} is already booked at that time", field="starts_at")
        for a in appointments:
            self.rows[a.appointment_id] = self._store(a)
            self.uow.track(a)

    async def update(self, appointment: Appointment) -> None:
        if self._clashes(appointment):
            raise Conflict(
                f"EP {appointment.ep_id} is already booked at that time", field="starts_at"
            )
        self.rows[appointment.appointment_id] = self._store(appointment)

    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        row = self.rows.get(appointment_id)
        return self._loaded(row) if row else None

    async def for_request(self, request_id: uuid.UUID) -> Appointment | None:
        row = next((a for a in self.rows.values() if a.request_id == request_id), None)
        return self._loaded(row) if row else None

    async def diaries(
        self, ep_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Appointment]]:
        found: dict[str, list[Appointment]] = {ep_id: [] for ep_id in ep_ids}
        for a in sorted(self.rows.values(), key=lambda a: a.starts_at):
            if (
                a.ep_id in found
                and a.status is not AppointmentStatus.CANCELLED
                and a.starts_at < end
                and a.ends_at > start
            ):
                found[a.ep_id].append(self._loaded(a))
        return found

    async def used_minutes(self, school_urn: str, academic_year: int) -> tuple[int, int]:
        used = {FundingStream.CORE: 0, FundingStream.TRADED: 0}
        for a in self.rows.values():
            if (
                a.school_urn == school_urn
                and academic_year_of(london_date(a.starts_at)) == academic_year
                and a.status is not AppointmentStatus.CANCELLED
                and a.funding_stream in used
            ):
                used[a.funding_stream] += a.minutes
        return used[FundingStream.CORE], used[FundingStream.TRADED]

    def _booked_from(self, after: datetime) -> list[Appointment]:
        return sorted(
            (
                a
                for a in self.rows.values()
                if a.status is AppointmentStatus.BOOKED and a.starts_at >= after
            ),
            key=lambda a: (a.starts_at, a.appointment_id),
        )

    async def future_for_advice(self, advice_id: uuid.UUID, after: datetime) -> list[Appointment]:
        return [self._loaded(a) for a in self._booked_from(after) if a.advice_id == advice_id]

    async def future_for_consent(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, after: datetime
    ) -> list[Appointment]:
        return [
            self._loaded(a)
            for a in self._booked_from(after)
            if a.referral_id == referral_id or (a.referral_id is None and a.child_id == child_id)
        ]

    async def school_appointments_from(
        self, school_urn: str, kinds: Collection[AppointmentKind], start: datetime
    ) -> list[Appointment]:
        return [
            self._loaded(a)
            for a in self._booked_from(start)
            if a.school_urn == school_urn and a.kind in kinds
        ]


class FakePlanningRepository(PlanningRepository):
    def __init__(self, staff: FakeStaffRepository) -> None:
        self.staff = staff
        self.settled: dict[tuple[str, int, str], uuid.UUID | None] = {}
        self.told: set[tuple[str, int, str]] = set()

    async def proposed(self, school_urn: str, academic_year: int) -> set[str]:
        return {t for (s, y, t) in self.settled if (s, y) == (school_urn, academic_year)}

    async def not_placed(
        self, school_urn: str, academic_year: int, term: str, at: datetime
    ) -> bool:
        key = (school_urn, academic_year, term)
        first = key not in self.told
        self.told.add(key)
        return first

    async def schools_due(self, academic_year: int) -> list[str]:
        return [
            urn
            for urn in sorted(self.staff.schools)
            if len(await self.proposed(urn, academic_year)) < 2
        ]

    async def add(
        self, school_urn: str, academic_year: int, term: str, appointment_id: uuid.UUID | None
    ) -> None:
        key = (school_urn, academic_year, term)
        assert key not in self.settled, f"{key} settled twice"
        self.settled[key] = appointment_id


class FakeDeliveryRepository(DeliveryRepository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.rows: dict[uuid.UUID, Delivery] = {}
        self.corrections: dict[uuid.UUID, uuid.UUID] = {}  # correction id: delivery id

    async def add(self, delivery: Delivery) -> None:
        if any(d.appointment_id == delivery.appointment_id for d in self.rows.values()):
            raise Conflict("time was already logged for this appointment")
        self.rows[delivery.delivery_id] = replace(delivery, events=[])
        self.uow.track(delivery)

    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        row = self.rows.get(delivery_id)
        return self.uow.track(replace(row, events=[])) if row else None

    async def update(self, delivery: Delivery) -> None:
        self.rows[delivery.delivery_id] = replace(delivery, events=[])

    async def add_correction(
        self,
        delivery_id: uuid.UUID,
        correction_id: uuid.UUID,
        minutes: int,
        funding_stream: FundingStream,
        reason: str,
    ) -> bool:
        if correction_id in self.corrections:
            return False
        self.corrections[correction_id] = delivery_id
        return True


class FakeReadModelRepository(ReadModelRepository):
    def __init__(self) -> None:
        self.consent: dict[uuid.UUID, tuple[uuid.UUID, bool, datetime]] = {}
        self.referrals: dict[uuid.UUID, tuple[uuid.UUID, str | None]] = {}
        self.advice: dict[uuid.UUID, str] = {}

    async def record_consent(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, valid: bool, at: datetime
    ) -> None:
        known = self.consent.get(referral_id)
        if known is None or known[2] <= at:
            self.consent[referral_id] = (child_id, valid, at)

    async def consent_valid(
        self, referral_id: uuid.UUID | None, child_id: uuid.UUID | None
    ) -> bool:
        if referral_id is not None:
            known = self.consent.get(referral_id)
            return known is not None and known[1]
        return any(c == child_id and valid for c, valid, _ in self.consent.values())

    async def record_referral(
        self, referral_id: uuid.UUID, child_id: uuid.UUID, school_urn: str | None
    ) -> None:
        self.referrals.setdefault(referral_id, (child_id, school_urn))

    async def referral(self, referral_id: uuid.UUID) -> tuple[uuid.UUID, str | None] | None:
        return self.referrals.get(referral_id)

    async def record_advice(self, advice_id: uuid.UUID, status: str, at: datetime) -> None:
        if self.advice.get(advice_id, "open") == "open":
            self.advice[advice_id] = status

    async def advice_status(self, advice_id: uuid.UUID) -> str | None:
        return self.advice.get(advice_id)


class FakeFastTrackRepository(FastTrackRepository):
    def __init__(self) -> None:
        self.answers: dict[tuple[uuid.UUID, int], str] = {}

    async def answer(self, incident_id: uuid.UUID, attempt: int = 1) -> str | None:
        return self.answers.get((incident_id, attempt))

    async def allocated_ep_ids(self, incident_id: uuid.UUID) -> set[str]:
        return {
            ep.ep_id
            for (incident, _), raw in self.answers.items()
            if incident == incident_id
            for ep in FastTrackEpsAllocated.model_validate_json(raw).eps
        }

    async def save_answer(self, incident_id: uuid.UUID, attempt: int, answer_json: str) -> None:
        assert (incident_id, attempt) not in self.answers, "an attempt is answered once"
        self.answers[(incident_id, attempt)] = answer_json


class FakeSchedulingUnitOfWork(FakeUnitOfWork, SchedulingUnitOfWork):
    # The fakes, not the ports: a test reads what they keep (``uow.<repository>.<rows>``).
    policies: FakePolicyRepository
    staff: FakeStaffRepository
    appointments: FakeAppointmentRepository
    planning: FakePlanningRepository
    deliveries: FakeDeliveryRepository
    read_models: FakeReadModelRepository
    fast_track: FakeFastTrackRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.policies = FakePolicyRepository()
        self.staff = FakeStaffRepository()
        self.appointments = FakeAppointmentRepository(self)
        self.planning = FakePlanningRepository(self.staff)
        self.deliveries = FakeDeliveryRepository(self)
        self.read_models = FakeReadModelRepository()
        self.fast_track = FakeFastTrackRepository()
