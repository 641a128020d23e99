"""The capacity planner books as the scheduling service does, the service on the real broker and
database: one EP's diary from a simulated autumn is copied into the service over HTTP, and the
same requests (a statutory visit in its window, routine work, routine work from a week whose
routine allowance is spent, a statutory visit at risk on a day full of routine work, which the
deadline-aware rule re-plans) are sent to the service on its
booking-requests topic and given to the simulator; each lands in the same slot, and what the
re-planned visit displaced moves to the same new times."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role
from eps_chassis.london import london_date
from eps_contracts import Event, envelope_for
from eps_contracts.scheduling import (
    APPOINTMENTS,
    AppointmentBookingRequested,
    AppointmentKind,
    FundingStream,
)
from eps_contracts.statutory import AdviceRequestReceived
from eps_scheduling.bootstrap import SERVICE
from eps_scheduling.domain.availability import find_slot
from eps_scheduling.domain.booking_policy import replan, slot_for
from eps_scheduling.domain.calendar import Interval, local_instant
from eps_scheduling.domain.model import Appointment, BookingRule, Ep

from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic, wait_until
from tests.support.services import Namespace, bearer, running
from tools.capacity.scenario import Scenario
from tools.capacity.simulation import Case, Request, Simulation, Step

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
# three EPs for 16 schools at 1.8 times the demand: full diaries; no incidents, which may
# exceed a week's capacity (as in the service) and so could not be copied in over HTTP
SCENARIO = replace(
    Scenario(), schools=16, ep_posts=3, demand=1.8, incidents_per_year=0.0, absence_rate=0.0
)
SIMULATED_UNTIL = date(2027, 1, 22)  # a Friday in a busy term; the requests come on Monday
NOW = local_instant(date(2027, 1, 25), 8 * 60)


def copied(simulation: Simulation, ep: Ep) -> list[Appointment]:
    """The EP's diary as far either side of now as any request here can read."""
    return [
        a
        for a in simulation.diaries[ep.ep_id].between(
            NOW - timedelta(days=9), NOW + timedelta(weeks=12)
        )
        if a.occupies_diary
    ]


async def register(client: httpx.AsyncClient, simulation: Simulation, ep: Ep) -> None:
    admin = bearer(Role.ADMIN)
    pattern = [
        {
            "weekday": day,
            "start": f"{hours.start_minute // 60:02d}:{hours.start_minute % 60:02d}",
            "end": f"{hours.end_minute // 60:02d}:{hours.end_minute % 60:02d}",
        }
        for day, hours in sorted(ep.pattern.days.items())
    ]
    body = {
        "ep_id": ep.ep_id,
        "role": str(ep.role),
        "working_pattern": pattern,
        "weekly_capacity_minutes": ep.weekly_capacity_minutes,
        "base_latitude": ep.base.latitude,
        "base_longitude": ep.base.longitude,
        "on_rota": ep.on_rota,
    }
    response = await client.put(f"/scheduling/eps/{ep.ep_id}", json=body, headers=admin)
    assert response.status_code == 200, response.text
    for school in simulation.schools:  # each named to this EP: only its diary is searched
        school_body = {
            "latitude": school.location.latitude,
            "longitude": school.location.longitude,
            "named_ep_id": ep.ep_id,
            "effective_from": "2026-09-01",
        }
        url = f"/scheduling/schools/{school.school_urn}"
        assert (await client.put(url, json=school_body, headers=admin)).status_code == 200
        core = await client.put(
            f"{url}/core-allocations/2026", json={"core_minutes": 100_000}, headers=admin
        )
        assert core.status_code == 200, core.text
        traded = {"purchase_id": str(uuid.uuid4()), "academic_year": 2026, "minutes": 100_000}
        response = await client.post(f"{url}/traded-time", json=traded, headers=admin)
        assert response.status_code == 201, response.text


async def set_rule(client: httpx.AsyncClient, rule: BookingRule, share: int) -> None:
    url = "/scheduling/configuration/policy"
    current = (await client.get(url, headers=bearer(Role.PRINCIPAL_EP))).json()
    body = {**current, "booking_rule": str(rule), "statutory_share_percent": share}
    response = await client.put(url, json=body, headers=bearer(Role.PRINCIPAL_EP))
    assert response.status_code == 200, response.text


async def copy_diary(client: httpx.AsyncClient, diary: list[Appointment]) -> None:
    for a in sorted(diary, key=lambda a: a.starts_at):
        body = {
            "kind": str(a.kind),
            "funding_stream": str(a.funding_stream),
            "starts_at": a.starts_at.isoformat(),
            "duration_minutes": a.minutes,
            "ep_id": a.ep_id,
            "school_urn": a.place,
        }
        response = await client.post(
            "/scheduling/appointments", json=body, headers=bearer(Role.ADMIN)
        )
        assert response.status_code == 201, (body, response.text)


def raw(event: Event) -> bytes:
    envelope = envelope_for(
        event, source="statutory", tenant=TENANT, actor="service:statutory", time=NOW
    )
    return envelope.model_dump_json().encode()


async def publish(infra: Infra, ns: Namespace, event: Event) -> None:
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(event.topic.name),
        [raw(event)],
        keys=[event.aggregate_id().encode()],
    )


async def appointment_events(infra: Infra, ns: Namespace) -> list[dict[str, Any]]:
    records = await read_topic(infra.kafka_bootstrap, ns.topic(APPOINTMENTS.name))
    return [json.loads(r.value) for r in records]


def at_risk_day(simulation: Simulation, ep: Ep, case: Case) -> Interval:
    """A working day after now on which a statutory visit finds no free slot but routine work
    can make room: the deadline-aware rule's re-planning is then what books it."""
    policy, minutes = simulation.policy, SCENARIO.statutory_visit_minutes
    for offset in range(1, 30):
        hours = ep.pattern.hours_on(london_date(NOW) + timedelta(days=offset))
        if hours is None:
            continue
        diary = simulation.diary_for(
            ep.ep_id, hours, timedelta(days=policy.reschedule_horizon_days)
        )
        kind, statutory = AppointmentKind.STATUTORY_ASSESSMENT_VISIT, FundingStream.STATUTORY
        place = case.school.school_urn
        if slot_for(ep, diary, hours, minutes, place, kind, statutory, policy) is None and replan(
            ep, diary, hours, minutes, place, NOW, policy
        ):
            return hours
    raise LookupError("no day at risk in the simulated diary")


def share_bound_week(simulation: Simulation, ep: Ep, case: Case) -> datetime:
    """The Monday of a week after now in which routine work finds no room only because the
    statutory share of the week is kept: a routine request from then tells the rules apart."""
    policy, minutes, place = (
        simulation.policy,
        SCENARIO.first_contact_minutes,
        case.school.school_urn,
    )
    monday = london_date(NOW) - timedelta(days=london_date(NOW).weekday())
    for week in range(8):
        start = max(NOW, local_instant(monday + timedelta(weeks=week), 0))
        window = Interval(start, local_instant(monday + timedelta(weeks=week, days=5), 0))
        diary = simulation.diary_for(ep.ep_id, window)
        kind, core = AppointmentKind.CONSULTATION, FundingStream.CORE
        if slot_for(ep, diary, window, minutes, place, kind, core, policy) is None and find_slot(
            ep, diary, window, minutes, place, policy
        ):
            return start
    raise LookupError("no week where the statutory share binds")


async def test_the_simulator_and_the_service_choose_the_same_slots(
    infra: Infra, ns: Namespace
) -> None:
    simulation = Simulation(SCENARIO, BookingRule.DEADLINE_AWARE, seed=11)
    simulation.run(until=SIMULATED_UNTIL)
    for school in simulation.schools:  # an EP whose diary tells the rules apart
        ep = simulation.by_id[school.named_ep_id]
        statutory = Case(0, school, NOW, FundingStream.STATUTORY)
        routine = Case(0, school, NOW, FundingStream.CORE)
        try:
            at_risk = at_risk_day(simulation, ep, statutory)
            share_bound = share_bound_week(simulation, ep, routine)
        except LookupError:
            continue
        break
    else:
        raise AssertionError("no EP's diary has a day at risk and a week the share binds")
    diary = copied(simulation, ep)
    assert len(diary) > 20  # a working diary, not an empty one
    visit, consultation = AppointmentKind.STATUTORY_ASSESSMENT_VISIT, AppointmentKind.CONSULTATION
    requests = [  # (what the simulator is asked, the service's request carries the same)
        (statutory, Step.STATUTORY_VISIT, visit, 240, NOW, NOW + timedelta(weeks=3)),
        (routine, Step.FIRST_CONTACT, consultation, 90, NOW, NOW + timedelta(weeks=6)),
        (routine, Step.FIRST_CONTACT, consultation, 90, share_bound, NOW + timedelta(weeks=9)),
        (statutory, Step.STATUTORY_VISIT, visit, 240, at_risk.start, at_risk.end),
    ]
    advice_id = uuid.uuid4()
    async with running(SERVICE, infra, ns, clock=FakeClock(NOW)) as (_, client):
        await register(client, simulation, ep)
        await set_rule(client, BookingRule.FIRST_FREE, 40)  # the diary as it is, share or not
        await copy_diary(client, diary)
        await set_rule(client, BookingRule.DEADLINE_AWARE, SCENARIO.statutory_share_percent)
        await publish(
            infra,
            ns,
            AdviceRequestReceived(
                advice_id=advice_id,
                request_id=uuid.uuid4(),
                child_id=uuid.uuid4(),
                school_urn=school.school_urn,
                received_on=london_date(NOW),
                assessment_requested_on=london_date(NOW) - timedelta(weeks=6),
                due_on=london_date(NOW) + timedelta(weeks=6),
            ),
        )
        for case, step, kind, minutes, earliest, latest in requests:
            request_id = uuid.uuid4()
            is_statutory = case is statutory
            await publish(
                infra,
                ns,
                AppointmentBookingRequested(
                    request_id=request_id,
                    case_ref=f"simulated:{request_id}",
                    kind=kind,
                    school_urn=school.school_urn,
                    ep_id=ep.ep_id,
                    duration_minutes=minutes,
                    earliest=earliest,
                    latest=latest,
                    funding_stream=case.funding,
                    advice_id=advice_id if is_statutory else None,
                ),
            )

            async def answered(request_id: uuid.UUID = request_id) -> bool:
                return any(
                    e["data"].get("request_id") == str(request_id)
                    for e in await appointment_events(infra, ns)
                )

            await wait_until(answered, timeout_s=30, what="the service's answer")
            events = await appointment_events(infra, ns)
            [answer] = [e for e in events if e["data"].get("request_id") == str(request_id)]
            assert answer["type"].endswith("appointment-booked.v1"), answer
            window_end = max(earliest, latest - timedelta(minutes=minutes))
            simulated = simulation.book(
                Request(
                    case,
                    step,
                    minutes,
                    school.school_urn,
                    kind,
                    NOW,
                    earliest,
                    window_end,
                    latest if is_statutory else None,
                ),
                ep,
                Interval(earliest, window_end + timedelta(minutes=minutes)),
                NOW,
            )
            assert simulated is not None
            assert datetime.fromisoformat(answer["data"]["starts_at"]) == simulated.starts_at
            assert answer["data"]["ep_id"] == simulated.ep_id
        # the visit at risk took the place of routine work, moved to the same new times
        service_moves = sorted(
            datetime.fromisoformat(e["data"]["starts_at"])
            for e in await appointment_events(infra, ns)
            if e["type"].endswith("appointment-rescheduled.v1")
            and e["data"]["reason"].endswith(f"simulated:{request_id}")
        )
    assert simulated is not None
    simulated_moves = sorted(
        a.starts_at
        for a in simulation.diaries[ep.ep_id]
        if a.reason == f"displaced by {simulated.case_ref}"
    )
    assert service_moves, "the visit at risk should have displaced routine work"
    assert service_moves == simulated_moves
