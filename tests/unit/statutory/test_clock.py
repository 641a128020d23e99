"""The statutory clock: 6 calendar weeks in Europe/London from receipt, and reg 8(2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from eps_chassis.errors import DomainError
from eps_chassis.london import LONDON, end_of_day, london_date
from eps_contracts.statutory import ExceptionKind
from eps_statutory.domain.clock import (
    ClockException,
    check_exception,
    days_remaining,
    due_on,
    parse_exception_kind,
    plan_due_on,
    six_week_due_on,
)
from eps_statutory.domain.policy import ExceptionRule
from hypothesis import given
from hypothesis import strategies as st

from tests.support.builders.statutory import exception

spans = st.tuples(st.integers(-20, 120), st.integers(0, 40))

EXTEND = ExceptionRule.EXTEND_BY_LENGTH
RECEIVED = date(2026, 11, 2)  # Monday; due Monday 14 December 2026


@pytest.mark.parametrize(
    ("at", "received_on"),
    [
        # Friday evening, winter (GMT): still Friday
        (datetime(2026, 11, 6, 18, 30, tzinfo=LONDON), date(2026, 11, 6)),
        (datetime(2026, 11, 6, 23, 59, tzinfo=UTC), date(2026, 11, 6)),
        # Friday evening, summer (BST): 23:30 UTC is already Saturday in London
        (datetime(2026, 7, 10, 22, 59, tzinfo=UTC), date(2026, 7, 10)),
        (datetime(2026, 7, 10, 23, 30, tzinfo=UTC), date(2026, 7, 11)),
        # New Year's Eve, 00:30 London on 1 January
        (datetime(2027, 1, 1, 0, 30, tzinfo=UTC), date(2027, 1, 1)),
        # the hour that happens twice when the clocks go back (25 October 2026)
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), date(2026, 10, 25)),  # 00:30 BST
        # the March change (29 March 2026, 01:00 UTC): GMT before, BST after
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 28)),  # 23:30 GMT Saturday
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), date(2026, 3, 29)),  # 00:59 GMT
        (datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30)),  # 00:30 BST Monday
        # month ends: a summer month ends an hour before UTC midnight, a winter one at it
        (datetime(2026, 7, 31, 23, 30, tzinfo=UTC), date(2026, 8, 1)),
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), date(2026, 11, 30)),
        (datetime(2028, 2, 29, 23, 30, tzinfo=UTC), date(2028, 2, 29)),  # leap day, GMT
    ],
)
def test_the_clock_starts_on_the_london_date_of_receipt(at: datetime, received_on: date) -> None:
    assert london_date(at) == received_on


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        london_date(datetime(2026, 11, 6, 18, 30))


@pytest.mark.parametrize(
    ("received_on", "due"),
    [
        (date(2026, 11, 6), date(2026, 12, 18)),  # Friday -> Friday, six weeks on
        (date(2026, 10, 2), date(2026, 11, 13)),  # across the October clock change
        (date(2026, 3, 20), date(2026, 5, 1)),  # across the March clock change
        (date(2026, 12, 1), date(2027, 1, 12)),  # across New Year
        (date(2026, 12, 24), date(2027, 2, 4)),  # over the Christmas holiday: it still counts
        (date(2028, 2, 29), date(2028, 4, 11)),  # received on 29 February
        (date(2028, 1, 18), date(2028, 2, 29)),  # due on 29 February
        (date(2027, 1, 18), date(2027, 3, 1)),  # no 29 February that year
        (date(2026, 7, 20), date(2026, 8, 31)),  # summer holiday is no exception
        (date(2026, 7, 24), date(2026, 9, 4)),  # all of August counts
        (date(2026, 10, 31), date(2026, 12, 12)),  # month ends are not special
        (date(2027, 1, 31), date(2027, 3, 14)),  # past the end of February
        (date(2026, 3, 29), date(2026, 5, 10)),  # received on the day the clocks go forward
        (date(2026, 10, 25), date(2026, 12, 6)),  # received on the day the clocks go back
    ],
)
def test_advice_is_due_six_calendar_weeks_after_receipt(received_on: date, due: date) -> None:
    assert six_week_due_on(received_on) == due
    assert due.weekday() == received_on.weekday()
    assert due_on(received_on, 6, EXTEND, []) == due


def test_the_number_of_weeks_is_the_las_figure() -> None:
    assert six_week_due_on(RECEIVED, weeks=8) == date(2026, 12, 28)


def test_the_last_day_ends_at_london_midnight_whatever_the_season() -> None:
    assert end_of_day(date(2026, 12, 14)) == datetime(2026, 12, 15, 0, 0, tzinfo=UTC)
    assert end_of_day(date(2026, 7, 1)) == datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
    # six calendar weeks across the October change are 42 days and one hour long
    start, end = end_of_day(date(2026, 10, 2)), end_of_day(date(2026, 11, 13))
    assert end - start == timedelta(days=42, hours=1)
    # the day the clocks go forward has 23 hours
    assert end_of_day(date(2026, 3, 29)) - end_of_day(date(2026, 3, 28)) == timedelta(hours=23)


def test_the_twenty_week_context_runs_from_the_assessment_request() -> None:
    assert plan_due_on(date(2026, 9, 21)) == date(2027, 2, 8)


def test_an_exception_inside_the_period_moves_the_last_day_by_its_length() -> None:
    inside = exception(date(2026, 11, 10), date(2026, 11, 16))  # 7 days
    assert due_on(RECEIVED, 6, EXTEND, [inside]) == date(2026, 12, 21)


def test_overlapping_exceptions_count_each_day_once() -> None:
    first = exception(date(2026, 11, 10), date(2026, 11, 16))
    second = exception(date(2026, 11, 14), date(2026, 11, 20))
    assert due_on(RECEIVED, 6, EXTEND, [first, second]) == date(2026, 12, 25)


def test_only_days_after_receipt_stop_the_clock() -> None:
    began_before = exception(date(2026, 10, 20), date(2026, 11, 5))  # 3, 4, 5 November count
    assert due_on(RECEIVED, 6, EXTEND, [began_before]) == date(2026, 12, 17)


def test_an_exception_running_past_the_last_day_counts_in_full() -> None:
    over_the_end = exception(date(2026, 12, 10), date(2026, 12, 20))  # 11 days
    assert due_on(RECEIVED, 6, EXTEND, [over_the_end]) == date(2026, 12, 25)


def test_an_extension_can_reach_a_later_exception() -> None:
    first = exception(date(2026, 11, 10), date(2026, 11, 16))  # due 21 December
    later = exception(date(2026, 12, 16), date(2026, 12, 18))  # after 14 Dec, before 21 Dec
    assert due_on(RECEIVED, 6, EXTEND, [first, later]) == date(2026, 12, 24)


def test_an_exception_across_new_year_and_a_leap_day() -> None:
    received = date(2027, 12, 20)  # due 31 January 2028
    new_year = exception(date(2027, 12, 30), date(2028, 1, 2))  # 4 days
    assert due_on(received, 6, EXTEND, [new_year]) == date(2028, 2, 4)
    february = exception(date(2028, 1, 25), date(2028, 2, 1))  # 8 days, due over 29 Feb
    assert due_on(received, 6, EXTEND, [february]) == date(2028, 2, 8)
    assert due_on(
        date(2028, 1, 18), 6, EXTEND, [exception(date(2028, 2, 28), date(2028, 2, 29))]
    ) == date(2028, 3, 2)


def test_an_exception_across_a_clock_change_counts_calendar_days() -> None:
    received = date(2026, 10, 2)  # due 13 November, across the October change
    autumn = exception(date(2026, 10, 22), date(2026, 10, 28))  # 7 days over 25 October
    assert due_on(received, 6, EXTEND, [autumn]) == date(2026, 11, 20)
    spring = exception(date(2026, 3, 27), date(2026, 3, 30))  # 4 days over 29 March
    assert due_on(date(2026, 3, 20), 6, EXTEND, [spring]) == date(2026, 5, 5)


def test_an_exception_over_the_summer_holiday_counts_only_its_own_days() -> None:
    received = date(2026, 7, 20)  # due 31 August; the holiday itself moves nothing
    away = exception(
        date(2026, 7, 27), date(2026, 8, 23), ExceptionKind.CHILD_OR_PARENT_AWAY
    )  # 28 days
    assert due_on(received, 6, EXTEND, [away]) == date(2026, 9, 28)


def test_an_exception_on_the_last_day_itself_moves_it() -> None:
    last_day = exception(date(2026, 12, 14), date(2026, 12, 14))
    assert due_on(RECEIVED, 6, EXTEND, [last_day]) == date(2026, 12, 15)
    _check(last_day, today=date(2026, 12, 14))  # and it may be recorded


def test_the_extended_last_day_is_never_inside_an_exception_and_counts_every_running_day() -> None:
    exceptions = [
        exception(date(2026, 11, 3), date(2026, 11, 4)),
        exception(date(2026, 11, 20), date(2026, 12, 1)),
        exception(date(2026, 11, 28), date(2026, 12, 3)),  # overlaps the one before
        exception(date(2026, 12, 24), date(2027, 1, 2)),  # reached only by the extensions
    ]
    due = due_on(RECEIVED, 6, EXTEND, exceptions)
    assert due is not None
    days = [RECEIVED + timedelta(days=n) for n in range(1, (due - RECEIVED).days + 1)]
    running = [d for d in days if not any(e.covers(d) for e in exceptions)]
    assert len(running) == 42 and running[-1] == due
    assert due == date(2027, 1, 9)  # 14 Dec + 2 + 14 days, then the 10 days over New Year


@given(
    received=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    weeks=st.integers(1, 12),
    raw=st.lists(spans, max_size=5),
)
def test_property_extension_stops_the_clock_for_exception_days_only(
    received: date, weeks: int, raw: list[tuple[int, int]]
) -> None:
    exceptions = [
        exception(received + timedelta(days=a), received + timedelta(days=a + n)) for a, n in raw
    ]
    due = due_on(received, weeks, EXTEND, exceptions)
    assert due is not None and due >= six_week_due_on(received, weeks)
    days = [received + timedelta(days=n) for n in range(1, (due - received).days + 1)]
    running = [d for d in days if not any(e.covers(d) for e in exceptions)]
    assert len(running) == weeks * 7 and running[-1] == due
    stopped = {d for d in days if any(e.covers(d) for e in exceptions)}
    assert (due - six_week_due_on(received, weeks)).days == len(stopped)


def test_disapplying_the_limit_leaves_no_last_day() -> None:
    any_exception = exception(date(2026, 11, 10), date(2026, 11, 12))
    assert due_on(RECEIVED, 6, ExceptionRule.DISAPPLY, [any_exception]) is None
    assert due_on(RECEIVED, 6, ExceptionRule.DISAPPLY, []) == date(2026, 12, 14)


def test_days_remaining_count_down_through_zero() -> None:
    due = date(2026, 12, 14)
    assert days_remaining(due, date(2026, 12, 4)) == 10
    assert days_remaining(due, due) == 0
    assert days_remaining(due, date(2026, 12, 15)) == -1


# --- recording exceptions ----------------------------------------------------------------------


def _check(
    subject: ClockException, *, today: date = date(2026, 11, 20), due: date | None = None
) -> None:
    check_exception(
        subject,
        received_on=RECEIVED,
        current_due=due or date(2026, 12, 14),
        today=today,
    )


@pytest.mark.parametrize("kind", list(ExceptionKind))
def test_each_reg_8_2_exception_is_accepted(kind: ExceptionKind) -> None:
    _check(exception(date(2026, 11, 10), date(2026, 12, 7), kind))  # 28 days


@pytest.mark.parametrize("value", ["school_holiday", "half-term", "summer holiday"])
def test_school_holidays_are_not_an_exception(value: str) -> None:
    with pytest.raises(DomainError, match="school holidays are not an exception") as refused:
        parse_exception_kind(value)
    assert refused.value.field == "kind"


def test_an_unknown_kind_names_the_allowed_ones() -> None:
    with pytest.raises(DomainError, match="missed_appointment"):
        parse_exception_kind("illness_of_the_ep")
    assert parse_exception_kind("missed_appointment") is ExceptionKind.MISSED_APPOINTMENT


def test_away_from_the_area_needs_four_weeks() -> None:
    away = ExceptionKind.CHILD_OR_PARENT_AWAY
    _check(exception(date(2026, 11, 10), date(2026, 12, 7), away))  # exactly 28 days
    with pytest.raises(DomainError, match="4 weeks or more") as refused:
        _check(exception(date(2026, 11, 10), date(2026, 12, 6), away))  # 27 days
    assert refused.value.field == "ends_on"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"evidence": ()}, "evidence"),
        ({"evidence": (" ",)}, "evidence"),
        ({"parents_notified_on": date(2026, 11, 21)}, "parents_notified_on"),
    ],
)
def test_an_exception_needs_its_reason_evidence_and_notice(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        _check(exception(date(2026, 11, 10), date(2026, 11, 12), **overrides))
    assert refused.value.field == field


def test_an_exception_must_end_after_it_starts_and_after_receipt() -> None:
    with pytest.raises(DomainError) as backwards:
        _check(exception(date(2026, 11, 12), date(2026, 11, 10)))
    assert backwards.value.field == "ends_on"
    with pytest.raises(DomainError, match="before the clock started"):
        _check(exception(date(2026, 10, 1), date(2026, 11, 2)))


def test_an_exception_recorded_after_the_fact_counts_like_any_other() -> None:
    past = exception(
        date(2026, 11, 10), date(2026, 11, 16), recorded_on=date(2026, 12, 16)
    )  # recorded two days after the original last day
    _check(past, today=date(2026, 12, 16))
    assert due_on(RECEIVED, 6, EXTEND, [past]) == date(2026, 12, 21)


def test_an_exception_starting_after_the_last_day_cannot_excuse_it() -> None:
    with pytest.raises(DomainError, match="after the last day") as refused:
        _check(exception(date(2026, 12, 15), date(2026, 12, 20)), today=date(2026, 12, 21))
    assert refused.value.field == "starts_on"
