"""Tribunal tasks and timeliness reporting."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from eps_chassis.errors import DomainError
from eps_contracts.statutory import TribunalTaskKind
from eps_statutory.domain.commands import RegisterTribunalAppeal
from eps_statutory.domain.policy import LaPolicy
from eps_statutory.domain.reporting import (
    SubmittedAdvice,
    month_range,
    monthly_timeliness,
    percent,
)
from eps_statutory.domain.tribunal import tribunal_tasks


def appeal(**overrides: Any) -> RegisterTribunalAppeal:
    values: dict[str, Any] = dict(
        appeal_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        registered_on=date(2027, 3, 1),
        hearing_on=date(2027, 6, 14),
        evidence_due_on=None,
    )
    values.update(overrides)
    return RegisterTribunalAppeal(**values)


def test_an_appeal_gives_the_ep_evidence_and_attendance_tasks() -> None:
    evidence, attendance = tribunal_tasks(
        appeal(), "ep-named", LaPolicy(tribunal_evidence_lead_days=21)
    )
    assert (evidence.kind, evidence.due_on, evidence.ep_id) == (
        TribunalTaskKind.EVIDENCE, date(2027, 5, 24), "ep-named",
    )  # fmt: skip
    assert (attendance.kind, attendance.due_on) == (TribunalTaskKind.ATTENDANCE, date(2027, 6, 14))


def test_the_tribunal_evidence_date_wins_and_is_never_before_registration() -> None:
    [evidence, _] = tribunal_tasks(appeal(evidence_due_on=date(2027, 4, 30)), None, LaPolicy())
    assert evidence.due_on == date(2027, 4, 30) and evidence.ep_id is None
    soon = appeal(registered_on=date(2027, 6, 1))
    assert tribunal_tasks(soon, None, LaPolicy())[0].due_on == date(2027, 6, 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"hearing_on": date(2027, 2, 1)}, "hearing_on"),
        ({"evidence_due_on": date(2027, 6, 15)}, "evidence_due_on"),
        ({"evidence_due_on": date(2027, 2, 27)}, "evidence_due_on"),
    ],
)
def test_impossible_tribunal_dates_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as refused:
        tribunal_tasks(appeal(**overrides), "ep", LaPolicy())
    assert refused.value.field == field


def row(
    day: date, on_time: bool, exception: bool = False, in_limit: bool | None = None
) -> SubmittedAdvice:
    return SubmittedAdvice(day, on_time, on_time if in_limit is None else in_limit, exception)


def test_timeliness_per_month_with_and_without_exceptions() -> None:
    rows = [
        row(date(2026, 12, 1), True),
        row(date(2026, 12, 31), False),
        row(date(2026, 12, 15), False, exception=True, in_limit=True),
        row(date(2026, 12, 16), False, exception=True, in_limit=False),
        row(date(2027, 1, 1), True),  # New Year's Day is January's
    ]
    december, january = monthly_timeliness(rows)
    assert december.month == "2026-12"
    assert (december.submitted, december.within_six_weeks) == (4, 1)
    assert december.percent_within_six_weeks == 25.0
    assert (
        december.submitted_excluding_exceptions,
        december.within_six_weeks_excluding_exceptions,
    ) == (2, 1)
    assert december.percent_excluding_exceptions == 50.0
    assert (december.with_exceptions, december.with_exceptions_within_adjusted_limit) == (2, 1)
    assert (january.month, january.percent_within_six_weeks) == ("2027-01", 100.0)


def test_a_month_of_only_exceptions_has_no_share_excluding_them() -> None:
    [only] = monthly_timeliness([row(date(2026, 12, 1), False, exception=True)])
    assert only.percent_excluding_exceptions is None
    assert percent(1, 3) == 33.3 and monthly_timeliness([]) == []


@pytest.mark.parametrize(
    ("first", "last", "covered"),
    [
        ("2026-12", "2026-12", (date(2026, 12, 1), date(2027, 1, 1))),  # December ends the year
        ("2026-11", "2027-02", (date(2026, 11, 1), date(2027, 3, 1))),  # over New Year
        ("2028-02", "2028-02", (date(2028, 2, 1), date(2028, 3, 1))),  # 29 February included
    ],
)
def test_a_report_covers_whole_months(first: str, last: str, covered: tuple[date, date]) -> None:
    assert month_range(first, last) == covered


def test_a_report_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        month_range("2027-01", "2026-12")
    assert refused.value.field == "to"
