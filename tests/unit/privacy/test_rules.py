"""The clocks of data protection: a subject access request's month as the ICO counts it, its
extension, and the day a child's records reach the end of their retention."""

from __future__ import annotations

from datetime import date

import pytest
from eps_privacy.domain.rules import RetentionSchedule, retention_ends, subject_access_due


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2027, 1, 3), date(2027, 2, 3)),  # the corresponding day of the next month
        (date(2027, 1, 31), date(2027, 2, 28)),  # no 31 February: the month's last day
        (date(2028, 1, 31), date(2028, 2, 29)),  # a leap year
        (date(2027, 3, 31), date(2027, 4, 30)),
        (date(2027, 12, 15), date(2028, 1, 15)),  # across the year's end
        (date(2027, 2, 28), date(2027, 3, 28)),  # not the month's end: 28 March, not the 31st
    ],
)
def test_a_request_is_due_one_calendar_month_after_receipt(received: date, due: date) -> None:
    assert subject_access_due(received) == due


def test_a_complex_request_may_be_extended_by_two_further_months() -> None:
    assert subject_access_due(date(2027, 1, 31), 1) == date(2027, 3, 31)
    assert subject_access_due(date(2027, 1, 31), 2) == date(2027, 4, 30)
    assert subject_access_due(date(2026, 11, 30), 2) == date(2027, 2, 28)
    with pytest.raises(ValueError, match="0 to 2"):
        subject_access_due(date(2027, 1, 31), 3)


def test_casework_is_kept_until_the_25th_birthday_by_default() -> None:
    schedule = RetentionSchedule()
    assert retention_ends(date(2010, 6, 15), schedule) == date(2035, 6, 15)
    # born on 29 February: the period ends on 28 February of a common year
    assert retention_ends(date(2012, 2, 29), schedule) == date(2037, 2, 28)
    assert retention_ends(date(2010, 6, 15), RetentionSchedule(30)) == date(2040, 6, 15)
