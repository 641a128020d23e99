"""The one time module: London dates and day boundaries across the clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.london import academic_year_of, end_of_day, london_date, start_of_day


def test_the_date_is_taken_in_london_across_the_clock_change() -> None:
    assert london_date(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == date(2026, 7, 1)  # BST
    assert london_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 12, 31)  # GMT


def test_a_naive_moment_has_no_london_date() -> None:
    with pytest.raises(ValueError, match="naive"):
        london_date(datetime(2026, 6, 30, 12, 0))


def test_the_day_the_clocks_go_back_lasts_twenty_five_hours() -> None:
    day = date(2026, 10, 25)
    assert start_of_day(day) == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    assert end_of_day(day) - start_of_day(day) == timedelta(hours=25)
    assert end_of_day(date(2026, 3, 29)) - start_of_day(date(2026, 3, 29)) == timedelta(hours=23)


@pytest.mark.parametrize(
    ("day", "year"),
    [(date(2026, 8, 31), 2025), (date(2026, 9, 1), 2026), (date(2027, 1, 5), 2026)],
)
def test_the_school_year_starts_on_the_first_of_september(day: date, year: int) -> None:
    assert academic_year_of(day) == year
