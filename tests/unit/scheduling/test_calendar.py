from datetime import UTC, date, datetime

import pytest
from eps_chassis.london import academic_year_of, london_date
from eps_scheduling.domain.calendar import Interval, ceil_to_step, local_instant


def test_nine_o_clock_is_eight_utc_on_the_day_british_summer_time_starts() -> None:
    assert local_instant(date(2026, 3, 29), 9 * 60) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert local_instant(date(2026, 3, 28), 9 * 60) == datetime(2026, 3, 28, 9, 0, tzinfo=UTC)


def test_the_day_the_clocks_go_back_has_twenty_five_hours() -> None:
    day = date(2026, 10, 25)
    assert Interval(local_instant(day, 0), local_instant(day, 1440)).minutes == 25 * 60
    assert (
        Interval(
            local_instant(date(2026, 3, 29), 0), local_instant(date(2026, 3, 29), 1440)
        ).minutes
        == 23 * 60
    )


def test_minute_of_day_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        local_instant(date(2026, 1, 1), 1441)


def test_london_date_of_a_late_evening_in_summer_is_the_next_day() -> None:
    assert london_date(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == date(2026, 7, 1)
    assert london_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("day", "year"),
    [(date(2026, 8, 31), 2025), (date(2026, 9, 1), 2026), (date(2027, 1, 1), 2026)],
)
def test_school_year_starts_on_the_first_of_september(day: date, year: int) -> None:
    assert academic_year_of(day) == year


def test_ceil_to_step_keeps_whole_steps_and_rounds_up_the_rest() -> None:
    exact = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    assert ceil_to_step(exact, 15) == exact
    assert ceil_to_step(exact.replace(second=1), 15) == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_an_empty_interval_is_refused() -> None:
    moment = datetime(2026, 11, 23, 9, tzinfo=UTC)
    with pytest.raises(ValueError):
        Interval(moment, moment)
