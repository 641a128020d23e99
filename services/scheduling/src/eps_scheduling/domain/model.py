"""EPs, schools, the LA's scheduling policy and the appointment aggregate (pure, no I/O)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from eps_chassis.errors import Conflict, DomainError
from eps_contracts import Event
from eps_contracts.scheduling import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentKind,
    AppointmentRescheduled,
    CancellationParty,
    FundingStream,
)

from eps_scheduling.domain.calendar import MINUTES_PER_DAY, Interval, local_instant


class EpRole(StrEnum):
    EP = "ep"
    SENIOR_EP = "senior_ep"
    PRINCIPAL_EP = "principal_ep"
    ASSISTANT_PSYCHOLOGIST = "assistant_psychologist"
    LAC_SPECIALIST_EP = "lac_specialist_ep"

    @property
    def is_senior(self) -> bool:
        return self in (EpRole.SENIOR_EP, EpRole.PRINCIPAL_EP)

    @property
    def is_qualified_ep(self) -> bool:
        """HCPC-registered EPs; an assistant psychologist does not respond to incidents."""
        return self is not EpRole.ASSISTANT_PSYCHOLOGIST


ROUTINE_KINDS = frozenset(
    {
        AppointmentKind.CONSULTATION,
        AppointmentKind.ASSESSMENT_VISIT,
        AppointmentKind.PARENT_MEETING,
        AppointmentKind.PLANNING_MEETING,
        AppointmentKind.TRAINING,
    }
)
"""Kinds a critical incident may displace; statutory visits and incidents are never moved."""


class BookingRule(StrEnum):
    """How requests for EP time share the diaries (what each does: ``domain.booking_policy``)."""

    FIRST_FREE = "first_free"
    """First come first served: every request takes the first free slot in its window."""
    DEADLINE_AWARE = "deadline_aware"
    """Statutory work first by its deadline, within a share of each EP's week kept for it."""


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Policy:
    """A local authority's scheduling figures (stored per tenant; these are the defaults)."""

    travel_buffer_minutes: int = 30
    slot_step_minutes: int = 15
    fast_track_step_minutes: int = 5
    planning_meeting_minutes: int = 90
    planning_notice_days: int = 14  # a planning meeting is proposed at least this far ahead
    reschedule_horizon_days: int = 28
    autumn_term: tuple[tuple[int, int], tuple[int, int]] = ((9, 1), (12, 19))
    spring_term: tuple[tuple[int, int], tuple[int, int]] = ((1, 5), (3, 31))
    booking_rule: BookingRule = BookingRule.DEADLINE_AWARE
    statutory_share_percent: int = 40  # of each EP's weekly capacity, kept for statutory work

    def __post_init__(self) -> None:
        if not 0 <= self.statutory_share_percent <= 100:
            raise DomainError("must be 0 to 100", field="statutory_share_percent")
        for name in ("slot_step_minutes", "fast_track_step_minutes", "planning_meeting_minutes"):
            if getattr(self, name) <= 0:
                raise DomainError("must be positive", field=name)
        for name in ("travel_buffer_minutes", "planning_notice_days"):
            if getattr(self, name) < 0:
                raise DomainError("must not be negative", field=name)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """One working day's hours as minutes after local midnight (end may be 1440)."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise DomainError(
                "working hours must start before they end, within one day", field="working_hours"
            )

    def on(self, day: date) -> Interval:
        return Interval(local_instant(day, self.start_minute), local_instant(day, self.end_minute))


@dataclass(frozen=True, slots=True)
class WorkingPattern:
    """Working hours per ISO weekday (1 Monday .. 7 Sunday); days absent are not worked."""

    days: Mapping[int, WorkingHours]

    def __post_init__(self) -> None:
        if not self.days:
            raise DomainError("an EP works at least one day", field="working_pattern")
        if any(d not in range(1, 8) for d in self.days):
            raise DomainError("weekdays are 1 (Monday) to 7 (Sunday)", field="working_pattern")

    def hours_on(self, day: date) -> Interval | None:
        hours = self.days.get(day.isoweekday())
        return hours.on(day) if hours else None


@dataclass(frozen=True, slots=True)
class GeoPoint:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise DomainError("not a valid latitude/longitude", field="location")

    def km_to(self, other: GeoPoint) -> float:
        """Great-circle distance (haversine)."""
        lat1, lat2 = math.radians(self.latitude), math.radians(other.latitude)
        dlat = lat2 - lat1
        dlon = math.radians(other.longitude - self.longitude)
        a = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
        return 2 * 6371.0 * math.asin(math.sqrt(a))


@dataclass(frozen=True, slots=True)
class Ep:
    ep_id: str
    role: EpRole
    pattern: WorkingPattern
    weekly_capacity_minutes: int
    base: GeoPoint
    on_rota: bool
    active: bool = True

    def __post_init__(self) -> None:
        if self.weekly_capacity_minutes <= 0:
            raise DomainError("must be positive", field="weekly_capacity_minutes")


@dataclass(frozen=True, slots=True)
class School:
    school_urn: str
    location: GeoPoint
    named_ep_id: str


@dataclass
class Appointment:
    """A slot in one EP's diary, for a school or a child's referral."""

    appointment_id: uuid.UUID
    ep_id: str
    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    funding_stream: FundingStream
    place: str | None  # the school URN where it happens; None: at base or by telephone
    school_urn: str | None = None
    referral_id: uuid.UUID | None = None
    child_id: uuid.UUID | None = None
    case_ref: str | None = None
    request_id: uuid.UUID | None = None
    advice_id: uuid.UUID | None = None  # statutory work: the advice request it serves
    status: AppointmentStatus = AppointmentStatus.BOOKED
    reason: str | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def interval(self) -> Interval:
        return Interval(self.starts_at, self.ends_at)

    @property
    def minutes(self) -> int:
        return self.interval.minutes

    @property
    def is_routine(self) -> bool:
        return self.kind in ROUTINE_KINDS

    @property
    def occupies_diary(self) -> bool:
        return self.status is not AppointmentStatus.CANCELLED

    @classmethod
    def book(
        cls,
        *,
        ep_id: str,
        kind: AppointmentKind,
        starts_at: datetime,
        ends_at: datetime,
        funding_stream: FundingStream,
        place: str | None,
        school_urn: str | None = None,
        referral_id: uuid.UUID | None = None,
        child_id: uuid.UUID | None = None,
        case_ref: str | None = None,
        request_id: uuid.UUID | None = None,
        advice_id: uuid.UUID | None = None,
    ) -> Appointment:
        if ends_at <= starts_at:
            raise DomainError("an appointment must end after it starts", field="ends_at")
        appointment = cls(
            appointment_id=uuid.uuid4(),
            ep_id=ep_id,
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            funding_stream=funding_stream,
            place=place,
            school_urn=school_urn,
            referral_id=referral_id,
            child_id=child_id,
            case_ref=case_ref,
            request_id=request_id,
            advice_id=advice_id,
        )
        appointment.events.append(
            AppointmentBooked(
                appointment_id=appointment.appointment_id,
                request_id=appointment.request_id,
                case_ref=appointment.case_ref,
                kind=appointment.kind,
                ep_id=appointment.ep_id,
                school_urn=appointment.school_urn,
                referral_id=appointment.referral_id,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                funding_stream=appointment.funding_stream,
                advice_id=appointment.advice_id,
            )
        )
        return appointment

    def _require_booked(self, action: str) -> None:
        if self.status is not AppointmentStatus.BOOKED:
            raise Conflict(f"cannot {action} an appointment that is {self.status}")

    def cancel(
        self,
        reason: str,
        *,
        cancelled_at: datetime,
        cancelled_by: CancellationParty | None = None,
    ) -> None:
        """Cancel a booked appointment. The event carries what billing needs to charge a late
        cancellation: the school, funding stream and times, when (``cancelled_at``, by the
        service's clock) and by whom (``cancelled_by``: the service for scheduling's own
        cancellations; None when the caller did not say)."""
        self._require_booked("cancel")
        self.status = AppointmentStatus.CANCELLED
        self.reason = reason
        self.events.append(
            AppointmentCancelled(
                appointment_id=self.appointment_id,
                case_ref=self.case_ref,
                reason=reason,
                school_urn=self.school_urn,
                funding_stream=self.funding_stream,
                starts_at=self.starts_at,
                ends_at=self.ends_at,
                cancelled_at=cancelled_at,
                cancelled_by=cancelled_by,
            )
        )

    def reschedule(self, ep_id: str, starts_at: datetime, ends_at: datetime, reason: str) -> None:
        self._require_booked("reschedule")
        if ends_at <= starts_at:
            raise DomainError("an appointment must end after it starts", field="ends_at")
        self.ep_id, self.starts_at, self.ends_at, self.reason = ep_id, starts_at, ends_at, reason
        self.events.append(
            AppointmentRescheduled(
                appointment_id=self.appointment_id,
                case_ref=self.case_ref,
                ep_id=ep_id,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
            )
        )

    def complete(self, completed_at: datetime) -> None:
        self._require_booked("complete")
        if completed_at < self.starts_at:
            raise Conflict("an appointment cannot be completed before it starts")
        self.status = AppointmentStatus.COMPLETED
        self.events.append(
            AppointmentCompleted(
                appointment_id=self.appointment_id,
                case_ref=self.case_ref,
                completed_at=completed_at,
            )
        )


@dataclass(frozen=True, slots=True)
class SchoolAllowance:
    """What can be booked for a school in one academic year: its core hours and traded time.

    Core appointments draw on the LA's free core allocation, traded ones on the time the school
    bought (spot and SLA); statutory work and critical incidents are never limited.
    """

    core_minutes: int = 0
    traded_minutes: int = 0

    def refusal(
        self, funding: FundingStream, minutes: int, used_core: int, used_traded: int
    ) -> str | None:
        if funding is FundingStream.CORE and used_core + minutes > self.core_minutes:
            return (
                f"core allocation exceeded: {used_core} of {self.core_minutes} minutes already"
                f" booked, {minutes} more asked"
            )
        if funding is FundingStream.TRADED and used_traded + minutes > self.traded_minutes:
            return (
                f"traded time exceeded: {used_traded} of {self.traded_minutes} minutes bought"
                f" already booked, {minutes} more asked"
            )
        return None
