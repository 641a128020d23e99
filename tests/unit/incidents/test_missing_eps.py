"""A shortfall is never a dead end: the coordinator asks again for the EPs still missing, each
answer adds its EPs once, and the response can go on with no EP allocated at all."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict
from eps_contracts.incidents import (
    FastTrackAllocationRequested,
    IncidentEpsAllocated,
    IncidentFirstContactMade,
)
from eps_incidents.adapters.repository import incident_from, incident_state
from eps_incidents.domain.model import Incident, IncidentStatus

from tests.support.builders.incidents import MIN, allocated_ep, reported

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SHORT = "only 1 of 2 EPs can start by 2026-11-03 09:00 (London)"


def short_by_one(level: int = 2) -> Incident:
    """Acknowledged; scheduling sent 'ep-1' only (a level-2 incident needs two)."""
    incident = reported(T0, level=level)
    incident.acknowledge("coord-a", T0 + MIN, may_act_for_anyone=False)
    incident.record_allocation((allocated_ep("ep-1", T0 + 60 * MIN),), 1, T0 + 2 * MIN, SHORT)
    incident.events.clear()
    return incident


def test_the_missing_count_is_what_the_level_needs_less_the_eps_going() -> None:
    incident = reported(T0, level=3)
    assert incident.eps_missing == 3
    incident.record_allocation((allocated_ep("ep-1", T0),), 2, T0 + MIN)
    assert incident.eps_missing == 2 and not incident.awaiting_answer


def test_asking_again_requests_only_the_missing_eps_excluding_those_going() -> None:
    incident = short_by_one()
    request = incident.request_more_eps(T0 + 10 * MIN)
    assert incident.events == [request]
    assert isinstance(request, FastTrackAllocationRequested)
    assert request.attempt == 2 and incident.fast_track_attempt == 2
    assert request.eps_needed == 1 and request.exclude_ep_ids == ("ep-1",)
    assert request.needed_by == T0 + timedelta(hours=24)  # the original deadline, still ahead
    assert request.level == 2 and request.school_urn == "123456"
    assert incident.awaiting_answer


def test_once_the_deadline_has_passed_the_same_window_is_asked_for_from_now() -> None:
    incident = short_by_one()
    later = T0 + timedelta(hours=30)
    request = incident.request_more_eps(later)
    assert request.needed_by == later + timedelta(hours=24)


def test_a_later_answer_adds_its_eps_without_duplicates_and_updates_the_shortfall() -> None:
    incident = short_by_one()
    incident.request_more_eps(T0 + 10 * MIN)
    incident.events.clear()
    # scheduling sends ep-2 (and, say, ep-1 again): ep-1 is not added twice
    eps = (allocated_ep("ep-1", T0 + 60 * MIN), allocated_ep("ep-2", T0 + 90 * MIN))
    assert incident.record_allocation(eps, 0, T0 + 11 * MIN, None, attempt=2)
    assert [e.ep_id for e in incident.allocated_eps] == ["ep-1", "ep-2"]
    assert incident.shortfall == 0 and incident.shortfall_reason is None
    assert incident.eps_missing == 0 and not incident.awaiting_answer
    assert incident.allocated_at == T0 + 2 * MIN  # the allocation clock stopped at the first
    [event] = incident.events
    assert isinstance(event, IncidentEpsAllocated)
    assert event.ep_ids == ("ep-1", "ep-2") and event.shortfall == 0
    # redelivered, either answer: nothing changes and nothing is published
    assert not incident.record_allocation(eps, 0, T0 + 12 * MIN, None, attempt=2)
    assert not incident.record_allocation(
        (allocated_ep("ep-1", T0 + 60 * MIN),), 1, T0 + 13 * MIN, SHORT
    )
    assert len(incident.allocated_eps) == 2 and len(incident.events) == 1


def test_a_later_answer_with_nobody_keeps_the_shortfall_and_says_which_request() -> None:
    incident = short_by_one()
    incident.request_more_eps(T0 + 10 * MIN)
    reason = "only 0 of 1 EPs can start by 2026-11-03 09:00 (London)"
    assert incident.record_allocation((), 1, T0 + 11 * MIN, reason, attempt=2)
    assert incident.shortfall == 1 and incident.shortfall_reason == f"request 2: {reason}"
    assert [e.ep_id for e in incident.allocated_eps] == ["ep-1"]
    # and the coordinator may ask yet again
    assert incident.request_more_eps(T0 + 20 * MIN).attempt == 3


def test_asking_again_is_refused_when_nothing_is_missing() -> None:
    incident = reported(T0)
    eps = (allocated_ep("ep-1", T0), allocated_ep("ep-2", T0))
    incident.record_allocation(eps, 0, T0 + MIN)
    with pytest.raises(Conflict, match="none is missing"):
        incident.request_more_eps(T0 + 2 * MIN)
    assert incident.fast_track_attempt == 1


def test_asking_again_is_refused_while_the_last_request_is_unanswered() -> None:
    incident = reported(T0)  # the first request is not answered yet
    with pytest.raises(Conflict, match="not yet answered request 1"):
        incident.request_more_eps(T0 + MIN)
    incident = short_by_one()
    incident.request_more_eps(T0 + 10 * MIN)
    with pytest.raises(Conflict, match="not yet answered request 2"):
        incident.request_more_eps(T0 + 11 * MIN)


def test_asking_again_is_refused_when_the_incident_is_closed() -> None:
    incident = short_by_one()
    incident.status = IncidentStatus.CLOSED
    with pytest.raises(Conflict, match="closed"):
        incident.request_more_eps(T0 + 10 * MIN)


def test_with_nobody_allocated_the_coordinator_records_first_contact_and_the_response_goes_on() -> (
    None
):
    incident = reported(T0)
    incident.acknowledge("coord-a", T0 + MIN, may_act_for_anyone=False)
    incident.record_allocation((), 2, T0 + 2 * MIN, "school not known to scheduling")
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    incident.events.clear()
    incident.record_first_contact(T0 + 20 * MIN, T0 + 21 * MIN, recorded_by="coord-a")
    assert incident.status == IncidentStatus.FIRST_CONTACT_MADE
    assert incident.first_contact_by == "coord-a"
    [event] = [e for e in incident.events if isinstance(e, IncidentFirstContactMade)]
    assert event.made_by == "coord-a"
    # EPs arranged by hand visit; then follow-up and closing as usual
    incident.record_visit(T0 + 3 * 60 * MIN, ("ep-by-hand",), T0 + 4 * 60 * MIN)
    incident.plan_follow_up(date(2026, 11, 16), "review with the head", T0 + 5 * 60 * MIN)
    incident.close("EPs arranged by hand; review booked.", T0 + 6 * 60 * MIN)
    assert incident.status == IncidentStatus.CLOSED


def test_with_eps_allocated_first_contact_is_by_whoever_is_named_else_not_recorded() -> None:
    incident = short_by_one()
    incident.record_first_contact(T0 + 20 * MIN, T0 + 21 * MIN, recorded_by="coord-a")
    assert incident.first_contact_by is None  # an allocated EP made it; not said which
    other = short_by_one()
    other.record_first_contact(T0 + 20 * MIN, T0 + 21 * MIN, "ep-1", recorded_by="coord-a")
    assert other.first_contact_by == "ep-1"


def test_first_contact_still_needs_an_acknowledgement() -> None:
    incident = reported(T0)
    with pytest.raises(Conflict):
        incident.record_first_contact(T0 + 20 * MIN, T0 + 21 * MIN, recorded_by="coord-a")


def test_attempts_and_first_contact_survive_storage_and_old_state_reads_as_one_request() -> None:
    incident = short_by_one()
    incident.request_more_eps(T0 + 10 * MIN)
    incident.record_first_contact(T0 + 20 * MIN, T0 + 21 * MIN, "ep-1")
    raw = incident_state(incident)
    back = incident_from(incident.incident_id, incident.tenant, incident.status.value, raw)
    assert back.fast_track_attempt == 2 and back.answered_attempts == {1}
    assert back.awaiting_answer and back.first_contact_by == "ep-1"
    old = json.loads(raw)
    for key in ("fast_track_attempt", "answered_attempts", "first_contact_by"):
        del old[key]
    before = incident_from(incident.incident_id, incident.tenant, "acknowledged", json.dumps(old))
    assert before.fast_track_attempt == 1 and before.answered_attempts == {1}
    assert before.first_contact_by is None
