"""An upstream system that is not Python: Kafka's own console producer (Java, from the jars the
project resolves) publishes every upstream event type in both CloudEvents modes, structured and
binary, to the running services; each is applied and its outcome read over HTTP by the id its
sender gave it, and each bad event is dead-lettered with the reason, its bytes and headers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from eps_chassis.auth import Role
from eps_chassis.data_keys import DataKeys
from eps_contracts import Envelope, Event, dead_letter_topic, envelope_for, topics
from eps_contracts.common import RequesterKind
from eps_contracts.incidents import INCIDENTS as INCIDENTS_TOPIC
from eps_contracts.incidents import UPSTREAM_INCIDENT_REPORTS, IncidentReportSubmitted
from eps_contracts.referrals import Requester
from eps_contracts.statutory import (
    ADVICE,
    UPSTREAM_STATUTORY_REQUESTS,
    PsychologicalAdviceRequested,
    PsychologicalAdviceRequestWithdrawn,
    TribunalAppealRegistered,
)
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_referrals.bootstrap import SERVICE as REFERRALS
from eps_statutory.bootstrap import SERVICE as STATUTORY

from tests.support.builders import incidents as incident_builders
from tests.support.builders import referrals as referral_builders
from tests.support.clock import suite_now, suite_today
from tests.support.cloudevents import KafkaMessage, binary, structured
from tests.support.dead_letters import original_value
from tests.support.infra import Infra
from tests.support.kafka import publish_with_console_producer, read_topic, wait_until
from tests.support.services import Namespace, bearer, get_json_or_none, running

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
SCHOOL = "123456"
UNREGISTERED_SCHOOL = "999999"


def upstream(event: Event, system: str) -> Envelope[Any]:
    return envelope_for(
        event,
        source=f"/la/{TENANT}/{system}",
        tenant=TENANT,
        actor=f"upstream:{system}",
        time=suite_now(),
    )


def advice_request() -> PsychologicalAdviceRequested:
    now = suite_now()
    return PsychologicalAdviceRequested(
        request_id=uuid.uuid4(),
        requested_at=now - timedelta(hours=1),
        assessment_requested_on=suite_today() - timedelta(days=30),
        la_case_ref="EHC-2026-0042",
        child_id=uuid.uuid4(),
        child_given_name="Sam",
        child_family_name="Taylor",
        child_date_of_birth=suite_today().replace(year=suite_today().year - 10),
        school_urn=SCHOOL,
        school_name="Greenfield Primary School",
    )


def as_record(message: KafkaMessage) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    return message.key, message.headers, message.value


async def causes(infra: Infra, ns: Namespace, wanted: set[str]) -> dict[uuid.UUID, str]:
    """Which event (``topic/type``) each upstream event caused, by its ``causationid``."""
    found: dict[uuid.UUID, str] = {}
    for topic in {w.split("/")[0] for w in wanted}:
        for record in await read_topic(infra.kafka_bootstrap, ns.topic(topic)):
            event = json.loads(record.value)
            if f"{topic}/{event['type']}" in wanted and event["causationid"]:
                found[uuid.UUID(event["causationid"])] = f"{topic}/{event['type']}"
    return found


async def dead_letters(infra: Infra, ns: Namespace, service: str, count: int) -> list[Any]:
    topic = ns.topic(dead_letter_topic(service).name)

    async def arrived() -> bool:
        return len(await read_topic(infra.kafka_bootstrap, topic)) >= count

    await wait_until(arrived, timeout_s=60, what=f"{count} dead letters of {service}")
    return await read_topic(infra.kafka_bootstrap, topic)


async def reasons_by_value(records: Sequence[Any], keys: DataKeys) -> dict[bytes, str]:
    """Each dead letter's reason by its original value (opened: dead letters are sealed)."""
    return {await original_value(r, keys): dict(r.headers)["dlq-reason"].decode() for r in records}


async def test_every_upstream_topic_takes_both_modes_from_kafkas_console_producer(
    infra: Infra, ns: Namespace
) -> None:
    # eps.upstream.referral-requests.v1: one request per mode, one naming a school the LA's
    # register does not hold yet (it waits), and two the contracts refuse
    referral_structured = referral_builders.upstream_envelope()
    referral_binary = referral_builders.upstream_envelope(  # another child: not a duplicate
        referral_builders.referral_requested(child=referral_builders.child(given_name="Alex"))
    )
    referral_waiting = referral_builders.upstream_envelope(
        referral_builders.referral_requested(
            requester=Requester(
                kind=RequesterKind.SCHOOL_SENCO,
                person_id="senco-9",
                name="Ali Khan",
                school_urn=UNREGISTERED_SCHOOL,
            ),
            child=referral_builders.child(school_urn=UNREGISTERED_SCHOOL),
        )
    )
    misspelt = binary(
        referral_builders.upstream_envelope(), ce_type="eps.upstream.referal-requested.v1"
    )
    untyped = binary(referral_builders.upstream_envelope(), ce_type=None)
    # eps.upstream.incident-reports.v1: a report per mode; one with another topic's type
    occurred = suite_now() - timedelta(hours=1)
    report_structured, report_binary = (
        upstream(
            IncidentReportSubmitted(**dict(incident_builders.report(occurred_at=occurred))),
            "out-of-hours",
        )
        for _ in range(2)
    )
    misplaced = binary(
        upstream(
            IncidentReportSubmitted(**dict(incident_builders.report(occurred_at=occurred))),
            "out-of-hours",
        ),
        ce_type=PsychologicalAdviceRequested.event_type,
    )
    # eps.upstream.statutory-requests.v1: every type it carries, each mode used; one request
    # breaking its payload and one with an unknown kind of tenant
    request_structured = upstream(advice_request(), "sen-system")
    request_binary = upstream(advice_request(), "sen-system")
    appeal = upstream(
        TribunalAppealRegistered(
            appeal_id=uuid.uuid4(),
            request_id=request_structured.data.request_id,
            registered_on=suite_today(),
            hearing_on=suite_today() + timedelta(days=90),
        ),
        "sen-system",
    )
    withdrawal = upstream(
        PsychologicalAdviceRequestWithdrawn(
            request_id=request_binary.data.request_id,
            withdrawn_on=suite_today(),
            reason="The family moved to another local authority.",
        ),
        "sen-system",
    )
    broken = structured(upstream(advice_request(), "sen-system"))
    body = json.loads(broken.value)
    body["data"]["la_case_ref"] = 7
    broken = KafkaMessage(broken.key, broken.headers, json.dumps(body).encode())
    bad_tenant = binary(upstream(advice_request(), "sen-system"), ce_tenant="Leicester City")

    published = {
        topics.UPSTREAM_REFERRAL_REQUESTS: [
            structured(referral_structured),
            binary(referral_binary),
            binary(referral_waiting),
            misspelt,
            untyped,
        ],
        UPSTREAM_INCIDENT_REPORTS: [
            structured(report_structured),
            binary(report_binary),
            misplaced,
        ],
        UPSTREAM_STATUTORY_REQUESTS: [
            structured(request_structured),
            binary(request_binary),
            binary(appeal),
            structured(withdrawal),
            broken,
            bad_tenant,
        ],
    }
    async with (
        running(REFERRALS, infra, ns) as (_, referrals),
        running(INCIDENTS, infra, ns) as (_, incidents),
        running(STATUTORY, infra, ns) as (_, statutory),
    ):
        registered = await referrals.put(
            f"/referrals/schools/{SCHOOL}",
            json={"name": "Greenfield Primary School"},
            headers=bearer(Role.COORDINATOR),
        )
        assert registered.status_code == 200, registered.text
        for topic, messages in published.items():
            await publish_with_console_producer(
                infra.kafka_bootstrap, ns.topic(topic.name), [as_record(m) for m in messages]
            )

        # each applied, its outcome read by the id the sender gave it
        referral_paths = {
            envelope: f"/referrals/requests/{envelope.data.request_id}"
            for envelope in (referral_structured, referral_binary, referral_waiting)
        }
        report_paths = {
            envelope: f"/incidents/reports/{envelope.data.report_id}"
            for envelope in (report_structured, report_binary)
        }
        request_paths = {
            envelope: f"/statutory/requests/{envelope.data.request_id}"
            for envelope in (request_structured, request_binary)
        }

        async def all_applied() -> bool:
            shown = [
                *[
                    await get_json_or_none(referrals, p, Role.COORDINATOR)
                    for p in referral_paths.values()
                ],
                *[
                    await get_json_or_none(incidents, p, Role.COORDINATOR)
                    for p in report_paths.values()
                ],
            ]
            appealed, withdrawn = [
                await get_json_or_none(statutory, p, Role.ADMIN) for p in request_paths.values()
            ]
            return (
                None not in shown
                and appealed is not None
                and bool(appealed["tribunal_tasks"])
                and withdrawn is not None
                and withdrawn["advice"]["status"] == "withdrawn"
            )

        await wait_until(all_applied, timeout_s=60, what="every upstream event applied")

        for envelope in (referral_structured, referral_binary):
            shown = await get_json_or_none(referrals, referral_paths[envelope], Role.COORDINATOR)
            assert shown is not None and shown["outcome"] == "applied", shown
            assert shown["referral"]["status"] == "awaiting_consent"
            read = await referrals.get(
                f"/referrals/{shown['referral']['referral_id']}", headers=bearer(Role.COORDINATOR)
            )
            assert read.json()["request_id"] == str(envelope.data.request_id)
        waiting = await get_json_or_none(
            referrals, referral_paths[referral_waiting], Role.COORDINATOR
        )
        assert waiting is not None and waiting["outcome"] == "waiting", waiting
        assert waiting["referral"] is None
        [held] = waiting["waiting"]
        assert held["event_id"] == str(referral_waiting.id)
        assert held["field"] == "child.school_urn" and UNREGISTERED_SCHOOL in held["reason"]
        for report in (report_structured, report_binary):
            shown = await get_json_or_none(incidents, report_paths[report], Role.COORDINATOR)
            assert shown is not None and shown["outcome"] == "applied"
            assert shown["incident"]["school_urn"] == report.data.school_urn
        appealed = await get_json_or_none(statutory, request_paths[request_structured], Role.ADMIN)
        assert appealed is not None
        assert {t["appeal_id"] for t in appealed["tribunal_tasks"]} == {str(appeal.data.appeal_id)}
        withdrawn = await get_json_or_none(statutory, request_paths[request_binary], Role.ADMIN)
        assert withdrawn is not None and withdrawn["advice"]["withdrawn_on"] == str(suite_today())

        # on Kafka, each outcome's first event names the request's event as its cause
        caused = {
            envelope.id: f"{topic.name}/{event_type}"
            for envelope, topic, event_type in (
                (referral_structured, topics.REFERRALS, "eps.referrals.referral-received.v2"),
                (referral_binary, topics.REFERRALS, "eps.referrals.referral-received.v2"),
                (report_structured, INCIDENTS_TOPIC, "eps.incidents.incident-reported.v1"),
                (report_binary, INCIDENTS_TOPIC, "eps.incidents.incident-reported.v1"),
                (request_structured, ADVICE, "eps.statutory.advice-request-received.v1"),
                (request_binary, ADVICE, "eps.statutory.advice-request-received.v1"),
            )
        }

        async def all_caused() -> bool:
            return await causes(infra, ns, set(caused.values())) == caused

        await wait_until(all_caused, timeout_s=30, what="each outcome's event published")

        # each bad event dead-lettered by the service it was meant for, with the reason
        referral_dead = await reasons_by_value(
            await dead_letters(infra, ns, "referrals", 2), ns.data_keys
        )
        incident_dead = await reasons_by_value(
            await dead_letters(infra, ns, "incidents", 1), ns.data_keys
        )
        statutory_dead = await reasons_by_value(
            await dead_letters(infra, ns, "statutory", 2), ns.data_keys
        )
    upstream_referrals = ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name)
    assert referral_dead == {
        misspelt.value: "ce_type: unknown event type 'eps.upstream.referal-requested.v1' on"
        f" {upstream_referrals}; it carries eps.upstream.referral-requested.v1",
        untyped.value: "ce_type: missing CloudEvents type attribute",
    }
    assert incident_dead == {
        misplaced.value: f"ce_type: '{PsychologicalAdviceRequested.event_type}' travels on"
        f" {UPSTREAM_STATUTORY_REQUESTS.name}, not on {ns.topic(UPSTREAM_INCIDENT_REPORTS.name)};"
        " it carries eps.upstream.incident-report-submitted.v1"
    }
    assert statutory_dead == {
        broken.value: "data.la_case_ref: Input should be a valid string",
        bad_tenant.value: "ce_tenant: String should match pattern '^[a-z0-9][a-z0-9-]{1,62}$'",
    }
    # a dead letter keeps the producer's own headers, in binary mode every ce_ header
    letters = await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.referrals.v1"))
    [dead] = [r for r in letters if await original_value(r, ns.data_keys) == misspelt.value]
    assert dict(dead.headers)["ce_id"] == dict(misspelt.headers)["ce_id"]
    assert dead.key == misspelt.key


async def audit_rows(infra: Infra, ns: Namespace, service: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT role, resource, outcome FROM {ns.schema(service)}.audit_log"
            " WHERE action = 'read' ORDER BY id"
        )
    finally:
        await conn.close()
    return [(r["role"], r["resource"], r["outcome"]) for r in rows]


async def test_a_request_outcome_is_read_as_the_record_is_audited_refusals_too(
    infra: Infra, ns: Namespace
) -> None:
    envelope = referral_builders.upstream_envelope()
    unknown = uuid.uuid4()
    async with running(REFERRALS, infra, ns) as (_, client):
        await publish_with_console_producer(
            infra.kafka_bootstrap,
            ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
            [as_record(binary(envelope))],
        )
        path = f"/referrals/requests/{envelope.data.request_id}"

        async def applied() -> bool:
            return (await client.get(path, headers=bearer(Role.ADMIN))).status_code == 200

        await wait_until(applied, timeout_s=30, what="request applied")
        shown = (await client.get(path, headers=bearer(Role.ADMIN))).json()
        referral = shown["referral"]["referral_id"]
        own_school = await client.get(path, headers=bearer(Role.SENCO, school_urn=SCHOOL))
        assert own_school.status_code == 200 and own_school.json() == shown
        other_school = await client.get(path, headers=bearer(Role.SENCO, school_urn="654321"))
        assert other_school.status_code == 403
        missing = await client.get(f"/referrals/requests/{unknown}", headers=bearer(Role.ADMIN))
        assert missing.status_code == 404 and "eps.dlq.referrals.v1" in missing.text
        assert (await client.get(path, headers=bearer(Role.FINANCE))).status_code == 403
        assert (await client.get(path)).status_code == 401
    reads = [r for r in await audit_rows(infra, ns, "referrals") if r[0] in ("admin", "senco")]
    assert reads[-4:] == [  # before them: polling until it was applied
        ("admin", f"referral/{referral}", "allowed"),
        ("senco", f"referral/{referral}", "allowed"),
        ("senco", f"referral/{referral}", "denied"),
        ("admin", f"referral-request/{unknown}", "not_found"),
    ]
