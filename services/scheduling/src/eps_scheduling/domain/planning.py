"""Two planning meetings a year per school (autumn and spring terms) in the named EP's diary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

from eps_chassis.london import academic_year_of, london_date

from eps_scheduling.domain.availability import find_slot
from eps_scheduling.domain.calendar import Interval, local_instant
from eps_scheduling.domain.model import Appointment, Ep, Policy, School


class Term(StrEnum):
    AUTUMN = "autumn"
    SPRING = "spring"


def term_window(academic_year: int, term: Term, policy: Policy) -> Interval:
    """The LA's window for a term's planning meeting, whole London days inclusive."""
    if term is Term.AUTUMN:
        (sm, sd), (em, ed) = policy.autumn_term
        year = academic_year
    else:
        (sm, sd), (em, ed) = policy.spring_term
        year = academic_year + 1
    first, last = date(year, sm, sd), date(year, em, ed)
    return Interval(local_instant(first, 0), local_instant(last + timedelta(days=1), 0))


def propose_planning_meeting(
    ep: Ep,
    diary: Sequence[Appointment],
    school: School,
    academic_year: int,
    term: Term,
    policy: Policy,
    now: datetime,
) -> Interval | None:
    """The first free slot of the term in the named EP's diary, at the school, with notice.

    Never sooner than ``policy.planning_notice_days`` whole London days after today (with no
    notice: not in the past), so the school can arrange to be there.
    """
    window = term_window(academic_year, term, policy)
    earliest = notice_from(now, policy)
    if earliest >= window.end:
        return None
    window = Interval(max(window.start, earliest), window.end)
    return find_slot(ep, diary, window, policy.planning_meeting_minutes, school.school_urn, policy)


def notice_from(now: datetime, policy: Policy) -> datetime:
    """The earliest start of a planning meeting proposed at ``now``."""
    if policy.planning_notice_days == 0:
        return now
    return local_instant(london_date(now) + timedelta(days=policy.planning_notice_days), 0)


def term_over(academic_year: int, term: Term, policy: Policy, now: datetime) -> bool:
    """Too late for the term: its window ends before a meeting proposed now could start."""
    return notice_from(now, policy) >= term_window(academic_year, term, policy).end


def planning_year(now: datetime, policy: Policy) -> int:
    """The school year whose planning meetings are proposed at ``now``.

    The current school year until its spring planning window ends; from then on the next one,
    so that schools know their autumn date before the summer holidays.
    """
    current = academic_year_of(london_date(now))
    if term_over(current, Term.SPRING, policy, now):
        return current + 1
    return current
