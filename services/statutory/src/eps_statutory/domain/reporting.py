"""Timeliness as the DfE reports it: share of advice submitted within 6 weeks, per month of
submission, counted with all advice ("including exceptions") and with the advice that had a
reg 8(2) exception left out ("excluding exceptions"). Advice with an exception is also counted
against its own, adjusted, last day."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from eps_chassis.errors import DomainError


@dataclass(frozen=True, slots=True)
class SubmittedAdvice:
    submitted_on: date
    within_six_weeks: bool
    within_time_limit: bool
    exception_applied: bool


@dataclass(frozen=True, slots=True)
class MonthlyTimeliness:
    month: str  # YYYY-MM, the month of submission (Europe/London date)
    submitted: int
    within_six_weeks: int
    percent_within_six_weeks: float | None
    submitted_excluding_exceptions: int
    within_six_weeks_excluding_exceptions: int
    percent_excluding_exceptions: float | None
    with_exceptions: int
    with_exceptions_within_adjusted_limit: int


def percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def monthly_timeliness(rows: Iterable[SubmittedAdvice]) -> list[MonthlyTimeliness]:
    by_month: dict[str, list[SubmittedAdvice]] = {}
    for row in rows:
        by_month.setdefault(row.submitted_on.strftime("%Y-%m"), []).append(row)
    report = []
    for month in sorted(by_month):
        month_rows = by_month[month]
        plain = [r for r in month_rows if not r.exception_applied]
        excepted = [r for r in month_rows if r.exception_applied]
        on_time = sum(r.within_six_weeks for r in month_rows)
        plain_on_time = sum(r.within_six_weeks for r in plain)
        report.append(
            MonthlyTimeliness(
                month=month,
                submitted=len(month_rows),
                within_six_weeks=on_time,
                percent_within_six_weeks=percent(on_time, len(month_rows)),
                submitted_excluding_exceptions=len(plain),
                within_six_weeks_excluding_exceptions=plain_on_time,
                percent_excluding_exceptions=percent(plain_on_time, len(plain)),
                with_exceptions=len(excepted),
                with_exceptions_within_adjusted_limit=sum(r.within_time_limit for r in excepted),
            )
        )
    return report


def month_range(first: str, last: str) -> tuple[date, date]:
    """The dates of submission a report from month ``first`` to month ``last`` (both YYYY-MM,
    inclusive) covers: from the 1st of ``first`` up to, not including, the 1st after ``last``
    (so 31 December is December's, and a report ending in December ends on 1 January)."""
    start, end_month = _month_start(first, "from"), _month_start(last, "to")
    if end_month < start:
        raise DomainError("'to' is before 'from'", field="to")
    following = date(end_month.year + end_month.month // 12, end_month.month % 12 + 1, 1)
    return start, following


def _month_start(value: str, name: str) -> date:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise DomainError("give a month as YYYY-MM", field=name) from None
