"""The incidents service's handlers against a fake unit of work: no broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict, DomainError, Forbidden, NotFound
from eps_contracts.incidents import (
    FastTrackAllocationRequested,
    IncidentAcknowledged,
    IncidentClosed,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentFirstContactMade,
    IncidentFollowUpPlanned,
    IncidentReported,
    IncidentResponseTargetBreached,
    IncidentVisitRecorded,
    OnCallRotaGapFound,
    ResponseClock,
)
from eps_incidents.domain import commands
from eps_incidents.domain.model import IncidentStatus
from eps_incidents.domain.policy import LevelTargets, Target
from eps_incidents.domain.rota import RotaPosition
from eps_incidents.service_layer import handlers

from tests.support.builders import incidents as builders
from tests.support.clock import FakeClock
from tests.support.fakes.incidents import FakeIncidentsUnitOfWork

MIN = builders.MIN
T0 = datetime(2026, 11, 2, 23, 50, tzinfo=UTC)  # late evening


async def on_call(clock: FakeClock | None = None) -> FakeIncidentsUnitOfWork:
    """'coord-a' on call, 'coord-b' as backup for a day either side, 'pep-1' the principal EP."""
    uow = FakeIncidentsUnitOfWork(clock=clock or FakeClock(T0))
    await handlers.set_incident_policy(commands.SetIncidentPolicy(15, "pep-1", 48), uow)
    start = uow.clock() - timedelta(days=1)
    for who, position in (("coord-a", RotaPosition.PRIMARY), ("coord-b", RotaPosition.BACKUP)):
        await handlers.add_rota_entry(
            commands.AddRotaEntry(who, position, start, start + timedelta(days=2)), uow
        )
    return uow


async def reported(uow: FakeIncidentsUnitOfWork, level: int = 2) -> uuid.UUID:
    report = builders.report(level, occurred_at=uow.clock() - 20 * MIN)
    incident_id = await handlers.report_incident(commands.ReportIncident(report), uow)
    uow.commit()
    return incident_id


async def test_a_report_goes_to_whoever_is_on_call_and_asks_for_eps_at_once() -> None:
    uow = await on_call()
    report = builders.report(2, occurred_at=T0 - 20 * MIN)
    incident_id = await handlers.report_incident(commands.ReportIncident(report), uow)
    again = await handlers.report_incident(commands.ReportIncident(report), uow)  # a retry
    assert again == incident_id
    [reported_] = uow.events_of(IncidentReported)
    assert isinstance(reported_, IncidentReported)
    assert reported_.assigned_to == "coord-a" and reported_.at == T0  # the unit's clock
    [request] = uow.events_of(FastTrackAllocationRequested)
    assert isinstance(request, FastTrackAllocationRequested)
    assert request.incident_id == incident_id and request.eps_needed == 2
    assert uow.incidents.incidents[incident_id].chain == ("coord-a", "coord-b", "pep-1")


async def test_an_upstream_report_is_recorded_at_the_time_it_was_sent() -> None:
    uow = await on_call()
    sent = T0 - 3 * MIN
    report = builders.report(1, occurred_at=T0 - 20 * MIN)
    incident_id = await handlers.report_incident(commands.ReportIncident(report, sent), uow)
    assert uow.incidents.incidents[incident_id].reported_at == sent
    [reported_] = uow.events_of(IncidentReported)
    assert isinstance(reported_, IncidentReported) and reported_.at == sent


async def test_a_report_of_an_incident_in_the_future_is_refused_naming_the_field() -> None:
    uow = await on_call()
    future = builders.report(2, occurred_at=T0 + timedelta(days=1))
    with pytest.raises(DomainError) as refused:
        await handlers.report_incident(commands.ReportIncident(future), uow)
    assert refused.value.field == "occurred_at"
    assert uow.incidents.incidents == {} and uow.events_of(IncidentReported) == []


async def test_nobody_acknowledging_escalates_to_the_backup_then_the_principal() -> None:
    clock = FakeClock(T0)
    uow = await on_call(clock)
    incident_id = await reported(uow)
    clock.advance(minutes=14)
    assert await handlers.escalate_unacknowledged(uow) == 0
    clock.advance(minutes=2)  # 16 minutes, past midnight
    assert await handlers.escalate_unacknowledged(uow) == 1
    clock.advance(minutes=16)
    assert await handlers.escalate_unacknowledged(uow) == 1
    assert await handlers.escalate_unacknowledged(uow) == 0  # nobody after the principal
    escalations = [e for e in uow.events_of(IncidentEscalated) if isinstance(e, IncidentEscalated)]
    assert [(e.from_person, e.to_person) for e in escalations] == [
        ("coord-a", "coord-b"),
        ("coord-b", "pep-1"),
    ]
    assert uow.incidents.incidents[incident_id].assigned_to == "pep-1"


async def test_someone_who_cannot_be_paged_is_passed_over_at_once() -> None:
    clock = FakeClock(T0)
    uow = await on_call(clock)
    incident_id = await reported(uow)
    unreachable = commands.EscalateUnreachable(incident_id, "coord-a", "GOV.UK Notify 400")
    not_waiting = commands.EscalateUnreachable(incident_id, "coord-b", "GOV.UK Notify 400")
    assert not await handlers.escalate_unreachable(not_waiting, uow), "not the one it waits on"
    assert await handlers.escalate_unreachable(unreachable, uow)  # no 15 minutes' wait
    assert not await handlers.escalate_unreachable(unreachable, uow), "told twice: once"
    [escalated] = [e for e in uow.events_of(IncidentEscalated) if e.at == T0]
    assert (escalated.from_person, escalated.to_person) == ("coord-a", "coord-b")
    assert escalated.reason == "could not be reached: GOV.UK Notify 400"
    clock.advance(minutes=14)  # the backup gets the whole of their time
    assert await handlers.escalate_unacknowledged(uow) == 0
    await handlers.acknowledge_incident(
        commands.AcknowledgeIncident(incident_id, "coord-b", may_act_for_anyone=False), uow
    )
    gone = commands.EscalateUnreachable(incident_id, "coord-b", "GOV.UK Notify 400")
    assert not await handlers.escalate_unreachable(gone, uow), "acknowledged: nothing to move"
    missing = commands.EscalateUnreachable(uuid.uuid4(), "coord-a", "GOV.UK Notify 400")
    assert not await handlers.escalate_unreachable(missing, uow)


async def test_only_someone_on_the_chain_or_a_senior_ep_acknowledges() -> None:
    clock = FakeClock(T0)
    uow = await on_call(clock)
    incident_id = await reported(uow)
    clock.advance(minutes=5)
    stranger = commands.AcknowledgeIncident(incident_id, "coord-z", may_act_for_anyone=False)
    with pytest.raises(Forbidden):
        await handlers.acknowledge_incident(stranger, uow)
    senior = commands.AcknowledgeIncident(incident_id, "sep-1", may_act_for_anyone=True)
    await handlers.acknowledge_incident(senior, uow)
    [acknowledged] = uow.events_of(IncidentAcknowledged)
    assert isinstance(acknowledged, IncidentAcknowledged)
    assert (acknowledged.acknowledged_by, acknowledged.at) == ("sep-1", T0 + 5 * MIN)
    with pytest.raises(Conflict):
        await handlers.acknowledge_incident(senior, uow)


async def test_schedulings_answer_counts_once_and_the_coordinator_asks_again_for_the_rest() -> None:
    clock = FakeClock(T0)
    uow = await on_call(clock)
    incident_id = await reported(uow)
    one = commands.RecordFastTrackAllocation(
        incident_id, (builders.allocated_ep("ep-1", T0 + 60 * MIN),), 1, T0 + MIN, "only 1 of 2"
    )
    await handlers.record_fast_track_allocation(one, uow)
    await handlers.record_fast_track_allocation(one, uow)  # redelivered
    [answer] = uow.events_of(IncidentEpsAllocated)
    assert isinstance(answer, IncidentEpsAllocated)
    assert answer.ep_ids == ("ep-1",) and answer.shortfall == 1
    clock.advance(minutes=10)
    await handlers.request_missing_eps(commands.RequestMissingEps(incident_id), uow)
    _first, again = uow.events_of(FastTrackAllocationRequested)
    assert isinstance(again, FastTrackAllocationRequested)
    assert (again.attempt, again.eps_needed, again.exclude_ep_ids) == (2, 1, ("ep-1",))
    with pytest.raises(Conflict):  # not answered yet: asking twice could send too many
        await handlers.request_missing_eps(commands.RequestMissingEps(incident_id), uow)


async def test_the_response_runs_from_first_contact_to_closure_by_the_units_clock() -> None:
    clock = FakeClock(T0)
    uow = await on_call(clock)
    incident_id = await reported(uow)
    await handlers.acknowledge_incident(
        commands.AcknowledgeIncident(incident_id, "coord-a", may_act_for_anyone=False), uow
    )
    clock.advance(minutes=30)
    contact = commands.RecordFirstContact(incident_id, T0 + 25 * MIN, recorded_by="coord-a")
    await handlers.record_first_contact(contact, uow)  # no EP allocated: the coordinator
    clock.advance(hours=2)
    visit = commands.RecordVisit(incident_id, clock.now - 10 * MIN, ("ep-1", "ep-2"))
    await handlers.record_visit(visit, uow)
    review_on = date(2026, 11, 10)
    plan = commands.PlanFollowUp(incident_id, review_on, "Review with the head in a week.")
    await handlers.plan_follow_up(plan, uow)
    clock.advance(hours=1)
    await handlers.close_incident(commands.CloseIncident(incident_id, "Staff supported."), uow)
    [first] = uow.events_of(IncidentFirstContactMade)
    assert isinstance(first, IncidentFirstContactMade) and first.made_by == "coord-a"
    [visited] = uow.events_of(IncidentVisitRecorded)
    assert isinstance(visited, IncidentVisitRecorded) and visited.ep_ids == ("ep-1", "ep-2")
    [planned] = uow.events_of(IncidentFollowUpPlanned)
    assert isinstance(planned, IncidentFollowUpPlanned) and planned.review_on == review_on
    [closed] = uow.events_of(IncidentClosed)
    assert isinstance(closed, IncidentClosed) and closed.at == clock.now
    incident = uow.incidents.incidents[incident_id]
    assert incident.status is IncidentStatus.CLOSED and incident.summary == "Staff supported."
    assert uow.incidents.next_due_at[incident_id] is None  # nothing for the jobs any more


async def test_a_target_passed_without_being_met_is_reported_once() -> None:
    clock = FakeClock(T0)
    uow = await on_call(clock)
    incident_id = await reported(uow)
    assert await handlers.report_breached_targets(uow) == 0
    clock.advance(minutes=16)  # nobody acknowledged within 15 minutes
    assert await handlers.report_breached_targets(uow) == 1
    assert await handlers.report_breached_targets(uow) == 0
    [breach] = uow.events_of(IncidentResponseTargetBreached)
    assert isinstance(breach, IncidentResponseTargetBreached)
    assert breach.incident_id == incident_id and breach.clock is ResponseClock.ACKNOWLEDGE
    assert breach.due_at == T0 + 15 * MIN


async def test_a_gap_in_the_rota_is_reported_once_within_the_look_ahead() -> None:
    clock = FakeClock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    uow = FakeIncidentsUnitOfWork(clock=clock)
    start = clock.now
    await handlers.add_rota_entry(
        commands.AddRotaEntry("coord-a", RotaPosition.PRIMARY, start, start + 20 * 60 * MIN), uow
    )
    assert await handlers.report_rota_gaps(uow) == 1
    clock.advance(minutes=10)  # the window slides: the same gap, seen again
    assert await handlers.report_rota_gaps(uow) == 0
    [gap] = uow.events_of(OnCallRotaGapFound)
    assert isinstance(gap, OnCallRotaGapFound)
    assert gap.starts_at == datetime(2026, 3, 29, 8, 0, tzinfo=UTC) and gap.tenant == uow.tenant


async def test_the_las_policy_and_level_targets_apply_to_incidents_reported_after() -> None:
    uow = await on_call()
    policy = await handlers.set_incident_policy(commands.SetIncidentPolicy(5, None, 24), uow)
    assert policy.acknowledge_within == 5 * MIN and policy.principal_ep_id is None
    assert policy.rota_gap_lookahead == timedelta(hours=24)
    three_eps = LevelTargets(
        2, 3, True, False, 90, Target(30 * MIN), Target(60 * MIN), Target(120 * MIN)
    )
    policy = await handlers.set_level_targets(commands.SetLevelTargets((three_eps,)), uow)
    assert policy.targets_for(2) == three_eps and policy.targets_for(1).eps_needed == 1
    incident_id = await reported(uow)
    [request] = uow.events_of(FastTrackAllocationRequested)
    assert isinstance(request, FastTrackAllocationRequested)
    assert request.eps_needed == 3 and request.duration_minutes == 90
    incident = uow.incidents.incidents[incident_id]
    assert incident.chain == ("coord-a", "coord-b") and incident.acknowledge_within == 5 * MIN


async def test_acting_on_an_incident_that_does_not_exist_is_not_found() -> None:
    uow, missing = await on_call(), uuid.uuid4()
    with pytest.raises(NotFound):
        await handlers.close_incident(commands.CloseIncident(missing, "done"), uow)
    answer = commands.RecordFastTrackAllocation(missing, (), 2, T0)
    with pytest.raises(NotFound):
        await handlers.record_fast_track_allocation(answer, uow)
