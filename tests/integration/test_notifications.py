"""Paging on the real broker and database, with GOV.UK Notify's and an SMTP relay's stand-ins at
the network boundary: a page is sent once whatever is delivered twice or restarted, retried
through a temporary failure, withdrawn once acknowledged; a permanent failure moves the chain
on (incidents escalates at once); the chain reaches the principal EP; email goes by SMTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role
from eps_chassis.london import LONDON
from eps_chassis.service import ServiceRuntime
from eps_contracts import Envelope, Event, envelope_for
from eps_contracts.incidents import (
    INCIDENTS,
    EpGoing,
    IncidentAcknowledged,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentKind,
    IncidentReported,
)
from eps_contracts.notifications import NOTIFICATIONS
from eps_incidents.bootstrap import SERVICE as INCIDENTS_SERVICE
from eps_incidents.entrypoints import jobs as incident_jobs
from eps_notifications.bootstrap import SERVICE as NOTIFICATIONS_SERVICE
from eps_notifications.domain import commands
from eps_notifications.service_layer import handlers

from tests.integration.test_incidents import report_body, set_up_rota
from tests.support.clock import FakeClock, suite_now
from tests.support.infra import Infra
from tests.support.kafka import (
    consumer_lag,
    publish_raw,
    read_topic,
    rewind_group,
    wait_until,
)
from tests.support.problems import located
from tests.support.services import Namespace, bearer, running
from tests.support.standins import StandIns, stand_ins

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
SCHOOL = "123456"
MOBILES = {
    "test-coordinator": "+447700900001",
    "coord-backup": "+447700900002",
    "pep-1": "+447700900003",
}
FAST: dict[str, Any] = {
    "notifications_send_interval_s": 0.1,
    "notifications_status_interval_s": 0.2,
    "notifications_retry_first_s": 0.3,
    "notifications_retry_max_s": 1.0,
}
ASKS_TO_ACKNOWLEDGE = "acknowledge it in the EPS console"


async def set_contacts(client: httpx.AsyncClient, **extra: Any) -> None:
    contacts = [{"person_id": p, "mobile": m} for p, m in MOBILES.items()]
    body = {"contacts": contacts + extra.pop("more", []), **extra}
    response = await client.put(
        "/notifications/configuration/contacts", json=body, headers=bearer(Role.PRINCIPAL_EP)
    )
    assert response.status_code == 200, response.text


async def publish(infra: Infra, ns: Namespace, event: Event, *, times: int = 1) -> Envelope[Event]:
    """The event as incidents publishes it (one envelope, ``times`` copies of its record)."""
    envelope = envelope_for(
        event, source="/eps/incidents", tenant=TENANT, actor="service:incidents", time=suite_now()
    )
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(event.topic.name),
        [envelope.model_dump_json().encode()] * times,
        key=envelope.subject.encode(),
    )
    return envelope


def reported(
    incident_id: uuid.UUID, assigned_to: str | None = "test-coordinator"
) -> IncidentReported:
    now = suite_now()
    return IncidentReported(
        incident_id=incident_id,
        at=now,
        school_urn=SCHOOL,
        kind=IncidentKind.SUDDEN_DEATH_OF_PUPIL,
        level=2,
        occurred_at=now - timedelta(minutes=20),
        pupils_affected=30,
        staff_affected=3,
        assigned_to=assigned_to,
    )


async def notification_events(infra: Infra, ns: Namespace) -> list[dict[str, Any]]:
    records = await read_topic(infra.kafka_bootstrap, ns.topic(NOTIFICATIONS.name))
    return [json.loads(r.value) for r in records]


async def all_consumed(infra: Infra, ns: Namespace) -> None:
    """The notifications service has taken in everything on the incident topic."""
    group = ns.group("notifications", "incidents")
    topic = ns.topic(INCIDENTS.name)

    async def caught_up() -> bool:
        return await consumer_lag(infra.kafka_bootstrap, group, topic) == 0

    await wait_until(caught_up, timeout_s=20, what="the incident events consumed")


def pages(far: StandIns, person: str) -> list[dict[str, Any]]:
    """The SMS that asked ``person`` to acknowledge."""
    return [m for m in far.notify.to(MOBILES[person]) if ASKS_TO_ACKNOWLEDGE in m["body"]]


async def paged(far: StandIns, person: str, count: int = 1) -> None:
    async def arrived() -> bool:
        return len(pages(far, person)) >= count

    await wait_until(arrived, timeout_s=20, what=f"{person} paged")


async def test_a_page_is_sent_once_when_its_event_arrives_twice_and_holds_no_child_data(
    infra: Infra, ns: Namespace
) -> None:
    incident_id = uuid.uuid4()
    async with (
        stand_ins() as far,
        running(NOTIFICATIONS_SERVICE, infra, ns, **far.settings(), **FAST) as (_, client),
    ):
        await set_contacts(client)
        event = reported(incident_id)
        envelope = await publish(infra, ns, event, times=2)
        await paged(far, "test-coordinator")
        await all_consumed(infra, ns)
        await asyncio.sleep(0.5)  # several send rounds
        [sms] = far.notify.to(MOBILES["test-coordinator"])
        at = event.at.astimezone(LONDON)
        assert sms["body"] == (
            "EPS critical incident, level 2 (sudden death of pupil) at school 123456, reported"
            f" {at:%H:%M on %a %d %b}. You are on call: acknowledge it in the EPS console."
            f" Ref {incident_id.hex[:8]}."
        ), "the school, the level, the kind and a reference: nothing about a child"
        assert sms["reference"] and sms["type"] == "sms"

        async def delivered() -> bool:
            types = [e["type"] for e in await notification_events(infra, ns)]
            return "eps.notifications.notification-delivered.v1" in types

        await wait_until(delivered, timeout_s=15, what="delivery reported by status polling")
        published = await notification_events(infra, ns)
        sent = [e for e in published if e["type"] == "eps.notifications.notification-sent.v1"]
        assert len(sent) == 1 and sent[0]["data"]["recipient"] == "test-coordinator"
        assert sent[0]["data"]["notification_id"] == sms["reference"]
        # sent later by a job, in the conversation of the event that caused it
        assert sent[0]["correlationid"] == str(envelope.correlationid)
        assert sent[0]["causationid"] == str(envelope.id)
        assert "+44" not in json.dumps(published), "no phone number leaves the service"
        listed = await client.get(
            f"/notifications/incidents/{incident_id}", headers=bearer(Role.COORDINATOR)
        )
        assert [n["status"] for n in listed.json()["notifications"]] == ["delivered"]


async def test_a_temporary_failure_is_retried_then_delivered(infra: Infra, ns: Namespace) -> None:
    async with (
        stand_ins() as far,
        running(NOTIFICATIONS_SERVICE, infra, ns, **far.settings(), **FAST) as (_, client),
    ):
        await set_contacts(client)
        far.notify.fail_next(503, times=1, destination=MOBILES["test-coordinator"])
        far.notify.fail_next(429, times=1, destination=MOBILES["test-coordinator"])
        await publish(infra, ns, reported(uuid.uuid4()))
        await paged(far, "test-coordinator")

        async def delivered() -> bool:
            types = [e["type"] for e in await notification_events(infra, ns)]
            return "eps.notifications.notification-delivered.v1" in types

        await wait_until(delivered, timeout_s=20, what="delivered after the retries")
        published = await notification_events(infra, ns)
        events = [(e["type"].split(".")[2], e["data"]) for e in published]
        assert [(t, d["attempt"]) for t, d in events if t != "notification-delivered"] == [
            ("notification-failed", 1),
            ("notification-failed", 2),
            ("notification-sent", 3),
        ]
        failures = [d for t, d in events if t == "notification-failed"]
        assert all(not d["permanent"] and d["retry_at"] for d in failures)
        assert "503" in failures[0]["reason"] and "429" in failures[1]["reason"]
        assert len(far.notify.to(MOBILES["test-coordinator"])) == 1


async def test_no_page_once_the_incident_is_acknowledged(infra: Infra, ns: Namespace) -> None:
    incident_id = uuid.uuid4()
    slow_retry: dict[str, Any] = {**FAST, "notifications_retry_first_s": 600.0}
    async with (
        stand_ins() as far,
        running(NOTIFICATIONS_SERVICE, infra, ns, **far.settings(), **slow_retry) as (_, client),
    ):
        await set_contacts(client)
        far.notify.fail_next(503, times=1, destination=MOBILES["test-coordinator"])
        await publish(infra, ns, reported(incident_id))

        async def waiting_to_retry() -> bool:
            published = await notification_events(infra, ns)
            return any(e["type"].endswith("notification-failed.v1") for e in published)

        await wait_until(waiting_to_retry, timeout_s=15, what="a temporary failure")

        async def gauged_as_pending() -> bool:
            gauge = 'eps_notifications_waiting{service="notifications",status="pending"} 1.0'
            return gauge in (await client.get("/metrics")).text

        await wait_until(gauged_as_pending, timeout_s=10, what="the waiting message gauged")
        await publish(
            infra,
            ns,
            IncidentAcknowledged(
                incident_id=incident_id, at=suite_now(), acknowledged_by="test-coordinator"
            ),
        )
        # an escalation that crossed the acknowledgement pages nobody
        await publish(
            infra,
            ns,
            IncidentEscalated(
                incident_id=incident_id,
                at=suite_now(),
                from_person="test-coordinator",
                to_person="coord-backup",
                reason="not acknowledged within 15 minutes",
            ),
        )
        await all_consumed(infra, ns)
        await asyncio.sleep(0.5)
        assert far.notify.sent == [], "neither the retry nor the late escalation was sent"
        types = [e["type"] for e in await notification_events(infra, ns)]
        assert types == [
            "eps.notifications.notification-failed.v1",
            "eps.notifications.notification-withdrawn.v1",
        ]
        listed = await client.get(
            f"/notifications/incidents/{incident_id}", headers=bearer(Role.COORDINATOR)
        )
        assert [n["status"] for n in listed.json()["notifications"]] == ["withdrawn"]


async def report(client: httpx.AsyncClient, clock: FakeClock) -> str:
    body = report_body(clock.now - timedelta(minutes=20))
    created = await client.post("/incidents", json=body, headers=bearer(Role.COORDINATOR))
    assert created.status_code == 201, created.text
    return str(created.json()["incident_id"])


async def escalate(runtime: ServiceRuntime, client: httpx.AsyncClient, url: str, to: str) -> None:
    """Run incidents' escalation job until the incident is assigned to ``to``."""

    async def assigned() -> bool:
        assert runtime.jobs is not None
        job = next(j for j in runtime.jobs.jobs if j.name == incident_jobs.ESCALATION)
        await runtime.jobs.run_once(job)
        view = (await client.get(url, headers=bearer(Role.COORDINATOR))).json()
        return bool(view["assigned_to"] == to)

    await wait_until(assigned, timeout_s=10, what=f"escalated to {to}")


async def test_the_chain_is_paged_once_each_across_a_restart_and_reaches_the_principal_ep(
    infra: Infra, ns: Namespace
) -> None:
    clock = FakeClock(suite_now())
    async with (
        stand_ins() as far,
        running(INCIDENTS_SERVICE, infra, ns, clock=clock) as (incidents, incidents_client),
    ):
        await set_up_rota(incidents_client, clock.now - timedelta(hours=1), 13)
        notifications = running(
            NOTIFICATIONS_SERVICE, infra, ns, clock=clock, **far.settings(), **FAST
        )
        async with notifications as (_, client):
            await set_contacts(client)
            url = f"/incidents/{await report(incidents_client, clock)}"
            await paged(far, "test-coordinator")
        # notifications is down while nobody acknowledges and incidents escalates; and when it
        # comes back it is delivered everything again, as if it had lost its commits
        clock.advance(minutes=16)
        await escalate(incidents, incidents_client, url, "coord-backup")
        group, topic = ns.group("notifications", "incidents"), ns.topic(INCIDENTS.name)
        await rewind_group(infra.kafka_bootstrap, group, topic)
        assert await consumer_lag(infra.kafka_bootstrap, group, topic) >= 2
        again = running(NOTIFICATIONS_SERVICE, infra, ns, clock=clock, **far.settings(), **FAST)
        async with again:
            await paged(far, "coord-backup")
            clock.advance(minutes=16)
            await escalate(incidents, incidents_client, url, "pep-1")
            await paged(far, "pep-1")
            await all_consumed(infra, ns)
            await asyncio.sleep(0.5)
        assert [len(pages(far, p)) for p in MOBILES] == [1, 1, 1]
        assert "not acknowledged within 15 minutes" in pages(far, "pep-1")[0]["body"]


async def test_a_permanent_failure_moves_the_chain_on_at_once(infra: Infra, ns: Namespace) -> None:
    clock = FakeClock(suite_now())
    async with (
        stand_ins() as far,
        running(INCIDENTS_SERVICE, infra, ns, clock=clock) as (_, incidents_client),
        running(NOTIFICATIONS_SERVICE, infra, ns, clock=clock, **far.settings(), **FAST) as (
            _,
            client,
        ),
    ):
        await set_up_rota(incidents_client, clock.now - timedelta(hours=1), 13)
        await set_contacts(client)
        far.notify.fail_next(400, destination=MOBILES["test-coordinator"])
        url = f"/incidents/{await report(incidents_client, clock)}"
        await paged(far, "coord-backup")  # no clock moved: not the 15 minutes
        view = (await incidents_client.get(url, headers=bearer(Role.COORDINATOR))).json()
        assert view["assigned_to"] == "coord-backup"
        [escalation] = view["escalations"]
        assert escalation["from"] == "test-coordinator"
        assert escalation["reason"].startswith("could not be reached: GOV.UK Notify 400")
        failed = [
            e["data"]
            for e in await notification_events(infra, ns)
            if e["type"].endswith("notification-failed.v1")
        ]
        assert [(f["recipient"], f["permanent"], f["person_unreached"]) for f in failed] == [
            ("test-coordinator", True, True)
        ]


async def test_an_allocated_ep_is_told_where_and_when_by_smtp_email(
    infra: Infra, ns: Namespace
) -> None:
    incident_id = uuid.uuid4()
    starts_at = suite_now() + timedelta(hours=2)
    async with (
        stand_ins() as far,
        running(NOTIFICATIONS_SERVICE, infra, ns, **far.settings(), **FAST) as (_, client),
    ):
        ep = {"person_id": "ep-7", "email": "ep7@example.org", "email_via": "smtp"}
        await set_contacts(client, more=[ep])
        school = {"school_urn": SCHOOL, "name": "Example Primary", "address": "1 High St, LE1"}
        schools = await client.put(
            "/notifications/configuration/schools",
            json={"schools": [school]},
            headers=bearer(Role.PRINCIPAL_EP),
        )
        assert schools.status_code == 200, schools.text
        twice = await client.put(
            "/notifications/configuration/schools",
            json={"schools": [school, {**school, "name": "Another"}]},
            headers=bearer(Role.PRINCIPAL_EP),
        )
        assert twice.status_code == 422, twice.text
        assert located(twice) == [("body", "schools")]
        assert "given more than once: 123456" in twice.json()["errors"][0]["detail"]
        await publish(infra, ns, reported(incident_id))
        allocated = IncidentEpsAllocated(
            incident_id=incident_id,
            at=suite_now(),
            ep_ids=("ep-7",),
            eps_going=(EpGoing(ep_id="ep-7", starts_at=starts_at),),
            shortfall=1,
        )
        await publish(infra, ns, allocated, times=2)

        async def emailed() -> bool:
            return bool(far.smtp.to("ep7@example.org"))

        await wait_until(emailed, timeout_s=20, what="the EP emailed")
        await all_consumed(infra, ns)
        await asyncio.sleep(0.5)
        [email] = far.smtp.to("ep7@example.org")
        at = starts_at.astimezone(LONDON)
        assert f"Be there by {at:%H:%M on %a %d %b}. Address: 1 High St, LE1." in email["body"]
        assert "at Example Primary (123456)" in email["body"]
        assert email["subject"].startswith("Critical incident: you are going")
        sent = [
            e["data"]
            for e in await notification_events(infra, ns)
            if e["type"].endswith("notification-sent.v1") and e["data"]["recipient"] == "ep-7"
        ]
        assert [(s["channel"], s["provider"]) for s in sent] == [("email", "smtp")]


async def test_a_send_whose_outcome_was_lost_is_found_by_its_reference_not_sent_again(
    infra: Infra, ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_send_outcome = handlers.record_send_outcome
    lost: list[uuid.UUID] = []

    async def crash_after_the_first_send(cmd: commands.RecordSendOutcome, uow: Any) -> None:
        if not lost:  # the process stops between the send and recording it
            lost.append(cmd.notification_id)
            raise RuntimeError("stopped before the outcome was recorded")
        await record_send_outcome(cmd, uow)

    monkeypatch.setattr(handlers, "record_send_outcome", crash_after_the_first_send)
    in_doubt_soon = {**FAST, "notifications_in_doubt_after_s": 0.5}
    async with (
        stand_ins() as far,
        running(NOTIFICATIONS_SERVICE, infra, ns, **far.settings(), **in_doubt_soon) as (_, client),
    ):
        await set_contacts(client)
        await publish(infra, ns, reported(uuid.uuid4()))

        async def recorded_as_sent() -> bool:
            types = [e["type"] for e in await notification_events(infra, ns)]
            return "eps.notifications.notification-sent.v1" in types

        await wait_until(recorded_as_sent, timeout_s=20, what="the lost send found and recorded")
        await asyncio.sleep(0.5)
        assert lost, "the first outcome was lost"
        [sms] = far.notify.to(MOBILES["test-coordinator"])
        [sent] = [
            e["data"]
            for e in await notification_events(infra, ns)
            if e["type"].endswith("notification-sent.v1")
        ]
        assert sent["notification_id"] == sms["reference"] == str(lost[0])
        assert sent["attempt"] == 1
