"""The incident aggregate: report, acknowledgement and escalation, lifecycle, response clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_chassis.london import LONDON
from eps_contracts.incidents import (
    FastTrackAllocationRequested,
    IncidentAcknowledged,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentLeftUnassigned,
    IncidentReported,
    IncidentResponseTargetBreached,
    ResponseClock,
)
from eps_incidents.domain.model import ClockState, Incident, IncidentStatus
from eps_incidents.domain.rota import Rota

from tests.support.builders.incidents import (
    MIN,
    allocated_ep,
    entry,
    policy,
    report,
    reported,
    rota_around,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday morning (GMT)


def test_a_report_is_assigned_to_the_coordinator_on_call_and_asks_for_eps_at_once() -> None:
    incident = Incident.report_new("leicester-city", report(2), T0, policy(), rota_around(T0))
    reported_event, fast_track = incident.events
    assert isinstance(reported_event, IncidentReported)
    assert reported_event.assigned_to == "coord-a" and reported_event.level == 2
    assert isinstance(fast_track, FastTrackAllocationRequested)
    assert fast_track.eps_needed == 2 and fast_track.duration_minutes == 180
    assert fast_track.needed_by == T0 + timedelta(hours=24)  # the level-2 first visit
    assert not fast_track.senior_lead_required
    assert incident.chain == ("coord-a", "coord-b", "pep-1")
    assert incident.status == IncidentStatus.REPORTED and incident.escalations == []


def test_level_1_asks_for_one_ep_by_the_end_of_the_london_day_and_level_3_for_a_senior_lead() -> (
    None
):
    late = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 23:30 BST
    one = Incident.report_new("la", report(1, occurred_at=late), late, policy(), rota_around(late))
    ask = one.events[1]
    assert isinstance(ask, FastTrackAllocationRequested)
    assert ask.eps_needed == 1 and ask.needed_by == late + timedelta(hours=2)
    three = Incident.report_new("la", report(3), T0, policy(), rota_around(T0))
    ask3 = three.events[1]
    assert isinstance(ask3, FastTrackAllocationRequested)
    assert ask3.eps_needed == 3 and ask3.senior_lead_required


def test_nobody_on_call_goes_straight_to_the_principal_and_the_escalation_is_recorded() -> None:
    incident = Incident.report_new("la", report(2), T0, policy(), Rota([]))
    assert incident.assigned_to == "pep-1"
    assert [(e.from_person, e.to_person, e.reason) for e in incident.escalations] == [
        (None, "pep-1", "no coordinator on call")
    ]
    assert any(isinstance(e, IncidentEscalated) for e in incident.events)


def test_with_nobody_on_call_and_no_principal_the_incident_says_so_and_anyone_may_take_it() -> None:
    incident = Incident.report_new("la", report(2), T0, policy(principal=None), Rota([]))
    assert incident.assigned_to is None
    unassigned = [e for e in incident.events if isinstance(e, IncidentLeftUnassigned)]
    assert [e.reason for e in unassigned] == ["nobody on call and no principal EP configured"]
    assert any(isinstance(e, FastTrackAllocationRequested) for e in incident.events)
    incident.acknowledge("coord-z", T0 + MIN, may_act_for_anyone=False)
    assert incident.acknowledged_by == "coord-z"


def test_an_assigned_incident_is_not_reported_unassigned() -> None:
    incident = Incident.report_new("la", report(2), T0, policy(), Rota([]))
    assert not any(isinstance(e, IncidentLeftUnassigned) for e in incident.events)


def test_a_report_from_the_future_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        Incident.report_new(
            "la", report(2, occurred_at=T0 + timedelta(hours=1)), T0, policy(), rota_around(T0)
        )
    assert refused.value.field == "occurred_at"


def test_unacknowledged_incident_escalates_to_the_backup_then_the_principal_then_stops() -> None:
    incident = reported(T0)
    assert incident.escalation_due_at == T0 + 15 * MIN
    assert not incident.escalate_if_due(T0 + 15 * MIN - timedelta(seconds=1))
    assert incident.escalate_if_due(T0 + 15 * MIN)
    assert incident.assigned_to == "coord-b"
    assert incident.escalation_due_at == T0 + 30 * MIN  # the backup gets a full window
    assert incident.escalate_if_due(T0 + 31 * MIN)
    assert incident.assigned_to == "pep-1"
    assert incident.escalation_due_at is None  # the principal EP is the end of the chain
    assert not incident.escalate_if_due(T0 + 24 * 60 * MIN)
    assert [(e.from_person, e.to_person) for e in incident.escalations] == [
        ("coord-a", "coord-b"),
        ("coord-b", "pep-1"),
    ]
    escalated = [e for e in incident.events if isinstance(e, IncidentEscalated)]
    assert [e.reason for e in escalated] == ["not acknowledged within 15 minutes"] * 2


def test_the_acknowledgement_window_is_configurable() -> None:
    incident = reported(T0, ack_minutes=5)
    assert incident.escalation_due_at == T0 + 5 * MIN


def test_acknowledged_incident_no_longer_escalates() -> None:
    incident = reported(T0)
    incident.acknowledge("coord-a", T0 + 5 * MIN, may_act_for_anyone=False)
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    assert incident.escalation_due_at is None
    assert not incident.escalate_if_due(T0 + 60 * MIN)
    assert isinstance(incident.events[-1], IncidentAcknowledged)


def test_only_people_reached_by_the_chain_or_senior_eps_may_acknowledge() -> None:
    incident = reported(T0)
    with pytest.raises(Forbidden):
        incident.acknowledge("coord-b", T0, may_act_for_anyone=False)  # not escalated yet
    with pytest.raises(Forbidden):
        incident.acknowledge("someone-else", T0, may_act_for_anyone=False)
    incident.escalate_if_due(T0 + 15 * MIN)
    incident.acknowledge("coord-b", T0 + 16 * MIN, may_act_for_anyone=False)
    assert incident.acknowledged_by == "coord-b"
    other = reported(T0)
    other.acknowledge("senior-ep-9", T0 + MIN, may_act_for_anyone=True)
    assert other.status == IncidentStatus.ACKNOWLEDGED


def test_the_whole_lifecycle_in_order() -> None:
    incident = reported(T0)
    incident.acknowledge("coord-a", T0 + 5 * MIN, may_act_for_anyone=False)
    incident.record_allocation(
        (allocated_ep("ep-1", T0 + 60 * MIN), allocated_ep("ep-2", T0 + 60 * MIN)), 0, T0 + MIN
    )
    assert incident.status == IncidentStatus.EPS_ALLOCATED
    incident.record_first_contact(T0 + 30 * MIN, T0 + 31 * MIN)
    assert incident.status == IncidentStatus.FIRST_CONTACT_MADE
    incident.record_visit(T0 + 2 * 60 * MIN, ("ep-1", "ep-2"), T0 + 5 * 60 * MIN)
    incident.record_visit(T0 + 26 * 60 * MIN, ("ep-1",), T0 + 27 * 60 * MIN)  # a second visit
    assert incident.status == IncidentStatus.VISITS_DONE and len(incident.visits) == 2
    incident.plan_follow_up(date(2026, 11, 16), "review with the head", T0 + 28 * 60 * MIN)
    assert incident.status == IncidentStatus.FOLLOW_UP_PLANNED
    incident.close("Two visits; staff supported; review booked.", T0 + 29 * 60 * MIN)
    assert incident.status == IncidentStatus.CLOSED and not incident.is_open
    assert incident.breaches == set()
    assert {c.state for c in incident.clocks(T0 + 30 * 60 * MIN)} == {ClockState.MET}


def test_allocation_before_acknowledgement_is_kept_and_the_status_catches_up() -> None:
    incident = reported(T0)
    incident.record_allocation((allocated_ep("ep-1", T0 + 60 * MIN),), 1, T0 + MIN)
    assert incident.status == IncidentStatus.REPORTED and incident.shortfall == 1
    incident.acknowledge("coord-a", T0 + 2 * MIN, may_act_for_anyone=False)
    assert incident.status == IncidentStatus.EPS_ALLOCATED


def test_the_same_allocation_twice_changes_nothing() -> None:
    incident = reported(T0)
    eps = (allocated_ep("ep-1", T0 + 60 * MIN),)
    assert incident.record_allocation(eps, 0, T0 + MIN)
    assert not incident.record_allocation(eps, 0, T0 + 2 * MIN)
    assert incident.allocated_at == T0 + MIN


def test_an_answer_with_nobody_is_recorded_with_its_reason_once_and_the_clock_runs_on() -> None:
    incident = reported(T0)
    incident.acknowledge("coord-a", T0 + MIN, may_act_for_anyone=False)
    incident.events.clear()
    reason = "school 123456 is not known to scheduling (no named EP or location)"
    assert incident.record_allocation((), 2, T0 + 2 * MIN, reason)
    assert incident.status == IncidentStatus.ACKNOWLEDGED  # nobody is going yet
    assert incident.shortfall == 2 and incident.shortfall_reason == reason
    assert incident.answered_at == T0 + 2 * MIN and incident.allocated_at is None
    [event] = incident.events
    assert isinstance(event, IncidentEpsAllocated)
    assert event.ep_ids == () and event.shortfall == 2 and event.shortfall_reason == reason
    # the same answer redelivered changes nothing and publishes nothing
    assert not incident.record_allocation((), 2, T0 + 3 * MIN, reason)
    assert len(incident.events) == 1
    clocks = {c.clock: c for c in incident.clocks(T0 + 3 * 60 * MIN)}
    assert clocks[ResponseClock.ALLOCATE].state is ClockState.OVERDUE


@pytest.mark.parametrize(
    ("step", "status"),
    [
        ("ack", IncidentStatus.ACKNOWLEDGED),
        ("contact", IncidentStatus.REPORTED),
        ("contact", IncidentStatus.VISITS_DONE),
        ("visit", IncidentStatus.EPS_ALLOCATED),
        ("follow_up", IncidentStatus.FIRST_CONTACT_MADE),
        ("close", IncidentStatus.VISITS_DONE),
        ("allocate", IncidentStatus.CLOSED),
    ],
)
def test_invalid_transitions_are_refused(step: str, status: IncidentStatus) -> None:
    incident = reported(T0)
    incident.status = status
    incident.first_contact_at = T0 + MIN
    now = T0 + 60 * MIN
    actions = {
        "ack": lambda: incident.acknowledge("coord-a", now, may_act_for_anyone=True),
        "contact": lambda: incident.record_first_contact(now, now),
        "visit": lambda: incident.record_visit(now, ("ep-1",), now),
        "follow_up": lambda: incident.plan_follow_up(date(2026, 12, 1), "plan", now),
        "close": lambda: incident.close("summary", now),
        "allocate": lambda: incident.record_allocation((allocated_ep("e", now),), 0, now),
    }
    with pytest.raises(Conflict):
        actions[step]()
    assert incident.status == status


def test_level_1_needs_no_visit_before_the_follow_up() -> None:
    incident = reported(T0, level=1)
    incident.acknowledge("coord-a", T0 + MIN, may_act_for_anyone=False)
    incident.record_allocation((allocated_ep("ep-1", T0 + 10 * MIN),), 0, T0 + MIN)
    incident.record_first_contact(T0 + 20 * MIN, T0 + 21 * MIN)
    incident.plan_follow_up(date(2026, 11, 9), "phone again in a week", T0 + 22 * MIN)
    assert incident.status == IncidentStatus.FOLLOW_UP_PLANNED
    assert [c.clock for c in incident.clocks(T0)] == [
        ResponseClock.ACKNOWLEDGE,
        ResponseClock.ALLOCATE,
        ResponseClock.FIRST_CONTACT,
    ]


def test_steps_cannot_be_dated_in_the_future_or_before_the_previous_step() -> None:
    incident = reported(T0)
    incident.acknowledge("coord-a", T0 + MIN, may_act_for_anyone=False)
    incident.record_allocation((allocated_ep("ep-1", T0),), 0, T0 + MIN)
    with pytest.raises(DomainError) as future:
        incident.record_first_contact(T0 + 10 * MIN, T0 + 5 * MIN)
    assert future.value.field == "made_at"
    with pytest.raises(DomainError) as early:
        incident.record_first_contact(T0 - MIN, T0 + 5 * MIN)
    assert early.value.field == "made_at"
    incident.record_first_contact(T0 + 4 * MIN, T0 + 5 * MIN)
    with pytest.raises(DomainError) as before_contact:
        incident.record_visit(T0 + 3 * MIN, ("ep-1",), T0 + 5 * MIN)
    assert before_contact.value.field == "visited_at"
    with pytest.raises(DomainError) as closing:
        incident.status = IncidentStatus.FOLLOW_UP_PLANNED
        incident.close("   ", T0 + 6 * MIN)
    assert closing.value.field == "summary"


def test_a_passed_target_is_a_breach_event_once() -> None:
    incident = reported(T0)
    assert incident.next_clock_due_at == T0 + 15 * MIN  # acknowledge first
    assert incident.check_breaches(T0 + 15 * MIN) == []  # due, not yet passed
    assert incident.check_breaches(T0 + 16 * MIN) == [ResponseClock.ACKNOWLEDGE]
    assert incident.check_breaches(T0 + 17 * MIN) == []  # reported once
    assert incident.next_clock_due_at == T0 + 120 * MIN  # allocation is the next target
    breach = incident.events[-1]
    assert isinstance(breach, IncidentResponseTargetBreached)
    assert breach.clock == ResponseClock.ACKNOWLEDGE and breach.due_at == T0 + 15 * MIN


def test_a_target_met_late_is_a_breach_at_the_time_it_was_met() -> None:
    incident = reported(T0)
    incident.acknowledge("coord-a", T0 + 20 * MIN, may_act_for_anyone=False)
    [breach] = [e for e in incident.events if isinstance(e, IncidentResponseTargetBreached)]
    assert breach.at == T0 + 20 * MIN
    readings = {c.clock: c for c in incident.clocks(T0 + 21 * MIN)}
    assert readings[ResponseClock.ACKNOWLEDGE].state == ClockState.MISSED
    assert readings[ResponseClock.ACKNOWLEDGE].elapsed == 20 * MIN
    assert readings[ResponseClock.ALLOCATE].state == ClockState.RUNNING


def test_level_1_first_contact_is_due_at_london_midnight_even_across_the_clock_change() -> None:
    # 25 October 2026, 10:00 BST: the day has 25 hours and ends at 00:00 GMT = 00:00 UTC
    morning = datetime(2026, 10, 25, 10, 0, tzinfo=LONDON)
    incident = Incident.report_new(
        "la", report(1, occurred_at=morning), morning, policy(), rota_around(morning)
    )
    contact = {c.clock: c for c in incident.clocks(morning)}[ResponseClock.FIRST_CONTACT]
    assert contact.due_at == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)


def test_follow_up_review_cannot_be_before_today_in_london() -> None:
    incident = reported(T0)
    incident.status = IncidentStatus.VISITS_DONE
    just_after_midnight_bst = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 2 July 00:30 in London
    with pytest.raises(DomainError) as refused:
        incident.plan_follow_up(date(2026, 7, 1), "plan", just_after_midnight_bst)
    assert refused.value.field == "review_on"
    incident.plan_follow_up(date(2026, 7, 2), "plan", just_after_midnight_bst)


def test_rota_override_decides_who_gets_the_incident() -> None:
    rota = Rota(
        [
            entry("coord-a", T0 - timedelta(hours=4), 12),
            entry("coord-z", T0 - timedelta(hours=1), 2, override=True),
        ]
    )
    incident = Incident.report_new("la", report(2), T0, policy(), rota)
    assert incident.assigned_to == "coord-z"
