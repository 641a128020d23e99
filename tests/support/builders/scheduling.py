"""EPs, schools and diaries for scheduling tests, varied by keyword."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from eps_chassis.london import LONDON
from eps_contracts.scheduling import AppointmentKind, FundingStream
from eps_scheduling.domain.commands import AllocateFastTrack, BookAppointment, RegisterSchool
from eps_scheduling.domain.model import (
    Appointment,
    Ep,
    EpRole,
    GeoPoint,
    School,
    WorkingHours,
    WorkingPattern,
)

WEEKDAYS_9_TO_5 = WorkingPattern({d: WorkingHours(9 * 60, 17 * 60) for d in range(1, 6)})
SCHOOL_AT = GeoPoint(52.6369, -1.1398)  # Leicester


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), LONDON)


def ep(ep_id: str, **overrides: Any) -> Ep:
    values: dict[str, Any] = dict(
        ep_id=ep_id,
        role=EpRole.EP,
        pattern=WEEKDAYS_9_TO_5,
        weekly_capacity_minutes=37 * 60,
        base=SCHOOL_AT,
        on_rota=True,
    )
    values.update(overrides)
    return Ep(**values)


def school(named_ep_id: str = "ep-named", urn: str = "123456") -> School:
    return School(urn, SCHOOL_AT, named_ep_id)


def appointment(
    ep_id: str,
    start: datetime,
    end: datetime,
    *,
    kind: AppointmentKind = AppointmentKind.CONSULTATION,
    place: str | None = "123456",
) -> Appointment:
    booked = Appointment.book(
        ep_id=ep_id,
        kind=kind,
        starts_at=start,
        ends_at=end,
        funding_stream=FundingStream.CORE,
        place=place,
        school_urn=place,
    )
    booked.events.clear()
    return booked


def register_school(named_ep_id: str = "ep-named", **overrides: Any) -> RegisterSchool:
    """The school at Leicester, its named EP from the start of the 2026 school year."""
    values: dict[str, Any] = dict(
        school_urn="123456",
        latitude=SCHOOL_AT.latitude,
        longitude=SCHOOL_AT.longitude,
        named_ep_id=named_ep_id,
        effective_from=date(2026, 9, 1),
    )
    values.update(overrides)
    return RegisterSchool(**values)


def booking(starts_at: datetime, **overrides: Any) -> BookAppointment:
    """An hour's consultation at the school, statutory (no allowance drawn), with the named EP."""
    values: dict[str, Any] = dict(
        kind=AppointmentKind.CONSULTATION,
        funding_stream=FundingStream.STATUTORY,
        starts_at=starts_at,
        duration_minutes=60,
        ep_id="ep-named",
        school_urn="123456",
    )
    values.update(overrides)
    return BookAppointment(**values)


def fast_track(requested_at: datetime, **overrides: Any) -> AllocateFastTrack:
    """A level-2 incident at the school: two EPs on site within two hours, for two hours."""
    values: dict[str, Any] = dict(
        incident_id=uuid.uuid4(),
        school_urn="123456",
        level=2,
        eps_needed=2,
        needed_by=requested_at + timedelta(hours=2),
        duration_minutes=120,
        senior_lead_required=False,
        requested_at=requested_at,
    )
    values.update(overrides)
    return AllocateFastTrack(**values)
