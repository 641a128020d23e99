"""When an EP can take an appointment: working hours, no overlap, travel time, weekly capacity."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
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
    *,
    week_has_room: Callable[[tuple[int, int]], bool] | None = None,
) -> Interval | None:
    """The earliest slot of ``minutes`` inside ``window`` that ``ep`` can take, if any, in the
    ISO weeks (London) ``week_has_room`` allows (every week when None).

    The same rules as ``refusal``, with each appointment's blocked span and each week's booked
    minutes worked out once rather than for every candidate slot: a busy diary has hundreds.
    A candidate that clashes jumps to the first step at or after the end of the span it meets
    (every start before that meets the same span), so a full day costs its spans, not its steps.
    """
    if not ep.active:
        return None
    length = timedelta(minutes=minutes)
    step = timedelta(minutes=policy.slot_step_minutes)
    busy = [a for a in appointments if a.occupies_diary]
    spans = sorted(blocked_span(a, place, policy) for a in busy)
    span_starts = [lo for lo, _ in spans]
    longest = max((hi - lo for lo, hi in spans), default=timedelta(0))
    booked: dict[tuple[int, int], int] = {}
    for a in busy:
        week = london_date(a.starts_at).isocalendar()[:2]
        booked[week] = booked.get(week, 0) + a.minutes
    for day in days_between(window.start, window.end):
        hours = ep.pattern.hours_on(day)
        if hours is None:
            continue
        week = day.isocalendar()[:2]
        if booked.get(week, 0) + minutes > ep.weekly_capacity_minutes:
            continue
        if week_has_room is not None and not week_has_room(week):
            continue
        start = max(hours.start, ceil_to_step(window.start, policy.slot_step_minutes))
        last_end = min(hours.end, window.end)
        # the spans that can meet this day's candidates, in order of start
        first = bisect.bisect_left(span_starts, start - longest)
        last = bisect.bisect_left(span_starts, last_end)
        todays = spans[first:last]
        while start + length <= last_end:
            end = start + length
            met = [hi for lo, hi in todays if lo < end and start < hi]
            if not met:
                return Interval(start, end)
            start += step * -(-(max(met) - start) // step)
    return None
