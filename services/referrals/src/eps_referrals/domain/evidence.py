"""Request validation: age, parental responsibility, the route's own rules, the school against
the local authority's register and the school's graduated-approach evidence against the local
authority's minimum (configuration, not code)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from eps_chassis.errors import DomainError, Forbidden, OwnedElsewhere
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import GraduatedApproachEvidence

from eps_referrals.domain.commands import RegisterReferral

MAX_AGE_YEARS = 25  # EPS works with children and young people aged 0 to 25


def age_on(date_of_birth: date, on: date) -> int:
    """Completed years of age on a date (a 29 February birthday counts from 1 March)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def check_age(date_of_birth: date, requested_on: date) -> None:
    if date_of_birth > requested_on:
        raise DomainError("date of birth is after the request date", field="child.date_of_birth")
    age = age_on(date_of_birth, requested_on)
    if age > MAX_AGE_YEARS:
        raise DomainError(
            f"the child is {age} on the request date; the service works with ages 0 to "
            f"{MAX_AGE_YEARS}",
            field="child.date_of_birth",
        )


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (31 Jan -> 28 Feb counts as one)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    last_day = calendar.monthrange(end.year, end.month)[1]
    if end.day < start.day and end.day != last_day:
        months -= 1
    return months


@dataclass(frozen=True, slots=True)
class GraduatedApproachMinimum:
    """A local authority's minimum evidence before a school asks for an EP (a table row)."""

    review_cycles: int = 2
    strategies: int = 1
    months_on_sen_support: int = 0


def check_graduated_approach(
    evidence: GraduatedApproachEvidence | None, minimum: GraduatedApproachMinimum, on: date
) -> None:
    field = "graduated_approach"
    if evidence is None:
        raise DomainError("a school's request carries its graduated-approach evidence", field=field)
    if evidence.sen_support_since > on:
        raise DomainError(
            "SEN support cannot start after the request", field=f"{field}.sen_support_since"
        )
    if months_between(evidence.sen_support_since, on) < minimum.months_on_sen_support:
        raise DomainError(
            f"the local authority expects at least {minimum.months_on_sen_support} months on SEN"
            " support before a request",
            field=f"{field}.sen_support_since",
        )
    if evidence.review_cycles_completed < minimum.review_cycles:
        raise DomainError(
            f"the local authority expects at least {minimum.review_cycles} assess-plan-do-review"
            f" cycles; {evidence.review_cycles_completed} recorded",
            field=f"{field}.review_cycles_completed",
        )
    tried = [s for s in evidence.strategies_tried if s.strip()]
    if len(tried) < minimum.strategies:
        raise DomainError(
            f"the local authority expects at least {minimum.strategies} strategies tried",
            field=f"{field}.strategies_tried",
        )


@dataclass(frozen=True, slots=True)
class SchoolRegister:
    """What referrals knows of the local authority's schools, for one school URN.

    Schools are known from the register the LA loads into referrals and from scheduling's named
    EP announcements. ``in_use`` is False while the LA has no school known at all: nothing can
    be checked yet, so a request is not refused for it. ``elsewhere``: another local authority
    holds the school (a school belongs to one).
    """

    in_use: bool
    knows: bool
    elsewhere: bool = False


class UnknownSchool(DomainError):
    """A request names a school the LA's register does not hold (yet)."""

    def __init__(self, school_urn: str) -> None:
        super().__init__(
            f"unknown school {school_urn}: it is not in the local authority's register of schools",
            field="child.school_urn",
        )
        self.school_urn = school_urn


def check_school(school_urn: str | None, register: SchoolRegister) -> None:
    """A request naming a school names one of the LA's schools (a school without a named EP
    yet is known, and its referral waits visibly for one; an unknown URN is refused, and so
    is another local authority's school)."""
    if school_urn is not None and register.elsewhere:
        raise OwnedElsewhere("school", school_urn, field="child.school_urn")
    if school_urn is None or not register.in_use or register.knows:
        return
    raise UnknownSchool(school_urn)


def check_source(kind: RequesterKind, *, school_staff: bool) -> None:
    """School staff submit their school's own request; the other routes (parents, the Virtual
    School, social workers and foster carers, SEND services) are entered by the EPS, so a
    school's request cannot skip its graduated-approach evidence by naming another route."""
    if school_staff and kind is not RequesterKind.SCHOOL_SENCO:
        raise Forbidden(
            f"school staff submit school requests (school_senco), not {kind} requests",
            field="requester.kind",
        )


def check_request(cmd: RegisterReferral, minimum: GraduatedApproachMinimum) -> None:
    """Every rule a request must pass whatever its source; the field at fault is named."""
    child, requester = cmd.child, cmd.requester
    check_age(child.date_of_birth, cmd.requested_on)
    if not child.parental_responsibility and age_on(child.date_of_birth, cmd.requested_on) < 18:
        raise DomainError(
            "name at least one holder of parental responsibility for a child under 18",
            field="child.parental_responsibility",
        )
    if requester.kind is RequesterKind.VIRTUAL_SCHOOL and not child.looked_after:
        raise DomainError(
            "the Virtual School refers looked-after children only", field="child.looked_after"
        )
    if requester.kind is RequesterKind.FOSTER_CARER and not child.looked_after:
        raise DomainError("a foster carer refers a looked-after child", field="child.looked_after")
    if requester.kind is RequesterKind.SCHOOL_SENCO:
        if requester.school_urn is None:
            raise DomainError("a SENCO's request names their school", field="requester.school_urn")
        if child.school_urn != requester.school_urn:
            raise DomainError(
                "a SENCO refers children of their own school only", field="child.school_urn"
            )
        check_graduated_approach(cmd.graduated_approach, minimum, cmd.requested_on)
    if cmd.exclusion_tier is not None and "risk_of_exclusion" not in cmd.priority_groups:
        raise DomainError(
            "an exclusion tier applies only with the risk_of_exclusion priority group",
            field="exclusion_tier",
        )
