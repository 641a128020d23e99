from datetime import date, timedelta

from eps_contracts.scheduling import FundingStream
from eps_scheduling.domain.availability import blocked_span, clash, find_slot, refusal
from eps_scheduling.domain.calendar import Interval, ceil_to_step, days_between
from eps_scheduling.domain.model import (
    Appointment,
    Ep,
    Policy,
    SchoolAllowance,
    WorkingHours,
    WorkingPattern,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.builders.scheduling import appointment, at, ep

MONDAY = date(2026, 11, 23)
POLICY = Policy(travel_buffer_minutes=30, slot_step_minutes=15)


def slot(hh: int, mm: int, minutes: int, day: date = MONDAY) -> Interval:
    start = at(day, hh, mm)
    return Interval(start, start + timedelta(minutes=minutes))


def test_a_slot_inside_working_hours_is_free() -> None:
    assert refusal(ep("a"), [], slot(9, 0, 60), "123456", POLICY) is None


def test_slots_outside_working_hours_or_on_a_day_off_are_refused() -> None:
    assert "working hours" in (refusal(ep("a"), [], slot(16, 30, 60), None, POLICY) or "")
    saturday = MONDAY - timedelta(days=2)
    assert "working hours" in (refusal(ep("a"), [], slot(10, 0, 60, saturday), None, POLICY) or "")


def test_an_overlap_is_refused() -> None:
    busy = appointment("a", at(MONDAY, 10), at(MONDAY, 11))
    assert "overlaps" in (refusal(ep("a"), [busy], slot(10, 30, 60), "123456", POLICY) or "")


def test_back_to_back_at_the_same_place_or_by_phone_needs_no_travel_time() -> None:
    busy = appointment("a", at(MONDAY, 10), at(MONDAY, 11), place="123456")
    assert refusal(ep("a"), [busy], slot(11, 0, 60), "123456", POLICY) is None
    assert refusal(ep("a"), [busy], slot(11, 0, 60), None, POLICY) is None


def test_visits_at_different_places_need_the_travel_buffer_both_ways() -> None:
    busy = appointment("a", at(MONDAY, 10), at(MONDAY, 11), place="654321")
    assert "travel" in (refusal(ep("a"), [busy], slot(11, 15, 60), "123456", POLICY) or "")
    assert "travel" in (refusal(ep("a"), [busy], slot(9, 0, 45), "123456", POLICY) or "")
    assert refusal(ep("a"), [busy], slot(11, 30, 60), "123456", POLICY) is None
    assert refusal(ep("a"), [busy], slot(9, 0, 30), "123456", POLICY) is None


def test_a_cancelled_appointment_does_not_block() -> None:
    gone = appointment("a", at(MONDAY, 10), at(MONDAY, 11))
    gone.cancel("no longer needed", cancelled_at=at(MONDAY, 9))
    assert refusal(ep("a"), [gone], slot(10, 0, 60), "123456", POLICY) is None


def test_weekly_capacity_counts_the_whole_london_week() -> None:
    part_time = ep("a", weekly_capacity_minutes=120)
    tuesday = MONDAY + timedelta(days=1)
    busy = appointment("a", at(tuesday, 9), at(tuesday, 10, 30))
    assert "capacity" in (refusal(part_time, [busy], slot(9, 0, 60), None, POLICY) or "")
    next_monday = MONDAY + timedelta(days=7)
    assert refusal(part_time, [busy], slot(9, 0, 60, next_monday), None, POLICY) is None


def test_find_slot_takes_the_first_gap_that_allows_for_travel() -> None:
    busy = appointment("a", at(MONDAY, 9), at(MONDAY, 10), place="654321")
    window = Interval(at(MONDAY, 8), at(MONDAY, 17))
    found = find_slot(ep("a"), [busy], window, 60, "123456", POLICY)
    assert found == slot(10, 30, 60)


def test_find_slot_moves_to_the_next_working_day_and_gives_up_at_the_window_end() -> None:
    busy = appointment("a", at(MONDAY, 9), at(MONDAY, 17))
    two_days = Interval(at(MONDAY, 9), at(MONDAY + timedelta(days=1), 17))
    assert find_slot(ep("a"), [busy], two_days, 60, None, POLICY) == slot(
        9, 0, 60, MONDAY + timedelta(days=1)
    )
    assert (
        find_slot(ep("a"), [busy], Interval(at(MONDAY, 9), at(MONDAY, 17)), 60, None, POLICY)
        is None
    )


def test_find_slot_on_the_day_the_clocks_change_uses_local_working_hours() -> None:
    sundays = WorkingPattern({7: WorkingHours(9 * 60, 12 * 60)})
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        window = Interval(at(day, 0), at(day, 23))
        found = find_slot(ep("a", pattern=sundays), [], window, 60, None, POLICY)
        assert found == Interval(at(day, 9), at(day, 10))
    assert at(date(2026, 3, 29), 9).utcoffset() == timedelta(hours=1)
    assert at(date(2026, 10, 25), 9).utcoffset() == timedelta(0)


def test_school_allowance_limits_core_and_traded_time_separately() -> None:
    allowance = SchoolAllowance(core_minutes=600, traded_minutes=180)
    assert allowance.refusal(FundingStream.CORE, 60, 540, 0) is None
    assert "core allocation" in (allowance.refusal(FundingStream.CORE, 61, 540, 0) or "")
    assert "traded" in (allowance.refusal(FundingStream.TRADED, 60, 0, 150) or "")
    assert allowance.refusal(FundingStream.STATUTORY, 6000, 600, 180) is None


@given(
    busy_from=st.integers(0, 95),
    busy_minutes=st.integers(5, 180),
    slot_from=st.integers(0, 95),
    slot_minutes=st.integers(5, 180),
    busy_place=st.sampled_from(["123456", "654321", None]),
    slot_place=st.sampled_from(["123456", "654321", None]),
)
def test_the_blocked_span_is_exactly_where_a_slot_clashes(
    busy_from: int,
    busy_minutes: int,
    slot_from: int,
    slot_minutes: int,
    busy_place: str | None,
    slot_place: str | None,
) -> None:
    """The fast track tests slots against precomputed spans; they must agree with ``clash``."""
    day_start = at(MONDAY, 8)
    busy_start = day_start + timedelta(minutes=5 * busy_from)
    busy = appointment(
        "a", busy_start, busy_start + timedelta(minutes=busy_minutes), place=busy_place
    )
    start = day_start + timedelta(minutes=5 * slot_from)
    candidate = Interval(start, start + timedelta(minutes=slot_minutes))
    lo, hi = blocked_span(busy, slot_place, POLICY)
    assert (lo < candidate.end and candidate.start < hi) == bool(
        clash(busy, candidate, slot_place, POLICY)
    )


def first_slot_by_refusal(
    candidate: Ep, diary: list[Appointment], window: Interval, minutes: int, place: str | None
) -> Interval | None:
    """The rule stated plainly: the first stepped slot in working hours that ``refusal`` allows."""
    for day in days_between(window.start, window.end):
        hours = candidate.pattern.hours_on(day)
        if hours is None:
            continue
        start = max(hours.start, ceil_to_step(window.start, POLICY.slot_step_minutes))
        while start + timedelta(minutes=minutes) <= min(hours.end, window.end):
            found = Interval(start, start + timedelta(minutes=minutes))
            if refusal(candidate, diary, found, place, POLICY) is None:
                return found
            start += timedelta(minutes=POLICY.slot_step_minutes)
    return None


@settings(max_examples=300, deadline=None)
@given(
    busy=st.lists(
        st.tuples(
            st.integers(0, 2 * 24 * 4),  # quarter hours from Monday 00:00
            st.integers(1, 12),  # quarter hours long
            st.sampled_from(["123456", "654321", None]),
            st.booleans(),  # cancelled
        ),
        max_size=40,
    ),
    window_from=st.integers(0, 24 * 4),
    window_days=st.integers(0, 1),
    minutes=st.sampled_from([30, 45, 60, 120]),
    capacity_hours=st.integers(2, 37),
)
def test_find_slot_finds_what_checking_every_slot_with_refusal_finds(
    busy: list[tuple[int, int, str | None, bool]],
    window_from: int,
    window_days: int,
    minutes: int,
    capacity_hours: int,
) -> None:
    week_start = at(MONDAY, 0)
    diary = []
    for start_q, length_q, place, cancelled in busy:
        start = week_start + timedelta(minutes=15 * start_q)
        booked = appointment("a", start, start + timedelta(minutes=15 * length_q), place=place)
        if cancelled:
            booked.cancel("test", cancelled_at=week_start)
        diary.append(booked)
    start = week_start + timedelta(minutes=15 * window_from)
    window = Interval(start, start + timedelta(days=window_days, hours=6))
    candidate = ep("a", weekly_capacity_minutes=capacity_hours * 60)
    assert find_slot(candidate, diary, window, minutes, "123456", POLICY) == first_slot_by_refusal(
        candidate, diary, window, minutes, "123456"
    )
