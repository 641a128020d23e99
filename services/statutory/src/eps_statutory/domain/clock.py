"""The statutory clock: pure date rules, in Europe/London calendar days and weeks.

- Reg 8(1): the advice is due within ``advice_weeks`` (6) weeks of the date the EPS received the
  LA's request. The date is the Europe/London calendar date of receipt, whatever the hour (a
  request arriving at 23:50 on a Friday was received that Friday; one arriving at 23:30 UTC on a
  summer Friday arrived on Saturday in London). Weeks are calendar weeks: the last day is the
  same weekday ``advice_weeks`` weeks later, and the clock runs through school holidays.
- Reg 13: the original EHC needs assessment request date is kept, for the 20-week context.
- Reg 8(2): exceptions (exceptional personal circumstances; the child or a parent away from the
  area for 4 weeks or more; a missed appointment) stop the clock for their days or disapply the
  limit, as the LA's :class:`ExceptionRule` says. Only days after receipt count, overlapping
  exceptions count once, and an exception recorded after the fact counts the same as one
  recorded at the time. School holidays are not an exception.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from eps_chassis.errors import DomainError
from eps_contracts.statutory import ExceptionKind

from eps_statutory.domain.policy import ExceptionRule

AWAY_MIN_DAYS = 28  # reg 8(2)(b): away from the area "for a period of at least 4 weeks"
TWENTY_WEEKS = timedelta(weeks=20)  # reg 13: final EHC plan within 20 weeks of the request

_HOLIDAY_WORDS = ("holiday", "half_term", "half-term", "vacation", "term_break")


def six_week_due_on(received_on: date, weeks: int = 6) -> date:
    """Last day without exceptions: the same weekday ``weeks`` calendar weeks later."""
    return received_on + timedelta(weeks=weeks)


def plan_due_on(assessment_requested_on: date) -> date:
    """Reg 13 context: the final EHC plan is due 20 weeks after the assessment request."""
    return assessment_requested_on + TWENTY_WEEKS


@dataclass(frozen=True, slots=True)
class ClockException:
    """A recorded reg 8(2) exception (what the clock needs, plus what must be kept)."""

    exception_id: uuid.UUID
    kind: ExceptionKind
    starts_on: date
    ends_on: date  # inclusive
    reason: str
    evidence: tuple[str, ...]
    parents_notified_on: date
    recorded_on: date
    recorded_by: str

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


def due_on(
    received_on: date,
    weeks: int,
    rule: ExceptionRule,
    exceptions: Sequence[ClockException],
) -> date | None:
    """The last day for the advice after exceptions; ``None`` when the limit is disapplied.

    Under ``EXTEND_BY_LENGTH`` the clock counts ``weeks * 7`` running days after the day of
    receipt, and a day inside any exception does not run: the last day moves by the number of
    exception days it meets, overlaps counted once, extensions able to meet later exceptions.
    """
    if not exceptions:
        return six_week_due_on(received_on, weeks)
    if rule is ExceptionRule.DISAPPLY:
        return None
    day, running = received_on, 0
    while running < weeks * 7:
        day += timedelta(days=1)
        if not any(e.covers(day) for e in exceptions):
            running += 1
    return day


def days_remaining(due: date, today: date) -> int:
    """Whole days from today to the last day (0 on the day, negative once missed)."""
    return (due - today).days


def parse_exception_kind(value: str) -> ExceptionKind:
    """An exception kind from input, with the rule spelled out for the usual mistake."""
    try:
        return ExceptionKind(value)
    except ValueError:
        if any(word in value.lower() for word in _HOLIDAY_WORDS):
            raise DomainError(
                "school holidays are not an exception to the 6-week limit for EP advice"
                " (SEND Regulations 2014 reg 8(2); Code of Practice 9.42)",
                field="kind",
            ) from None
        allowed = ", ".join(k.value for k in ExceptionKind)
        raise DomainError(f"not a reg 8(2) exception; allowed: {allowed}", field="kind") from None


def check_exception(
    exception: ClockException, *, received_on: date, current_due: date | None, today: date
) -> None:
    """Refuse an exception the regulations do not allow or the record cannot prove."""
    if not exception.reason.strip():
        raise DomainError("give the reason for the exception", field="reason")
    if not any(item.strip() for item in exception.evidence):
        raise DomainError("name the evidence for the exception", field="evidence")
    if exception.ends_on < exception.starts_on:
        raise DomainError("the exception ends before it starts", field="ends_on")
    if exception.ends_on <= received_on:
        raise DomainError(
            "the exception ended before the clock started (the day the request was received)",
            field="ends_on",
        )
    if current_due is not None and exception.starts_on > current_due:
        raise DomainError(
            f"the exception starts after the last day ({current_due.isoformat()}); it cannot"
            " explain a deadline already missed",
            field="starts_on",
        )
    if exception.kind is ExceptionKind.CHILD_OR_PARENT_AWAY and exception.days < AWAY_MIN_DAYS:
        raise DomainError(
            f"the child or parent must be away from the area for 4 weeks or more (reg 8(2)(b));"
            f" these dates cover {exception.days} days",
            field="ends_on",
        )
    if exception.parents_notified_on > today:
        raise DomainError(
            "the parents' notice cannot be dated in the future", field="parents_notified_on"
        )
