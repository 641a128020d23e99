"""Tariffs as data: spot covers, SLA limits, billing periods and when they close."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from eps_billing.domain.tariff import (
    LONDON,
    BillingPeriod,
    CriticalIncidentRule,
    Rounding,
    SpotUnit,
    Tariff,
    cheapest_cover,
    closes_at,
    next_period,
    period_of,
    round_minutes,
)
from eps_chassis.errors import DomainError
from hypothesis import given
from hypothesis import strategies as st

from tests.support.builders.billing import LEICESTER, LEICESTER_RULES, NOTTINGHAM, NOTTINGHAM_RULES

MIGRATION = (
    Path(__file__).resolve().parents[3]
    / "services/billing/src/eps_billing/migrations/0001_billing.sql"
)


@pytest.mark.parametrize(
    ("minutes", "pence", "units"),
    [
        (60, 15000, (("hour", 1),)),
        (120, 30000, (("hour", 2),)),
        (180, 40000, (("half day", 1),)),
        (240, 55000, (("half day", 1), ("hour", 1))),  # not a day at 700
        (300, 70000, (("day", 1),)),  # half day + 2 h is 700 too, with more units
        (360, 70000, (("day", 1),)),
        (420, 85000, (("day", 1), ("hour", 1))),
        (1, 15000, (("hour", 1),)),  # part of a unit is charged as the whole unit
        (61, 30000, (("hour", 2),)),
        (181, 55000, (("half day", 1), ("hour", 1))),
        (0, 0, ()),
    ],
)
def test_leicester_spot_time_is_the_cheapest_whole_unit_cover(
    minutes: int, pence: int, units: tuple[tuple[str, int], ...]
) -> None:
    cover = LEICESTER.spot_cover(minutes)
    assert (cover.pence, cover.units) == (pence, units)
    assert cover.minutes >= minutes


def test_nottingham_charges_whole_three_hour_sessions() -> None:
    assert NOTTINGHAM.spot_cover(60).pence == 39300
    assert NOTTINGHAM.spot_cover(180).pence == 39300
    assert NOTTINGHAM.spot_cover(240).units == (("session", 2),)
    assert NOTTINGHAM.spot_cover(240).pence == 78600


@given(st.integers(min_value=1, max_value=24 * 60))
def test_no_cheaper_cover_exists(minutes: int) -> None:
    units = LEICESTER.spot_units
    cover = cheapest_cover(minutes, units)
    by_name = {u.name: u for u in units}
    assert sum(by_name[n].minutes * k for n, k in cover.units) >= minutes
    assert sum(by_name[n].pence * k for n, k in cover.units) == cover.pence
    # brute force over counts of each unit up to the day count that covers alone
    days = -(-minutes // 360)
    best = min(
        d * 70000 + h * 40000 + o * 15000
        for d in range(days + 1)
        for h in range(2 * days + 1)
        for o in range(6 * days + 1)
        if d * 360 + h * 180 + o * 60 >= minutes
    )
    assert cover.pence == best


def test_sla_purchase_is_refused_outside_the_limits_with_the_rule() -> None:
    LEICESTER.check_sla_days(5)
    LEICESTER.check_sla_days(30)
    for days in (4, 31):
        with pytest.raises(DomainError) as refused:
            LEICESTER.check_sla_days(days)
        assert refused.value.field == "days"
        assert "5 to 30 days a year" in str(refused.value)
        assert f"{days} requested" in str(refused.value)
    NOTTINGHAM.check_sla_days(3)  # another LA, other limits, same code


def test_a_second_authority_differs_only_in_data() -> None:
    assert NOTTINGHAM.critical_incident is CriticalIncidentRule.TRADED
    assert LEICESTER.critical_incident is CriticalIncidentRule.FREE
    assert not NOTTINGHAM.sla_carry_over and LEICESTER.sla_carry_over
    assert NOTTINGHAM.billing_period_months == 3
    assert NOTTINGHAM.spot_units == (SpotUnit(180, 39300, "session"),)


def test_the_seed_migration_holds_the_same_tariffs() -> None:
    sql = MIGRATION.read_text()
    assert "'leicester-city', '2025-09-01', '2026-08-31'" in sql
    assert '"pence": 15000' in sql and '"pence": 40000' in sql and '"pence": 70000' in sql
    assert '"day_pence": 65000, "min_days": 5, "max_days": 30' in sql
    assert '{"name": "session", "minutes": 180, "pence": 39300}' in sql


def test_incomplete_rules_are_refused() -> None:
    rules = {k: v for k, v in LEICESTER_RULES.items() if k != "sla"}
    with pytest.raises(DomainError, match="incomplete"):
        Tariff.from_rules("x-la", date(2025, 9, 1), date(2026, 8, 31), rules)
    with pytest.raises(DomainError, match="min_days"):
        Tariff.from_rules(
            "x-la",
            date(2025, 9, 1),
            date(2026, 8, 31),
            {**NOTTINGHAM_RULES, "sla": {**NOTTINGHAM_RULES["sla"], "min_days": 50}},
        )


@pytest.mark.parametrize(
    ("day", "months", "start", "end"),
    [
        (date(2026, 1, 31), 1, date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 28), 1, date(2026, 2, 1), date(2026, 2, 28)),
        (date(2028, 2, 29), 1, date(2028, 2, 1), date(2028, 2, 29)),
        (date(2025, 12, 31), 3, date(2025, 10, 1), date(2025, 12, 31)),
        # longer periods follow the financial year (April to March), not the calendar year
        (date(2026, 8, 31), 12, date(2026, 4, 1), date(2027, 3, 31)),
        (date(2026, 3, 31), 12, date(2025, 4, 1), date(2026, 3, 31)),
        (date(2026, 2, 10), 6, date(2025, 10, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), 6, date(2026, 4, 1), date(2026, 9, 30)),
        (date(2026, 3, 15), 2, date(2026, 2, 1), date(2026, 3, 31)),
        (date(2026, 1, 15), 2, date(2025, 12, 1), date(2026, 1, 31)),
        (date(2025, 12, 10), 4, date(2025, 12, 1), date(2026, 3, 31)),
    ],
)
def test_billing_periods_are_calendar_months_grouped_from_the_financial_year(
    day: date, months: int, start: date, end: date
) -> None:
    assert period_of(day, months) == BillingPeriod(start, end)


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    st.sampled_from([1, 2, 3, 4, 6, 12]),
    st.integers(1, 12),
)
def test_periods_tile_the_calendar_without_crossing_the_billing_year(
    day: date, months: int, year_starts: int
) -> None:
    period = period_of(day, months, year_starts)
    assert period.start <= day <= period.end
    assert period.start.day == 1 and (period.end + timedelta(days=1)).day == 1
    span = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    assert span == months - 1
    assert (period.start.month - year_starts) % months == 0
    # the billing year (the financial year by default) starts on a period's first day only
    inside = [period.start + timedelta(days=n) for n in range(1, (period.end - period.start).days)]
    assert not any(d.day == 1 and d.month == year_starts for d in inside)
    following = next_period(period, months, year_starts)
    assert following.start == period.end + timedelta(days=1)
    assert period_of(period.start, months, year_starts) == period
    assert period_of(period.end, months, year_starts) == period


def test_the_billing_year_is_data_per_authority() -> None:
    assert LEICESTER.billing_year_starts_month == 4  # default: the financial year
    academic = Tariff.from_rules(
        "x-la",
        date(2025, 9, 1),
        date(2026, 8, 31),
        {**LEICESTER_RULES, "billing_period_months": 12, "billing_year_starts_month": 9},
    )
    assert academic.period_of(date(2026, 3, 31)) == BillingPeriod(
        date(2025, 9, 1), date(2026, 8, 31)
    )
    assert academic.next_period(academic.period_of(date(2026, 3, 31))).start == date(2026, 9, 1)
    quarterly = NOTTINGHAM.period_of(date(2026, 3, 31))  # a financial-year quarter
    assert quarterly == BillingPeriod(date(2026, 1, 1), date(2026, 3, 31))
    with pytest.raises(DomainError, match="billing year"):
        Tariff.from_rules(
            "x-la",
            date(2025, 9, 1),
            date(2026, 8, 31),
            {**LEICESTER_RULES, "billing_year_starts_month": 13},
        )


def test_next_period_crosses_the_year() -> None:
    assert next_period(period_of(date(2025, 12, 10))) == BillingPeriod(
        date(2026, 1, 1), date(2026, 1, 31)
    )
    assert next_period(period_of(date(2025, 11, 1), 3), 3).start == date(2026, 1, 1)


def test_a_period_closes_at_london_midnight_after_its_grace_across_clock_changes() -> None:
    # October 2025: the clocks go back on 26 October; 5 grace days -> 6 November 00:00 GMT
    october = period_of(date(2025, 10, 15))
    assert closes_at(october, 5) == datetime(2025, 11, 6, tzinfo=LONDON)
    assert closes_at(october, 5).utcoffset() == timedelta(0)
    # March 2026: clocks go forward on 29 March; grace 0 -> 1 April 00:00 BST = 31 March 23:00 UTC
    march = period_of(date(2026, 3, 31))
    closing = closes_at(march, 0)
    assert closing.utcoffset() == timedelta(hours=1)
    assert closing.astimezone(LONDON).date() == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("rounding", "minutes", "pence"),
    [
        ({"increment_minutes": 60, "mode": "nearest"}, 61, 15000),  # 1 h, not 2 h
        ({"increment_minutes": 60, "mode": "nearest"}, 90, 30000),  # halves up
        ({"increment_minutes": 60, "mode": "nearest"}, 20, 15000),  # never nothing
        ({"increment_minutes": 60, "mode": "down"}, 239, 40000),  # 3 h: a half day
        ({"increment_minutes": 15, "mode": "up"}, 181, 55000),  # 3 h 15 -> half day + hour
        ({}, 61, 30000),  # the default: exact minutes, whole units
    ],
)
def test_spot_time_is_rounded_by_the_authority_rule_before_the_cover(
    rounding: dict[str, object], minutes: int, pence: int
) -> None:
    tariff = Tariff.from_rules(
        "x-la", date(2025, 9, 1), date(2026, 8, 31), {**LEICESTER_RULES, "spot_rounding": rounding}
    )
    assert tariff.spot_cover(minutes).pence == pence


@given(st.integers(0, 24 * 60), st.integers(1, 360), st.sampled_from(list(Rounding)))
def test_rounding_gives_a_positive_multiple_within_one_increment(
    minutes: int, increment: int, mode: Rounding
) -> None:
    rounded = round_minutes(minutes, increment, mode)
    assert rounded % increment == 0
    if minutes == 0:
        assert rounded == 0
        return
    assert rounded >= increment
    if mode is Rounding.UP:
        assert minutes <= rounded < minutes + increment
    elif mode is Rounding.DOWN:
        assert rounded <= max(minutes, increment) and rounded > minutes - increment
    else:
        assert abs(rounded - minutes) * 2 <= increment or rounded == increment


def test_a_rounding_rule_must_be_valid() -> None:
    for rounding in ({"increment_minutes": 0}, {"mode": "sideways"}):
        with pytest.raises(DomainError):
            Tariff.from_rules(
                "x-la",
                date(2025, 9, 1),
                date(2026, 8, 31),
                {**LEICESTER_RULES, "spot_rounding": rounding},
            )
