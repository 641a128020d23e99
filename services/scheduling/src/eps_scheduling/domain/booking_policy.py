"""How statutory and routine work share the EPs' diaries: the LA's booking rule (pure).

Scheduling used to book a statutory assessment in the first free slot, like any other work, so
routine casework booked weeks ahead could leave no room before an advice's last day. The LA now
chooses (``Policy.booking_rule``):

- ``first_free`` (first come first served): every request takes the first free slot in its
  window, in the order the requests come; what is full is full.
- ``deadline_aware`` (the default):
  1. a **statutory share** of each EP's week (``Policy.statutory_share_percent`` of the weekly
     capacity) is kept for statutory work: routine work (``ROUTINE_KINDS``) may fill only the
     rest of the week; statutory work may use the whole week, its share first of all;
  2. **earliest deadline first**: requests waiting together are answered in order of their
     deadline (``answer_order``; a statutory request's deadline is the end of its window, the
     last day for the visit, and routine work has none, so it comes after);
  3. **re-planning advice at risk**: a statutory request with no free slot before its deadline
     takes the earliest slot in its window where only routine work that has not started stands in
     the way (``replan``), and that work is moved to the EP's next free slot or cancelled, as a
     critical incident displaces it. Statutory visits and incidents are never moved.

The service applies these to each request as it arrives (``slot_for``, ``refusal_for``,
``replan``); the capacity planner (``tools/capacity``) calls the same functions on its simulated
diaries, and ``answer_order`` on each day's queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from eps_chassis.london import london_date
from eps_contracts.scheduling import AppointmentKind, FundingStream

from eps_scheduling.domain.allocation import displaceable
from eps_scheduling.domain.availability import blocked_span, find_slot, refusal, week_minutes
from eps_scheduling.domain.calendar import Interval, ceil_to_step, days_between
from eps_scheduling.domain.model import (
    ROUTINE_KINDS,
    Appointment,
    BookingRule,
    Ep,
    Policy,
    School,
)

T = TypeVar("T")


def is_routine_work(kind: AppointmentKind, funding: FundingStream) -> bool:
    """Routine work: a kind a critical incident may displace, not funded as statutory work."""
    return kind in ROUTINE_KINDS and funding is not FundingStream.STATUTORY


def keeps_statutory_share(kind: AppointmentKind, funding: FundingStream, policy: Policy) -> bool:
    """Whether work of ``kind`` must leave the statutory share of the week free."""
    return policy.booking_rule is BookingRule.DEADLINE_AWARE and is_routine_work(kind, funding)


def routine_allowance(ep: Ep, policy: Policy) -> int:
    """Minutes of routine work an EP may have in a week: the capacity less the statutory share."""
    return ep.weekly_capacity_minutes * (100 - policy.statutory_share_percent) // 100


def routine_minutes(appointments: Iterable[Appointment], day_in_week: datetime) -> int:
    """Minutes of routine work booked in the ISO week (London) holding ``day_in_week``."""
    routine = (a for a in appointments if is_routine_work(a.kind, a.funding_stream))
    return week_minutes(routine, day_in_week)


def share_refusal(
    ep: Ep,
    appointments: Sequence[Appointment],
    slot: Interval,
    kind: AppointmentKind,
    funding: FundingStream,
    policy: Policy,
) -> str | None:
    """Why ``slot`` would eat into the week's statutory share, or None."""
    if not keeps_statutory_share(kind, funding, policy):
        return None
    allowance = routine_allowance(ep, policy)
    if routine_minutes(appointments, slot.start) + slot.minutes > allowance:
        return (
            f"EP {ep.ep_id}'s week keeps {policy.statutory_share_percent}% for statutory work:"
            f" routine work is limited to {allowance} minutes"
        )
    return None


def refusal_for(
    ep: Ep,
    appointments: Sequence[Appointment],
    slot: Interval,
    place: str | None,
    kind: AppointmentKind,
    funding: FundingStream,
    policy: Policy,
) -> str | None:
    """Why ``ep`` cannot take ``slot`` for work of ``kind``: the diary's rules, then the share."""
    return refusal(ep, appointments, slot, place, policy) or share_refusal(
        ep, appointments, slot, kind, funding, policy
    )


def slot_for(
    ep: Ep,
    appointments: Sequence[Appointment],
    window: Interval,
    minutes: int,
    place: str | None,
    kind: AppointmentKind,
    funding: FundingStream,
    policy: Policy,
) -> Interval | None:
    """The earliest slot in ``window`` that ``ep`` can take for work of ``kind``: the first free
    one, skipping for routine work the weeks whose routine allowance it would exceed."""
    if not keeps_statutory_share(kind, funding, policy):
        return find_slot(ep, appointments, window, minutes, place, policy)
    allowance = routine_allowance(ep, policy)
    routine: dict[tuple[int, int], int] = {}
    for a in appointments:
        if a.occupies_diary and is_routine_work(a.kind, a.funding_stream):
            week = london_date(a.starts_at).isocalendar()[:2]
            routine[week] = routine.get(week, 0) + a.minutes
    return find_slot(
        ep,
        appointments,
        window,
        minutes,
        place,
        policy,
        week_has_room=lambda week: routine.get(week, 0) + minutes <= allowance,
    )


def replan(
    ep: Ep,
    appointments: Sequence[Appointment],
    window: Interval,
    minutes: int,
    place: str | None,
    now: datetime,
    policy: Policy,
) -> tuple[Interval, tuple[Appointment, ...]] | None:
    """For statutory work with no free slot in ``window`` (an advice at risk): the earliest slot
    where only routine work that has not started stands in the way, and that work. The week's
    capacity counts what would be moved out of it. None under ``first_free``, or when even
    displacing routine work leaves no room."""
    if policy.booking_rule is not BookingRule.DEADLINE_AWARE or not ep.active:
        return None
    length = timedelta(minutes=minutes)
    step = timedelta(minutes=policy.slot_step_minutes)
    spans = sorted(
        (lo, hi, a)
        for a in appointments
        if a.occupies_diary
        for lo, hi in [blocked_span(a, place, policy)]
        if lo < window.end and window.start < hi
    )
    busy = [a for a in appointments if a.occupies_diary]
    for day in days_between(window.start, window.end):
        hours = ep.pattern.hours_on(day)
        if hours is None:
            continue
        booked = week_minutes(busy, hours.start)
        start = max(hours.start, ceil_to_step(window.start, policy.slot_step_minutes))
        while start + length <= min(hours.end, window.end):
            end = start + length
            blocking = [a for lo, hi, a in spans if lo < end and start < hi]
            if all(_movable(a, now) for a in blocking):
                freed = sum(a.minutes for a in blocking)
                if booked - freed + minutes <= ep.weekly_capacity_minutes:
                    return Interval(start, end), tuple(blocking)
            start += step
    return None


def _movable(appointment: Appointment, now: datetime) -> bool:
    """Routine work that has not started; statutory work is never moved for other statutory."""
    return displaceable(appointment, now) and appointment.funding_stream is not (
        FundingStream.STATUTORY
    )


def candidate_order(school: School, eps: Iterable[Ep]) -> list[str]:
    """Who is asked for work at ``school`` in a window: its named EP, then the other active
    qualified EPs, nearest first (ties by id)."""
    others = [
        ep for ep in eps if ep.active and ep.role.is_qualified_ep and ep.ep_id != school.named_ep_id
    ]
    others.sort(key=lambda ep: (ep.base.km_to(school.location), ep.ep_id))
    return [school.named_ep_id, *(ep.ep_id for ep in others)]


def answer_order(
    requests: Iterable[T],
    *,
    deadline: Callable[[T], datetime | None],
    arrived: Callable[[T], datetime],
    policy: Policy,
) -> list[T]:
    """The order in which waiting requests are answered: as they came under ``first_free``;
    under ``deadline_aware`` those with a deadline first, earliest deadline first (ties as they
    came), then the rest as they came."""
    if policy.booking_rule is BookingRule.FIRST_FREE:
        return sorted(requests, key=arrived)

    def key(request: T) -> tuple[bool, datetime, datetime]:
        due = deadline(request)
        return (due is None, due or arrived(request), arrived(request))

    return sorted(requests, key=key)
