"""Who may consent, and dates: pure functions with no broker or database.

Dates are Europe/London calendar dates. The end of compulsory school age is the last Friday of
June of the school year (1 September to 31 August) in which the child turns 16; from the day
after it the young person decides for themselves, unless a recorded, decision-specific capacity
assessment says they cannot make that decision.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from eps_contracts.consent import ConsentScope

FRIDAY = 4


def last_friday_of_june(year: int) -> date:
    end = date(year, 6, 30)
    return end - timedelta(days=(end.weekday() - FRIDAY) % 7)


def end_of_compulsory_school_age(date_of_birth: date) -> date:
    """Last Friday of June of the school year (1 Sept - 31 Aug) in which the child turns 16."""
    turns_16_in = date_of_birth.year + 16
    school_year_ends_in = turns_16_in + 1 if date_of_birth.month >= 9 else turns_16_in
    return last_friday_of_june(school_year_ends_in)


def past_compulsory_school_age(date_of_birth: date, on: date) -> bool:
    return on > end_of_compulsory_school_age(date_of_birth)


def add_months(start: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (29 Feb + 24 months = 28 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class ChildFacts:
    """What consent rules need to know about the child (no names)."""

    child_id: uuid.UUID
    date_of_birth: date
    looked_after: bool
    parental_responsibility: tuple[str, ...]
    social_worker_id: str | None

    @property
    def young_person_id(self) -> str:
        """The young person consents as themselves; their id is the pseudonymous child id."""
        return str(self.child_id)


@dataclass(frozen=True, slots=True)
class CapacityAssessment:
    """A decision-specific capacity assessment (Mental Capacity Act 2005), as recorded."""

    scope: ConsentScope
    has_capacity: bool
    assessed_on: date
    assessor_id: str
    evidence_ref: str


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """A local authority's consent settings (data, read from its configuration table)."""

    looked_after_reconsent_months: int = 24
    default_reconsent_months: int | None = None

    def default_expiry(self, decided_on: date, looked_after: bool) -> date | None:
        months = (
            self.looked_after_reconsent_months if looked_after else self.default_reconsent_months
        )
        return add_months(decided_on, months) if months else None


def lacks_capacity(
    scope: ConsentScope, assessments: Mapping[ConsentScope, CapacityAssessment]
) -> bool:
    """Only a recorded assessment for this very decision can say the young person cannot decide."""
    assessment = assessments.get(scope)
    return assessment is not None and not assessment.has_capacity


def who_may_consent(
    child: ChildFacts,
    scope: ConsentScope,
    on: date,
    assessments: Mapping[ConsentScope, CapacityAssessment],
) -> tuple[str, ...]:
    """Everyone whose decision is needed on ``on`` for consent on ``scope`` to be valid.

    - past compulsory school age and not recorded as lacking capacity for this decision: the
      young person alone;
    - otherwise each holder of parental responsibility, and for a looked-after child also the
      social worker.
    """
    if past_compulsory_school_age(child.date_of_birth, on) and not lacks_capacity(
        scope, assessments
    ):
        return (child.young_person_id,)
    people = list(dict.fromkeys(child.parental_responsibility))
    if child.looked_after and child.social_worker_id and child.social_worker_id not in people:
        people.append(child.social_worker_id)
    return tuple(people)


def explain_who_may_consent(child: ChildFacts, scope: ConsentScope, on: date) -> str:
    end = end_of_compulsory_school_age(child.date_of_birth)
    if past_compulsory_school_age(child.date_of_birth, on):
        return (
            f"compulsory school age ended on {end.isoformat()}: the young person decides unless "
            "a capacity assessment for this decision says they cannot"
        )
    who = "each holder of parental responsibility"
    if child.looked_after:
        who += " and the social worker"
    return f"until {end.isoformat()} consent comes from {who}"
