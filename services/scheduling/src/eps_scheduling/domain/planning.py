"""Two planning meetings a year per school (autumn and spring terms) in the named EP's diary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

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
    """The first free slot of the term (not in the past) in the named EP's diary, at the school."""
    window = term_window(academic_year, term, policy)
    if now >= window.end:
        return None
    window = Interval(max(window.start, now), window.end)
    return find_slot(ep, diary, window, policy.planning_meeting_minutes, school.school_urn, policy)
