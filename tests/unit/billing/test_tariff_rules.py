"""Tariffs as the authority keeps them: rules that hang together (a refusal names the field),
one tariff per day, the next year's carried forward, and what a replacement gives up."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from eps_billing.domain.tariff import (
    Tariff,
    a_year_on,
    carried_forward,
    check_no_overlap,
    uncovered,
)
from eps_chassis.errors import Conflict, DomainError
from eps_chassis.http import status_for

from tests.support.builders.billing import LEICESTER, LEICESTER_RULES, NOTTINGHAM


def test_the_rules_read_back_as_written_with_every_default_given() -> None:
    rules = LEICESTER.rules()
    assert rules["spot_rounding"] == {"increment_minutes": 1, "mode": "up"}
    assert rules["billing_year_starts_month"] == 4  # the seed leaves it out: April
    assert rules["sla"] == LEICESTER_RULES["sla"]
    again = Tariff.from_rules(
        LEICESTER.tenant, LEICESTER.effective_from, LEICESTER.effective_to, rules
    )
    assert again == LEICESTER
    assert Tariff.from_rules(
        "x", NOTTINGHAM.effective_from, NOTTINGHAM.effective_to, NOTTINGHAM.rules()
    ) == replace(NOTTINGHAM, tenant="x")


def _with(**changes: Any) -> dict[str, Any]:
    rules = LEICESTER.rules()
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            rules[outer] = {**rules[outer], inner: value}
        else:
            rules[key] = value
    return rules


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (_with(spot_units=[]), "spot_units"),
        (_with(spot_units=[{"name": "hour", "minutes": 0, "pence": 100}]), "spot_units"),
        (_with(spot_units=[{"name": "hour", "minutes": 60, "pence": -1}]), "spot_units"),
        (
            _with(
                spot_units=[
                    {"name": "hour", "minutes": 60, "pence": 15000},
                    {"name": "hour", "minutes": 120, "pence": 25000},
                ]
            ),
            "spot_units",
        ),
        (_with(sla__day_minutes=0), "sla.day_minutes"),
        (_with(sla__day_pence=-1), "sla.day_pence"),
        (_with(sla__min_days=0), "sla.min_days"),
        (_with(sla__min_days=31), "sla.max_days"),
        (_with(billing_period_months=5), "billing_period_months"),
        (_with(spot_rounding__increment_minutes=0), "spot_rounding.increment_minutes"),
        (_with(billing_year_starts_month=13), "billing_year_starts_month"),
        (_with(cancellation_full_charge_days=-1), "cancellation_full_charge_days"),
        (_with(grace_days=-1), "grace_days"),
    ],
)
def test_rules_that_do_not_hang_together_are_refused_naming_the_field(
    rules: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        Tariff.from_rules("x-la", date(2026, 9, 1), date(2027, 8, 31), rules)
    assert refused.value.field == field
    assert status_for(refused.value) == 422


def test_a_tariff_that_ends_before_it_starts_is_refused_naming_the_end() -> None:
    with pytest.raises(DomainError) as refused:
        Tariff.from_rules("x-la", date(2026, 9, 1), date(2026, 8, 31), LEICESTER.rules())
    assert refused.value.field == "effective_to"


def _span(first: date, last: date) -> Tariff:
    return replace(LEICESTER, effective_from=first, effective_to=last)


def test_the_next_years_tariff_may_start_the_day_after_this_one_ends() -> None:
    check_no_overlap(_span(date(2026, 9, 1), date(2027, 8, 31)), [LEICESTER])
    check_no_overlap(_span(date(2024, 9, 1), date(2025, 8, 31)), [LEICESTER])


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        (date(2026, 8, 31), date(2027, 8, 31), "effective_from"),  # starts on its last day
        (date(2026, 1, 1), date(2026, 3, 31), "effective_from"),  # inside it
        (date(2024, 9, 1), date(2025, 9, 1), "effective_to"),  # ends on its first day
        (date(2024, 9, 1), date(2027, 8, 31), "effective_to"),  # around it
    ],
)
def test_a_tariff_overlapping_another_is_refused_naming_the_date_that_runs_into_it(
    first: date, last: date, field: str
) -> None:
    with pytest.raises(Conflict) as refused:
        check_no_overlap(_span(first, last), [LEICESTER])
    assert refused.value.field == field
    assert "2025-09-01 to 2026-08-31" in str(refused.value)


@pytest.mark.parametrize(
    ("first", "last", "moved_first", "moved_last"),
    [
        (date(2025, 9, 1), date(2026, 8, 31), date(2026, 9, 1), date(2027, 8, 31)),
        # a span ending on 29 February ends on the 28th the next year
        (date(2027, 3, 1), date(2028, 2, 29), date(2028, 3, 1), date(2029, 2, 28)),
        # and one starting on it starts on 1 March, the day after the moved end before it
        (date(2028, 2, 29), date(2029, 2, 27), date(2029, 3, 1), date(2030, 2, 27)),
    ],
)
def test_a_tariff_carried_forward_has_its_dates_moved_on_a_year(
    first: date, last: date, moved_first: date, moved_last: date
) -> None:
    tariff = _span(first, last)
    assert carried_forward(tariff) == (moved_first, moved_last)
    check_no_overlap(replace(tariff, effective_from=moved_first, effective_to=moved_last), [tariff])


def test_moving_on_a_year_keeps_spans_apart_across_a_leap_day() -> None:
    assert a_year_on(date(2028, 2, 28), end=True) == date(2029, 2, 28)
    assert a_year_on(date(2028, 2, 29), end=True) == date(2029, 2, 28)
    assert a_year_on(date(2028, 2, 29)) == date(2029, 3, 1)


def test_a_replacement_gives_up_the_days_it_no_longer_covers_and_names_the_end_that_moved() -> None:
    assert uncovered(LEICESTER, LEICESTER) == []
    assert uncovered(LEICESTER, _span(date(2025, 8, 1), date(2026, 12, 31))) == []
    assert uncovered(LEICESTER, _span(date(2025, 10, 1), date(2026, 8, 31))) == [
        ("effective_from", date(2025, 9, 1), date(2025, 9, 30))
    ]
    assert uncovered(LEICESTER, _span(date(2025, 9, 1), date(2026, 7, 31))) == [
        ("effective_to", date(2026, 8, 1), date(2026, 8, 31))
    ]
    # moved a whole year on: everything it covered is given up, once
    assert uncovered(LEICESTER, _span(date(2026, 9, 1), date(2027, 8, 31))) == [
        ("effective_from", date(2025, 9, 1), date(2026, 8, 31))
    ]
