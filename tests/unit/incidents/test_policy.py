"""Response targets in Europe/London time: same day, midnight and the clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eps_chassis.errors import DomainError
from eps_chassis.london import LONDON, end_of_day, london_date
from eps_incidents.domain.policy import Target

from tests.support.builders.incidents import MIN, policy


def london(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def end_of_london_day(at: datetime) -> datetime:
    """The end of the London day holding ``at``, as a same-day target takes it."""
    return end_of_day(london_date(at))


def test_end_of_day_is_local_midnight_in_winter_and_summer() -> None:
    assert end_of_london_day(london(2026, 1, 15, 10, 0)) == datetime(2026, 1, 16, 0, 0, tzinfo=UTC)
    assert end_of_london_day(london(2026, 7, 15, 10, 0)) == datetime(2026, 7, 15, 23, 0, tzinfo=UTC)


def test_end_of_day_on_the_days_the_clocks_change() -> None:
    # 29 March 2026: clocks go forward at 01:00 GMT; the day has 23 hours, ends 23:00 UTC
    assert end_of_london_day(london(2026, 3, 29, 0, 30)) == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)
    # 25 October 2026: clocks go back at 02:00 BST; the day has 25 hours, ends 00:00 UTC
    assert end_of_london_day(london(2026, 10, 25, 0, 30)) == datetime(
        2026, 10, 26, 0, 0, tzinfo=UTC
    )


def test_same_day_target_is_end_of_day_but_never_sooner_than_its_minimum() -> None:
    same_day = Target(120 * MIN, same_day=True)
    morning = london(2026, 11, 2, 9, 0)
    assert same_day.due(morning) == london(2026, 11, 3, 0, 0)
    late = london(2026, 11, 2, 23, 30)  # a report just before midnight still gets two hours
    assert same_day.due(late) == london(2026, 11, 3, 1, 30)


def test_a_24_hour_target_is_24_elapsed_hours_across_the_clock_change() -> None:
    within_a_day = Target(24 * 60 * MIN)
    reported = london(2026, 3, 28, 12, 0)  # GMT
    due = within_a_day.due(reported)
    assert due - reported.astimezone(UTC) == timedelta(hours=24)
    assert due.astimezone(LONDON).hour == 13  # 13:00 BST on the local clock
    autumn = london(2026, 10, 24, 12, 0)  # BST
    assert within_a_day.due(autumn).astimezone(LONDON).hour == 11  # 11:00 GMT


def test_targets_must_be_positive_and_levels_configured() -> None:
    with pytest.raises(DomainError):
        Target(timedelta(0))
    partial = policy()
    partial.levels.pop(3)
    with pytest.raises(DomainError) as refused:
        partial.targets_for(3)
    assert refused.value.field == "level"
