"""The capacity planner's bookkeeping: every piece of demand drawn is served or still open, no
EP is booked beyond their week or twice at once, and both rules face the same demand."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from itertools import pairwise

import pytest
from eps_chassis.london import london_date
from eps_contracts.scheduling import AppointmentKind
from eps_scheduling.domain.model import AppointmentStatus, BookingRule

from tools.capacity.report import Figures
from tools.capacity.scenario import Scenario
from tools.capacity.simulation import Result, Simulation, is_unavailable

# A small, overloaded LA: three EPs for 16 schools at 1.8 times the demand, so queues,
# displacement and re-planning all happen within a test's time.
SMALL = replace(Scenario(), schools=16, ep_posts=3, demand=1.8, incidents_per_year=6.0)


@pytest.fixture(scope="module", params=list(BookingRule))
def year(request: pytest.FixtureRequest) -> Result:
    return Simulation(SMALL, request.param, seed=7).run()


def test_demand_drawn_is_demand_served_plus_what_is_still_open(year: Result) -> None:
    simulation = Simulation(SMALL, year.rule, seed=7)
    drawn = [what for _, what in simulation.arrivals if not what.startswith("incident")]
    assert len(year.cases) == len(drawn) > 200
    waiting = {id(r.case) for r in year.waiting}
    in_diaries = {
        a.appointment_id
        for diary in year.diaries.values()
        for a in diary
        if a.status is AppointmentStatus.BOOKED
    }
    assert set(year.booked) <= in_diaries
    booked = {id(case) for case in year.booked.values()}
    served = {id(c) for c in year.cases if c.closed}
    open_cases = waiting | booked
    assert not served & open_cases  # served and open are apart
    assert len(served) + len(open_cases) == len(year.cases)  # and together they are all
    assert len(served) > len(year.cases) // 2
    assert sum(1 for _, what in simulation.arrivals if what.startswith("incident")) == len(
        year.incidents
    )


def test_no_ep_is_booked_beyond_their_week_or_twice_at_once(year: Result) -> None:
    for ep in year.eps:
        booked = [a for a in year.diaries[ep.ep_id] if a.occupies_diary]
        week: dict[tuple[int, int], int] = defaultdict(int)
        for a in booked:
            if a.kind is not AppointmentKind.CRITICAL_INCIDENT_RESPONSE or is_unavailable(a):
                week[london_date(a.starts_at).isocalendar()[:2]] += a.minutes
        # incidents take precedence over capacity (as in the service); nothing else may
        assert max(week.values()) <= ep.weekly_capacity_minutes, ep.ep_id
        ordered = sorted(booked, key=lambda a: a.starts_at)
        assert all(a.ends_at <= b.starts_at for a, b in pairwise(ordered)), ep.ep_id
        for a in booked:
            hours = ep.pattern.hours_on(london_date(a.starts_at))
            assert hours is not None and hours.start <= a.starts_at and a.ends_at <= hours.end


def test_both_rules_face_the_same_demand_and_a_seed_repeats_itself() -> None:
    first_free = Simulation(SMALL, BookingRule.FIRST_FREE, seed=3)
    deadline_aware = Simulation(SMALL, BookingRule.DEADLINE_AWARE, seed=3)
    assert first_free.arrivals == deadline_aware.arrivals
    assert [s.named_ep_id for s in first_free.schools] == [
        s.named_ep_id for s in deadline_aware.schools
    ]
    again = Simulation(SMALL, BookingRule.FIRST_FREE, seed=3).run()
    assert Figures.of(first_free.run()) == Figures.of(again)


def test_the_deadline_aware_rule_gets_more_advice_in_on_time_when_eps_are_short() -> None:
    first_free = Simulation(SMALL, BookingRule.FIRST_FREE, seed=7).run()
    deadline_aware = Simulation(SMALL, BookingRule.DEADLINE_AWARE, seed=7).run()
    assert first_free.on_time_share() < 0.8
    assert deadline_aware.on_time_share() > first_free.on_time_share() + 0.1
