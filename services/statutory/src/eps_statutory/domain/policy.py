"""Each local authority's statutory-advice figures and rules: data, not constants.

A missing row in the ``policies`` table means the defaults below (the figures of
``shared/domain.md``). The rules that set an advice's deadline are copied onto the advice when
the request arrives, so a later change of policy never moves a running clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eps_chassis.errors import DomainError


class ExceptionRule(StrEnum):
    """What a reg 8(2) exception does to the clock, by LA rule."""

    EXTEND_BY_LENGTH = "extend_by_length"
    """The clock stops for the exception's days: the last day moves by that many days."""
    DISAPPLY = "disapply"
    """The time limit no longer applies to this advice (no last day, no breach)."""


class AllocationRule(StrEnum):
    NAMED_EP = "named_ep"
    """The school's named EP; the statutory team when the child has no school or it has none."""
    STATUTORY_TEAM = "statutory_team"
    """Always the statutory team."""


@dataclass(frozen=True, slots=True)
class LaPolicy:
    advice_weeks: int = 6
    """Weeks from receipt of the LA's request (reg 8(1))."""
    at_risk_days: int = 10
    """An advice due within this many days with no assessment booked or no draft is at risk."""
    exception_rule: ExceptionRule = ExceptionRule.EXTEND_BY_LENGTH
    allocation_rule: AllocationRule = AllocationRule.NAMED_EP
    assessment_minutes: int = 180
    """Length of the assessment visit booked through scheduling."""
    booking_margin_days: int = 14
    """The visit must take place at least this many days before the last day (for writing)."""
    tribunal_evidence_lead_days: int = 21
    """When an appeal gives no evidence date: evidence due this many days before the hearing."""

    def __post_init__(self) -> None:
        checks = {
            "advice_weeks": 1 <= self.advice_weeks <= 52,
            "at_risk_days": 0 <= self.at_risk_days <= 365,
            "assessment_minutes": 0 < self.assessment_minutes <= 8 * 60,
            "booking_margin_days": 0 <= self.booking_margin_days < self.advice_weeks * 7,
            "tribunal_evidence_lead_days": 0 <= self.tribunal_evidence_lead_days <= 365,
        }
        for name, ok in checks.items():
            if not ok:
                raise DomainError(f"{name} is out of range", field=name)
