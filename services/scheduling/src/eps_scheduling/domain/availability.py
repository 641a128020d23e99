"""When an EP can take an appointment: working hours, no overlap, travel time, weekly capacity."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from eps_chassis.london import london_date

from eps_scheduling.domain.calendar import Interval, ceil_to_step, days_between
from eps_scheduling.domain.model import Appointment, Ep, Policy


def needs_travel(place: str | None, other: str | None) -> bool:
    """Two visits at different places need travel time; base or telephone work needs none."""
    return place is not None and other is not None and place != other


def blocked_span(
    existing: Appointment, place: str | None, policy: Policy
) -> tuple[datetime, datetime]:
    """The times ``existing`` keeps free of a visit at ``place``: travel buffer either side if
    the places differ. A slot clashes exactly when it overlaps this span."""
    if needs_travel(place, existing.place):
        buffer = timedelta(minutes=policy.travel_buffer_minutes)
        return existing.starts_at - buffer, existing.ends_at + buffer
    return existing.starts_at, existing.ends_at


def clash(existing: Appointment, slot: Interval, place: str | None, policy: Policy) -> str | None:
    """Why ``existing`` stops ``slot`` (overlap, or too little travel time), or None."""
    if not existing.occupies_diary:
        return None
    if existing.interval.overlaps(slot):
        return f"overlaps appointment {existing.appointment_id}"
    if needs_travel(place, existing.place):
        buffer = timedelta(minutes=policy.travel_buffer_minutes)
        if slot.start < existing.ends_at + buffer and existing.starts_at < slot.end + buffer:
            return (
                f"less than {policy.travel_buffer_minutes} minutes' travel from appointment"
                f" {existing.appointment_id} at another place"
            )
    return None


def week_minutes(appointments: Iterable[Appointment], day_in_week: datetime) -> int:
    """Minutes booked in the ISO week (London) holding ``day_in_week``."""
    week = london_date(day_in_week).isocalendar()[:2]
    return sum(
        a.minutes
        for a in appointments
        if a.occupies_diary and london_date(a.starts_at).isocalendar()[:2] == week
    )


def refusal(
    ep: Ep,
    appointments: Sequence[Appointment],
    slot: Interval,
    place: str | None,
    policy: Policy,
    *,
    check_capacity: bool = True,
) -> str | None:
    """Why ``ep`` cannot take ``slot``, or None when they can."""
    if not ep.active:
        return f"EP {ep.ep_id} is not active"
    hours = ep.pattern.hours_on(london_date(slot.start))
    if hours is None or not hours.contains(slot):
        return f"outside EP {ep.ep_id}'s working hours"
    for existing in appointments:
        reason = clash(existing, slot, place, policy)
        if reason:
            return reason
    if check_capacity and week_minutes(appointments, slot.start) + slot.minutes > (
        ep.weekly_capacity_minutes
    ):
        return f"EP {ep.ep_id}'s weekly capacity of {ep.weekly_capacity_minutes} minutes is full"
    return None


def find_slot(
    ep: Ep,
    appointments: Sequence[Appointment],
    window: Interval,
    minutes: int,
    place: str | None,
    policy: Policy,
) -> Interval | None:
    """The earliest slot of ``minutes`` inside ``window`` that ``ep`` can take, if any.

    The same rules as ``refusal``, with each appointment's blocked span and each week's booked
    minutes worked out once rather than for every candidate slot: a busy diary has hundreds.
    """
    if not ep.active:
        return None
    length = timedelta(minutes=minutes)
    step = timedelta(minutes=policy.slot_step_minutes)
    busy = [a for a in appointments if a.occupies_diary]
    spans = sorted(blocked_span(a, place, policy) for a in busy)
    booked: dict[tuple[int, int], int] = {}
    for day in days_between(window.start, window.end):
        hours = ep.pattern.hours_on(day)
        if hours is None:
            continue
        week = day.isocalendar()[:2]
        if week not in booked:
            booked[week] = week_minutes(busy, hours.start)
        if booked[week] + minutes > ep.weekly_capacity_minutes:
            continue
        start = max(hours.start, ceil_to_step(window.start, policy.slot_step_minutes))
        last_end = min(hours.end, window.end)
        while start + length <= last_end:
            end = start + length
            if not any(lo < end and start < hi for lo, hi in spans):
                return Interval(start, end)
            start += step
    return None
