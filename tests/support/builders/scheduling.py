"""Builders for scheduling unit tests."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from eps_contracts.scheduling import AppointmentKind, FundingStream
from eps_scheduling.domain.calendar import LONDON
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
