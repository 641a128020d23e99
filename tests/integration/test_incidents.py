"""Critical incidents on the real broker and database: escalation driven by a fake clock, and
the fast track (report -> FastTrackAllocationRequested -> scheduling's answer recorded)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role
from eps_chassis.jobs import PeriodicJob
from eps_chassis.service import ServiceRuntime
from eps_contracts import Event, envelope_for
from eps_contracts.incidents import (
    FAST_TRACK_REQUESTS,
    INCIDENTS,
    ON_CALL_ROTA,
    UPSTREAM_INCIDENT_REPORTS,
    FastTrackAllocationRequested,
    IncidentKind,
    IncidentReportSubmitted,
)
from eps_contracts.scheduling import FAST_TRACK_ALLOCATIONS, AllocatedEp, FastTrackEpsAllocated
from eps_incidents.bootstrap import SERVICE
from eps_incidents.entrypoints import jobs
from eps_scheduling.bootstrap import SERVICE as SCHEDULING

from tests.support.clock import FakeClock, suite_now
from tests.support.db import scalar
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, publish_raw, read_topic, wait_until
from tests.support.problems import fields, located
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
SCHOOL = "123456"


def report_body(occurred_at: datetime, level: int = 2) -> dict[str, Any]:
    return {
        "report_id": str(uuid.uuid4()),
        "school_urn": SCHOOL,
        "kind": "sudden_death_of_pupil",
        "occurred_at": occurred_at.isoformat(),
        "reported_by": "Headteacher",
        "pupils_affected": 30,
        "staff_affected": 3,
        "level": level,
    }


async def set_up_rota(client: httpx.AsyncClient, start: datetime, hours: int) -> None:
    """'test-coordinator' on call, 'coord-backup' as backup, 'pep-1' the principal EP."""
    policy = {
        "acknowledge_within_minutes": 15,
        "principal_ep_id": "pep-1",
        "rota_gap_lookahead_hours": 48,
    }
    response = await client.put(
        "/incidents/configuration/policy", json=policy, headers=bearer(Role.PRINCIPAL_EP)
    )
    assert response.status_code == 200, response.text
    for who, position in (("test-coordinator", "primary"), ("coord-backup", "backup")):
        entry = {
            "coordinator_id": who,
            "position": position,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=hours)).isoformat(),
        }
        response = await client.post(
            "/incidents/rota/entries", json=entry, headers=bearer(Role.PRINCIPAL_EP)
        )
        assert response.status_code == 201, response.text


async def events_of(infra: Infra, ns: Namespace, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in await read_topic(infra.kafka_bootstrap, ns.topic(topic))]


def job(runtime: ServiceRuntime, name: str) -> PeriodicJob:
    """The service's job of that name, as its settings declare it."""
    assert runtime.jobs is not None
    return next(j for j in runtime.jobs.jobs if j.name == name)


async def run_job_until(
    runtime: ServiceRuntime, name: str, client: httpx.AsyncClient, url: str, done: Any
) -> dict[str, Any]:
    """Run a job (the loop may be running it at the same moment) until the view shows it."""
    assert runtime.jobs is not None
    view: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal view
        assert runtime.jobs is not None
        await runtime.jobs.run_once(job(runtime, name))
        view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()
        return bool(done(view))

    await wait_until(check, timeout_s=10, what=f"{name} to take effect")
    return view


async def test_an_incident_nobody_acknowledges_escalates_to_the_backup_then_the_principal(
    infra: Infra, ns: Namespace
) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 23, 50, tzinfo=UTC))  # late evening
    async with running(SERVICE, infra, ns, clock=clock) as (runtime, client):
        await set_up_rota(client, clock.now - timedelta(hours=1), 13)
        created = await client.post(
            "/incidents",
            json=report_body(clock.now - timedelta(minutes=20)),
            headers=bearer(Role.COORDINATOR),
        )
        assert created.status_code == 201, created.text
        url = f"/incidents/{created.json()['incident_id']}"
        view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()
        assert view["assigned_to"] == "test-coordinator" and view["escalations"] == []

        clock.advance(minutes=14)
        assert runtime.jobs is not None
        await runtime.jobs.run_once(job(runtime, jobs.ESCALATION))
        view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()
        assert view["assigned_to"] == "test-coordinator", "escalated before the 15 minutes"

        clock.advance(minutes=2)  # 16 minutes, past midnight: nobody acknowledged
        view = await run_job_until(
            runtime, jobs.ESCALATION, client, url, lambda v: v["escalations"]
        )
        assert view["assigned_to"] == "coord-backup"
        clock.advance(minutes=16)
        view = await run_job_until(
            runtime, jobs.ESCALATION, client, url, lambda v: len(v["escalations"]) == 2
        )
        assert view["assigned_to"] == "pep-1"
        assert [(e["from"], e["to"]) for e in view["escalations"]] == [
            ("test-coordinator", "coord-backup"),
            ("coord-backup", "pep-1"),
        ]
        assert view["escalations"][0]["reason"] == "not acknowledged within 15 minutes"
        assert view["escalations"][0]["at"].startswith("2026-11-03T00:06")  # London time
        # the acknowledgement target has passed: a breach event
        view = await run_job_until(
            runtime, jobs.BREACHES, client, url, lambda v: "acknowledge" in v["breaches"]
        )
        clocks = {c["clock"]: c for c in view["clocks"]}
        assert clocks["acknowledge"]["state"] == "overdue"
        assert clocks["first_visit"]["state"] == "running"
        # the coordinator first assigned may still take charge after the escalations
        acknowledged = await client.post(f"{url}/acknowledge", headers=bearer(Role.COORDINATOR))
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["acknowledged_by"] == "test-coordinator"

        async def lifecycle_published() -> bool:
            types = [e["type"] for e in await events_of(infra, ns, INCIDENTS.name)]
            return types.count("eps.incidents.incident-escalated.v1") == 2 and (
                "eps.incidents.response-target-breached.v1" in types
            )

        await wait_until(lifecycle_published, timeout_s=15, what="escalations published")
    published = await events_of(infra, ns, INCIDENTS.name)
    assert {e["subject"] for e in published} == {url.rsplit("/", 1)[1]}
    breach = next(e for e in published if e["type"].endswith("response-target-breached.v1"))
    assert breach["data"]["clock"] == "acknowledge"


async def test_a_rota_gap_is_reported_once_before_it_happens(infra: Infra, ns: Namespace) -> None:
    clock = FakeClock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))  # the clocks go forward tonight
    async with running(SERVICE, infra, ns, clock=clock) as (runtime, client):
        await set_up_rota(client, clock.now, 20)  # cover ends 08:00 UTC (09:00 BST) tomorrow
        assert runtime.jobs is not None
        await runtime.jobs.run_once(job(runtime, jobs.ROTA_GAPS))
        clock.advance(minutes=10)
        await runtime.jobs.run_once(job(runtime, jobs.ROTA_GAPS))

        async def gap_published() -> bool:
            return len(await events_of(infra, ns, ON_CALL_ROTA.name)) >= 1

        await wait_until(gap_published, timeout_s=15, what="rota gap published")
    [gap] = await events_of(infra, ns, ON_CALL_ROTA.name)
    assert gap["data"]["starts_at"].startswith("2026-03-29T08:00:00")
    assert gap["data"]["tenant"] == TENANT


async def test_the_las_policy_and_level_targets_are_configuration_read_and_replaced(
    infra: Infra, ns: Namespace
) -> None:
    principal, coordinator = bearer(Role.PRINCIPAL_EP), bearer(Role.COORDINATOR)
    levels_path, policy_path = "/incidents/configuration/levels", "/incidents/configuration/policy"
    async with running(SERVICE, infra, ns) as (_, client):
        defaults = (await client.get(levels_path, headers=coordinator)).json()
        assert defaults["level_2"]["eps_needed"] == 2 and defaults["level_1"]["on_site"] is False
        assert (await client.get(policy_path, headers=principal)).json() == {
            "acknowledge_within_minutes": 15,
            "principal_ep_id": None,
            "rota_gap_lookahead_hours": 72,
        }
        three_eps = {**defaults["level_2"], "eps_needed": 3, "response_minutes": 90}
        stricter = {**defaults, "level_2": three_eps}
        refused = await client.put(levels_path, json=stricter, headers=coordinator)
        assert refused.status_code == 403
        no_visit = {
            **defaults,
            "level_3": {**defaults["level_3"], "first_visit_within_minutes": None},
        }
        unvisited = await client.put(levels_path, json=no_visit, headers=principal)
        assert unvisited.status_code == 422 and "first_visit" in fields(unvisited)
        changed = await client.put(levels_path, json=stricter, headers=principal)
        assert changed.status_code == 200 and changed.json() == stricter
        assert (await client.get(levels_path, headers=principal)).json() == stricter
        created = await client.post(
            "/incidents", json=report_body(suite_now()), headers=coordinator
        )
        view = (
            await client.get(f"/incidents/{created.json()['incident_id']}", headers=coordinator)
        ).json()
    assert view["eps_needed"] == 3 and view["eps_missing"] == 3
    audited = await scalar(
        infra,
        f"SELECT array_agg(action || ':' || outcome ORDER BY id) FROM {ns.schema('incidents')}"
        ".audit_log WHERE resource = 'configuration/levels'",
    )
    assert audited == [
        "read-configuration:allowed",
        "configure:refused",
        "configure:allowed",
        "read-configuration:allowed",
    ]


def allocation_for(incident_id: uuid.UUID, starts_at: datetime) -> FastTrackEpsAllocated:
    return FastTrackEpsAllocated(
        incident_id=incident_id,
        eps=(
            AllocatedEp(
                ep_id="ep-named", appointment_id=uuid.uuid4(), starts_at=starts_at, is_named_ep=True
            ),
            AllocatedEp(
                ep_id="ep-near", appointment_id=uuid.uuid4(), starts_at=starts_at, is_named_ep=False
            ),
        ),
        shortfall=0,
    )


async def publish(infra: Infra, ns: Namespace, event: Event, source: str) -> None:
    envelope = envelope_for(
        event, source=source, tenant=TENANT, actor=f"service:{source}", time=suite_now()
    )
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(event.topic.name),
        [envelope.model_dump_json().encode()],
        key=envelope.subject.encode(),
    )


async def test_report_asks_scheduling_for_eps_and_records_the_allocation(
    infra: Infra, ns: Namespace
) -> None:
    now = suite_now()
    async with running(SERVICE, infra, ns) as (_, client):
        await set_up_rota(client, now - timedelta(hours=1), 4)
        assert (await client.post("/incidents", json=report_body(now))).status_code == 401
        senco = await client.post("/incidents", json=report_body(now), headers=bearer(Role.SENCO))
        assert senco.status_code == 403
        bad = await client.post(
            "/incidents", json={**report_body(now), "level": 4}, headers=bearer(Role.COORDINATOR)
        )
        assert bad.status_code == 422 and ("body", "level") in located(bad)

        created = await client.post(
            "/incidents",
            json=report_body(now - timedelta(minutes=5)),
            headers=bearer(Role.COORDINATOR),
        )
        assert created.status_code == 201, created.text
        incident_id = uuid.UUID(created.json()["incident_id"])

        async def requested() -> bool:
            return any(
                e["subject"] == str(incident_id)
                for e in await events_of(infra, ns, FAST_TRACK_REQUESTS.name)
            )

        await wait_until(requested, timeout_s=15, what="fast-track request published")
        [request] = await events_of(infra, ns, FAST_TRACK_REQUESTS.name)
        assert request["data"]["eps_needed"] == 2 and request["data"]["level"] == 2

        # scheduling's answer (simulated here; bench/fast_track.py runs the real one)
        starts_at = now + timedelta(hours=1)
        await publish(infra, ns, allocation_for(incident_id, starts_at), "scheduling")
        url = f"/incidents/{incident_id}"

        async def allocation_recorded() -> bool:
            view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()
            return bool(view["allocated_eps"])

        await wait_until(allocation_recorded, timeout_s=15, what="allocation recorded")
        acked = await client.post(f"{url}/acknowledge", headers=bearer(Role.COORDINATOR))
        assert acked.status_code == 200, acked.text
        view = acked.json()
        assert view["status"] == "eps_allocated"
        assert [e["ep_id"] for e in view["allocated_eps"]] == ["ep-named", "ep-near"]
        assert view["allocated_eps"][0]["is_named_ep"]
        assert {c["clock"]: c["state"] for c in view["clocks"]}["allocate"] == "met"
        again = await client.post(f"{url}/acknowledge", headers=bearer(Role.COORDINATOR))
        assert again.status_code == 409

        listed = (await client.get("/incidents", headers=bearer(Role.PRINCIPAL_EP))).json()
        assert [i["incident_id"] for i in listed["incidents"]] == [str(incident_id)]

        # an upstream LA system reports one too; a report dated in the future is dead-lettered
        upstream = IncidentReportSubmitted(
            report_id=uuid.uuid4(),
            school_urn="654321",
            kind=IncidentKind.FIRE,
            occurred_at=now - timedelta(hours=1),
            reported_by="Out-of-hours contact centre",
            pupils_affected=200,
            staff_affected=20,
            level=3,
        )
        future = upstream.model_copy(
            update={"report_id": uuid.uuid4(), "occurred_at": now + timedelta(days=1)}
        )
        await publish(infra, ns, future, "upstream")
        await publish(infra, ns, upstream, "upstream")

        async def upstream_recorded() -> bool:
            listed = (await client.get("/incidents", headers=bearer(Role.COORDINATOR))).json()
            return len(listed["incidents"]) == 2

        await wait_until(upstream_recorded, timeout_s=15, what="upstream report recorded")

        async def dead_lettered() -> bool:
            return (
                len(await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.incidents.v1"))) == 1
            )

        await wait_until(dead_lettered, timeout_s=15, what="future report dead-lettered")
    [dead] = await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.incidents.v1"))
    assert dict(dead.headers)["dlq-reason"].decode().startswith("rejected: occurred_at:")
    assert UPSTREAM_INCIDENT_REPORTS.name in dict(dead.headers)["dlq-original-topic"].decode()


async def test_a_reports_correlation_id_is_carried_by_its_events_and_its_audit_row(
    infra: Infra, ns: Namespace
) -> None:
    now = suite_now()
    correlation = str(uuid.uuid4())
    async with running(SERVICE, infra, ns) as (_, client):
        created = await client.post(
            "/incidents",
            json=report_body(now),
            headers={**bearer(Role.COORDINATOR), "X-Correlation-Id": correlation},
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-correlation-id"] == correlation
        incident_id = created.json()["incident_id"]
        # an upstream system's id in its own form is echoed, and never refuses a report
        other = await client.post(
            "/incidents",
            json=report_body(now),
            headers={**bearer(Role.COORDINATOR), "X-Correlation-Id": "LA-7781"},
        )
        assert other.status_code == 201 and other.headers["x-correlation-id"] == "LA-7781"

        async def caused() -> list[dict[str, Any]]:
            published = [
                *await events_of(infra, ns, FAST_TRACK_REQUESTS.name),
                *await events_of(infra, ns, INCIDENTS.name),
            ]
            return [e for e in published if e["subject"] == incident_id]

        async def both_published() -> bool:
            return len({e["type"] for e in await caused()}) >= 2

        await wait_until(both_published, timeout_s=15, what="the report's events")
        assert {e["correlationid"] for e in await caused()} == {correlation}
    audited = await scalar(
        infra,
        f"SELECT correlation_id::text FROM {ns.schema('incidents')}.audit_log WHERE resource = $1",
        f"incident/{incident_id}",
    )
    assert audited == correlation


async def test_an_answer_with_nobody_shows_the_coordinator_why(infra: Infra, ns: Namespace) -> None:
    now = suite_now()
    async with running(SERVICE, infra, ns) as (_, client):
        await set_up_rota(client, now - timedelta(hours=1), 4)
        created = await client.post(
            "/incidents",
            json=report_body(now - timedelta(minutes=5)),
            headers=bearer(Role.COORDINATOR),
        )
        assert created.status_code == 201, created.text
        incident_id = uuid.UUID(created.json()["incident_id"])
        reason = "school 123456 is not known to scheduling (no named EP or location)"
        nobody = FastTrackEpsAllocated(incident_id=incident_id, eps=(), shortfall=2, reason=reason)
        for _ in range(2):  # redelivered: recorded once
            await publish(infra, ns, nobody, "scheduling")
        url = f"/incidents/{incident_id}"

        async def answer_recorded() -> bool:
            view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()
            return view["answered_at"] is not None

        await wait_until(answer_recorded, timeout_s=15, what="answer recorded")
        view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()

        async def allocation_event_published() -> bool:
            return any(
                e["type"].endswith("incident-eps-allocated.v1")
                for e in await events_of(infra, ns, INCIDENTS.name)
            )

        await wait_until(allocation_event_published, timeout_s=15, what="allocation event")
        await asyncio.sleep(0.5)  # the redelivered answer, had it counted, is relayed by now
        published = [
            e
            for e in await events_of(infra, ns, INCIDENTS.name)
            if e["type"].endswith("incident-eps-allocated.v1")
        ]
    assert view["status"] == "reported" and view["allocated_eps"] == []
    assert view["shortfall"] == 2 and view["shortfall_reason"] == reason
    assert {c["clock"]: c["state"] for c in view["clocks"]}["allocate"] == "running"
    [event] = published
    assert event["data"]["shortfall_reason"] == reason and event["data"]["ep_ids"] == []


ALL_DAY_EVERY_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]


async def put_ep(scheduling: httpx.AsyncClient, ep_id: str, *, on_rota: bool) -> None:
    body = {
        "ep_id": ep_id,
        "role": "ep",
        "working_pattern": ALL_DAY_EVERY_DAY,  # free at any hour, so the test runs any day
        "weekly_capacity_minutes": 7 * 24 * 60,
        "base_latitude": 52.64,
        "base_longitude": -1.14,
        "on_rota": on_rota,
    }
    response = await scheduling.put(
        f"/scheduling/eps/{ep_id}", json=body, headers=bearer(Role.ADMIN)
    )
    assert response.status_code == 200, response.text


async def test_a_shortfall_is_filled_when_the_coordinator_asks_again_with_no_ep_twice(
    infra: Infra, ns: Namespace, awkward_instant: datetime
) -> None:
    """Real scheduling: the first answer is one EP short; an EP is put on the rota; the
    coordinator asks again; the incident ends with both EPs, and a redelivered request changes
    nothing."""
    now = suite_now()
    async with (
        running(SCHEDULING, infra, ns) as (_, scheduling),
        running(SERVICE, infra, ns) as (_, client),
    ):
        await put_ep(scheduling, "ep-named", on_rota=False)  # the school's named EP: nobody else
        school = {
            "latitude": 52.6369,
            "longitude": -1.1398,
            "named_ep_id": "ep-named",
            "effective_from": "2026-09-01",
        }
        response = await scheduling.put(
            f"/scheduling/schools/{SCHOOL}", json=school, headers=bearer(Role.ADMIN)
        )
        assert response.status_code == 200, response.text
        await set_up_rota(client, now - timedelta(hours=1), 4)
        created = await client.post(
            "/incidents",
            json=report_body(now - timedelta(minutes=5)),
            headers=bearer(Role.COORDINATOR),
        )
        assert created.status_code == 201, created.text
        url = f"/incidents/{created.json()['incident_id']}"

        async def view() -> dict[str, Any]:
            return dict((await client.get(url, headers=bearer(Role.COORDINATOR))).json())

        async def answered() -> bool:
            return not (await view())["awaiting_fast_track_answer"]

        await wait_until(answered, timeout_s=15, what="scheduling's first answer")
        acked = await client.post(f"{url}/acknowledge", headers=bearer(Role.COORDINATOR))
        assert acked.status_code == 200, acked.text
        first = acked.json()
        assert [e["ep_id"] for e in first["allocated_eps"]] == ["ep-named"]
        assert first["shortfall"] == 1 and first["eps_missing"] == 1
        assert "only 1 of 2 EPs" in first["shortfall_reason"]

        # another EP goes on the critical-incident rota; the coordinator asks again
        await put_ep(scheduling, "ep-near", on_rota=True)
        senco = await client.post(f"{url}/fast-track-requests", headers=bearer(Role.SENCO))
        assert senco.status_code == 403
        asked = await client.post(f"{url}/fast-track-requests", headers=bearer(Role.COORDINATOR))
        assert asked.status_code == 202, asked.text
        assert asked.json()["fast_track_attempt"] == 2
        assert asked.json()["awaiting_fast_track_answer"]
        await wait_until(answered, timeout_s=15, what="scheduling's answer to request 2")
        final = await view()
        assert [e["ep_id"] for e in final["allocated_eps"]] == ["ep-named", "ep-near"]
        assert final["shortfall"] == 0 and final["eps_missing"] == 0
        assert final["shortfall_reason"] is None and final["status"] == "eps_allocated"
        refused = await client.post(f"{url}/fast-track-requests", headers=bearer(Role.COORDINATOR))
        assert refused.status_code == 409 and "none is missing" in refused.text

        # request 2 delivered again (a new event id): scheduling gives the same answer again
        [request] = [
            e
            for e in await events_of(infra, ns, FAST_TRACK_REQUESTS.name)
            if e["data"].get("attempt") == 2
        ]
        assert request["data"]["eps_needed"] == 1
        assert request["data"]["exclude_ep_ids"] == ["ep-named"]
        again = envelope_for(
            FastTrackAllocationRequested.model_validate_json(json.dumps(request["data"])),
            source="incidents",
            tenant=TENANT,
            actor="service:incidents",
            time=suite_now(),
        )
        await publish_raw(
            infra.kafka_bootstrap,
            ns.topic(FAST_TRACK_REQUESTS.name),
            [again.model_dump_json().encode()],
            key=again.subject.encode(),
        )

        async def answered_twice() -> bool:
            answers = await events_of(infra, ns, FAST_TRACK_ALLOCATIONS.name)
            return [a["data"]["attempt"] for a in answers] == [1, 2, 2] and (
                await consumer_lag(
                    infra.kafka_bootstrap,
                    ns.group("incidents", "fast-track-allocations"),
                    ns.topic(FAST_TRACK_ALLOCATIONS.name),
                )
                == 0
            )

        await wait_until(answered_twice, timeout_s=15, what="request 2 answered again")
        after = await view()
    answers = await events_of(infra, ns, FAST_TRACK_ALLOCATIONS.name)
    assert answers[1]["data"]["eps"] == answers[2]["data"]["eps"]  # same EP, same appointment
    assert [e["ep_id"] for e in answers[1]["data"]["eps"]] == ["ep-near"]
    assert after["allocated_eps"] == final["allocated_eps"]
    allocated = [
        e
        for e in await events_of(infra, ns, INCIDENTS.name)
        if e["type"].endswith("eps-allocated.v1")
    ]
    assert [e["data"]["ep_ids"] for e in allocated] == [["ep-named"], ["ep-named", "ep-near"]]
