"""A school's named EP changes: its planning meetings follow the new EP (domain.named_ep)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from eps_chassis.london import LONDON
from eps_contracts.scheduling import AppointmentCancelled, AppointmentKind, AppointmentRescheduled
from eps_scheduling.domain.model import (
    ROUTINE_KINDS,
    Appointment,
    AppointmentStatus,
    Ep,
    Policy,
    WorkingHours,
    WorkingPattern,
)
from eps_scheduling.domain.named_ep import FOLLOWS_NAMED_EP, hand_over, handover_start

from tests.support.builders.scheduling import appointment, at, ep

SCHOOL = "123456"
OTHER_SCHOOL = "654321"
POLICY = Policy()
MONDAY = date(2026, 11, 30)  # GMT
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EFFECTIVE = date(2026, 11, 24)
ALL_HOURS = WorkingPattern({d: WorkingHours(0, 24 * 60) for d in range(1, 8)})


def meeting(start: datetime, minutes: int = 90, ep_id: str = "ep-old") -> Appointment:
    return appointment(
        ep_id, start, start + timedelta(minutes=minutes), kind=AppointmentKind.PLANNING_MEETING
    )


def move(
    candidates: Iterable[Appointment],
    diary: Sequence[Appointment] = (),
    *,
    new: Ep | None = None,
    effective: date = EFFECTIVE,
    now: datetime = NOW,
) -> list[Appointment]:
    return hand_over(
        new or ep("ep-new"), "ep-old", candidates, list(diary), SCHOOL, effective, now, POLICY
    )


def test_only_routine_kinds_follow_the_named_ep() -> None:
    assert FOLLOWS_NAMED_EP <= ROUTINE_KINDS
    assert AppointmentKind.STATUTORY_ASSESSMENT_VISIT not in FOLLOWS_NAMED_EP
    assert AppointmentKind.CRITICAL_INCIDENT_RESPONSE not in FOLLOWS_NAMED_EP


def test_a_free_new_ep_takes_the_meeting_at_the_same_time() -> None:
    planning = meeting(at(MONDAY, 10))
    [changed] = move([planning])
    assert changed is planning
    assert (planning.ep_id, planning.starts_at) == ("ep-new", at(MONDAY, 10))
    assert planning.status is AppointmentStatus.BOOKED
    [event] = planning.events
    assert isinstance(event, AppointmentRescheduled)
    assert event.ep_id == "ep-new" and event.starts_at == at(MONDAY, 10)
    assert event.reason == (
        f"named EP for school {SCHOOL} changed from ep-old to ep-new from 2026-11-24"
    )


def test_a_busy_new_ep_takes_it_at_their_next_free_slot() -> None:
    # the new EP is at another school 10:00-11:00: 30 minutes' travel, so 11:30 is the first
    busy = appointment("ep-new", at(MONDAY, 10), at(MONDAY, 11), place=OTHER_SCHOOL)
    planning = meeting(at(MONDAY, 10))
    [changed] = move([planning], [busy])
    assert (changed.ep_id, changed.starts_at, changed.ends_at) == (
        "ep-new",
        at(MONDAY, 11, 30),
        at(MONDAY, 13),
    )
    [event] = changed.events
    assert isinstance(event, AppointmentRescheduled)
    assert "changed from ep-old to ep-new" in event.reason
    assert "not free at the original time" in event.reason


def test_with_no_free_slot_in_the_horizon_it_is_cancelled_with_the_reason() -> None:
    planning = meeting(at(MONDAY, 10))
    [changed] = move([planning], new=ep("ep-new", weekly_capacity_minutes=60))
    assert changed.status is AppointmentStatus.CANCELLED
    assert changed.ep_id == "ep-old"  # it never reached the new diary
    [event] = changed.events
    assert isinstance(event, AppointmentCancelled)
    assert "changed from ep-old to ep-new" in event.reason
    assert f"no free slot within {POLICY.reschedule_horizon_days} days" in event.reason


def test_an_inactive_new_ep_takes_nothing() -> None:
    planning = meeting(at(MONDAY, 10))
    [changed] = move([planning], new=ep("ep-new", active=False))
    assert changed.status is AppointmentStatus.CANCELLED


def test_each_move_counts_in_the_new_diary_for_the_next() -> None:
    # room for one 90-minute meeting a week: the second goes to the next week
    first, second = meeting(at(MONDAY, 10)), meeting(at(MONDAY + timedelta(days=1), 10))
    changed = move([second, first], new=ep("ep-new", weekly_capacity_minutes=120))
    assert changed == [first, second]  # in start order
    assert first.starts_at == at(MONDAY, 10)
    assert second.starts_at == at(MONDAY + timedelta(days=7), 9)


def test_past_and_started_appointments_are_untouched() -> None:
    now = at(MONDAY, 10, 30)
    started = meeting(at(MONDAY, 10))  # in progress at ``now``
    earlier = meeting(at(MONDAY - timedelta(days=3), 10))
    later = meeting(at(MONDAY + timedelta(days=1), 10))
    changed = move([earlier, started, later], now=now, effective=date(2026, 11, 1))
    assert changed == [later]
    assert earlier.ep_id == started.ep_id == "ep-old"
    assert earlier.events == started.events == []


def test_appointments_before_a_future_effective_date_stay_with_the_old_ep() -> None:
    before = meeting(at(MONDAY, 10))
    after = meeting(at(date(2027, 1, 11), 10))
    changed = move([before, after], effective=date(2027, 1, 4))
    assert changed == [after]
    assert (before.ep_id, before.events) == ("ep-old", [])
    assert after.ep_id == "ep-new"


def test_other_kinds_casework_and_the_new_eps_own_meetings_do_not_move() -> None:
    statutory = appointment(
        "ep-old",
        at(MONDAY, 9),
        at(MONDAY, 10),
        kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
    )
    incident = appointment(
        "ep-old", at(MONDAY, 13), at(MONDAY, 15), kind=AppointmentKind.CRITICAL_INCIDENT_RESPONSE
    )
    training = appointment("ep-old", at(MONDAY, 15), at(MONDAY, 16), kind=AppointmentKind.TRAINING)
    for_a_child = meeting(at(MONDAY, 11))
    for_a_child.referral_id = uuid.uuid4()
    other_school = appointment(
        "ep-old",
        at(MONDAY, 16),
        at(MONDAY, 17),
        kind=AppointmentKind.PLANNING_MEETING,
        place=OTHER_SCHOOL,
    )
    already_new = meeting(at(MONDAY + timedelta(days=1), 10), ep_id="ep-new")
    cancelled = meeting(at(MONDAY + timedelta(days=2), 10))
    cancelled.cancel("school closed", cancelled_at=at(MONDAY, 8))
    cancelled.events.clear()
    everything = [statutory, incident, training, for_a_child, other_school, already_new, cancelled]
    assert move(everything, [already_new]) == []
    assert all(a.events == [] for a in everything)


def test_the_effective_date_starts_at_london_midnight_in_summer_time() -> None:
    new = ep("ep-new", pattern=ALL_HOURS)
    now = datetime(2026, 9, 1, tzinfo=UTC)
    effective = date(2026, 10, 1)
    assert handover_start(effective, now) == datetime(2026, 9, 30, 23, 0, tzinfo=UTC)
    last_of_september = meeting(datetime(2026, 9, 30, 22, 0, tzinfo=UTC))  # 23:00 BST
    first_of_october = meeting(datetime(2026, 9, 30, 23, 30, tzinfo=UTC))  # 00:30 BST
    changed = move([last_of_september, first_of_october], new=new, effective=effective, now=now)
    assert changed == [first_of_october]


def test_the_next_slot_across_the_clock_change_keeps_local_working_hours() -> None:
    # Friday 23 October 2026 is BST; the clocks go back on Sunday 25 October
    friday, monday = date(2026, 10, 23), date(2026, 10, 26)
    september = datetime(2026, 9, 1, tzinfo=UTC)
    busy = appointment("ep-new", at(friday, 13), at(friday, 17))
    planning = meeting(at(friday, 14))
    [changed] = move([planning], [busy], now=september, effective=date(2026, 10, 1))
    assert changed.starts_at == at(monday, 9) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert changed.starts_at.astimezone(LONDON).hour == 9
    assert planning.starts_at - planning.ends_at == timedelta(minutes=-90)
    # and a free new EP keeps the same instant, which is 14:00 BST on the Friday
    again = meeting(at(friday, 14))
    [same] = move([again], now=september, effective=date(2026, 10, 1))
    assert same.starts_at == datetime(2026, 10, 23, 13, 0, tzinfo=UTC)
