"""Events and callers are checked against the local authorities the platform knows and the
deployment serves, and against the authority that owns the records they name.

All six services run here on the real broker and database, serving Leicester City and Rutland.
Leicester City does its work first through the public entry points (a school registered, an
SLA bought, referrals from its own system and from a SENCO, consent recorded, an incident
reported and allocated, a request for statutory advice booked, time delivered and corrected, a
booking cancelled), so that every topic a service consumes carries real Leicester City events.
Then:

- those events are re-sent with ``tenant`` set to an id the platform does not know (a typo), or
  to an authority the deployment does not serve: every consumer dead-letters them, saying so;
- they are re-sent with ``tenant`` set to Rutland, which the deployment serves: the records they
  name belong to Leicester City, so every consumer that would create or change state
  dead-letters them, saying so, and Rutland has no state anywhere;
- a token whose ``la`` is not served is refused (401) and creates and reads nothing; a caller of
  Rutland is told nothing of Leicester City's records (404, as for a missing one).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from eps_billing.bootstrap import SERVICE as BILLING
from eps_chassis.auth import Role
from eps_chassis.service import Service, ServiceRuntime
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_contracts import Event, Topic, dead_letter_topic, envelope_for, topics
from eps_contracts.billing import AGREEMENTS
from eps_contracts.common import RequesterKind
from eps_contracts.incidents import (
    FAST_TRACK_REQUESTS,
    UPSTREAM_INCIDENT_REPORTS,
    IncidentKind,
    IncidentReportSubmitted,
)
from eps_contracts.referrals import Requester
from eps_contracts.scheduling import (
    APPOINTMENTS,
    BOOKING_REQUESTS,
    DELIVERED_TIME,
    FAST_TRACK_ALLOCATIONS,
    SCHOOLS,
)
from eps_contracts.statutory import ADVICE, UPSTREAM_STATUTORY_REQUESTS
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_referrals.bootstrap import SERVICE as REFERRALS
from eps_scheduling.bootstrap import SERVICE as SCHEDULING
from eps_statutory.bootstrap import SERVICE as STATUTORY

from tests.support.builders import incidents as incident_builders
from tests.support.builders import referrals as referral_builders
from tests.support.builders import statutory as statutory_builders
from tests.support.clock import suite_now, suite_today
from tests.support.db import query
from tests.support.dead_letters import original_value
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, publish_raw, read_topic, wait_until
from tests.support.services import Namespace, drop_namespace, running
from tests.support.system import La
from tests.system.journeys import (
    academic_year,
    book,
    eventually,
    london_at,
    ok,
    referral_in_casework,
    register_ep,
    register_school,
)
from tests.system.test_billing_journeys import add_tariff, deliver_an_hour_today

pytestmark = pytest.mark.integration

LEICESTER, RUTLAND = "leicester-city", "rutland"
SERVED = (LEICESTER, RUTLAND)
SERVICES: tuple[Service[Any], ...] = (REFERRALS, CONSENT, SCHEDULING, INCIDENTS, STATUTORY, BILLING)
SCHOOL, EP, ROTA_EP = "856001", "ep-leicester", "ep-leicester-rota"
TRADED_EP = "ep-leicester-traded"  # off the rota: the incident does not take their time

UPSTREAM = (
    topics.UPSTREAM_REFERRAL_REQUESTS,
    UPSTREAM_INCIDENT_REPORTS,
    UPSTREAM_STATUTORY_REQUESTS,
)
CONSUMED = (
    *UPSTREAM,
    topics.REFERRALS,
    topics.CONSENT,
    SCHOOLS,
    FAST_TRACK_REQUESTS,
    FAST_TRACK_ALLOCATIONS,
    ADVICE,
    BOOKING_REQUESTS,
    APPOINTMENTS,
    AGREEMENTS,
    DELIVERED_TIME,
)


@dataclass
class Platform:
    infra: Infra
    ns: Namespace
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    runtimes: dict[str, ServiceRuntime[Any]] = field(default_factory=dict)
    referral_id: str = ""  # Leicester City's, in casework

    def consumers_of(self, topic_name: str) -> list[tuple[str, str]]:
        """(service, consumer group name) of every consumer of a topic."""
        return [
            (service, consumer.name)
            for service, runtime in self.runtimes.items()
            for consumer in runtime.definition.consumers
            if topic_name in {t.name for t in consumer.topics}
        ]

    async def publish(self, topic_name: str, envelope: dict[str, Any]) -> None:
        await publish_raw(
            self.infra.kafka_bootstrap,
            self.ns.topic(topic_name),
            [json.dumps(envelope).encode()],
            key=envelope["subject"].encode(),
        )

    async def upstream(self, event: Event, tenant: str = LEICESTER) -> None:
        envelope = envelope_for(
            event,
            source=f"/la/{tenant}/case-system",
            tenant=tenant,
            actor="upstream:case-system",
            time=suite_now(),
        )
        await self.publish(event.topic.name, json.loads(envelope.model_dump_json()))

    async def events(self, topic_name: str, tenant: str = LEICESTER) -> list[dict[str, Any]]:
        records = await read_topic(self.infra.kafka_bootstrap, self.ns.topic(topic_name))
        decoded = [json.loads(r.value) for r in records]
        return [e for e in decoded if e.get("tenant") == tenant]

    async def dead_letters(self, service: str) -> list[ConsumerRecord]:
        return await read_topic(
            self.infra.kafka_bootstrap, self.ns.topic(dead_letter_topic(service).name)
        )

    async def settled(self, topic_name: str) -> None:
        """Every consumer of the topic has committed all it holds."""

        async def caught_up() -> bool:
            for service, consumer in self.consumers_of(topic_name):
                group = self.ns.group(service, consumer)
                lag = await consumer_lag(
                    self.infra.kafka_bootstrap, group, self.ns.topic(topic_name)
                )
                if lag:
                    return False
            return True

        await wait_until(caught_up, timeout_s=60, what=f"{topic_name} consumed")

    async def state_of(self, tenant: str) -> dict[str, int]:
        """Rows ``tenant`` has, by table, in every service's schema."""
        schemas = [self.ns.schema(s.definition().name) for s in SERVICES]
        tables = await query(
            self.infra,
            "SELECT table_schema, table_name FROM information_schema.columns"
            " WHERE column_name = 'tenant' AND table_schema = ANY($1::text[])",
            schemas,
        )
        counts: dict[str, int] = {}
        for row in tables:
            name = f'"{row["table_schema"]}"."{row["table_name"]}"'
            [[n]] = await query(
                self.infra, f"SELECT count(*) FROM {name} WHERE tenant = $1", tenant
            )
            if n:
                counts[f"{row['table_schema'].rsplit('_', 1)[0]}.{row['table_name']}"] = n
        return counts


@pytest.fixture(scope="module")
async def platform(infra: Infra) -> AsyncIterator[Platform]:
    ns = Namespace.new()
    found = Platform(infra, ns)
    try:
        async with AsyncExitStack() as stack:
            for service in SERVICES:
                runtime, client = await stack.enter_async_context(
                    # the upstream records are resent as other LAs' copies: not purged meanwhile
                    running(
                        service, infra, ns, local_authorities=SERVED, upstream_purge_interval_s=3600
                    )
                )
                found.runtimes[runtime.definition.name] = runtime
                found.clients[runtime.definition.name] = client
            await leicester_does_its_work(found)
            yield found
    finally:
        await drop_namespace(infra, ns)


async def leicester_does_its_work(platform: Platform) -> None:
    """Leicester City's work through the public entry points: every topic a service consumes
    then carries its real events."""
    la = La(LEICESTER)
    c = platform.clients
    scheduling, billing = c["scheduling"], c["billing"]
    await register_ep(scheduling, la, EP)
    await register_ep(scheduling, la, ROTA_EP)
    await register_ep(scheduling, la, TRADED_EP, on_rota=False)
    await register_school(scheduling, la, SCHOOL, EP)
    finance = la.as_(Role.FINANCE, subject="fin-1")
    await add_tariff(billing, finance)
    body = {"school_urn": SCHOOL, "academic_year": academic_year(suite_today()), "days": 5}
    bought = await billing.post("/billing/agreements", json=body, headers=finance)
    assert bought.status_code in (201, 202), bought.text  # 202: priced once billing knows it
    await eventually(lambda: platform.events(AGREEMENTS.name), "the SLA bought")
    # a referral from the LA's own system, and one from the school's SENCO taken to casework
    await platform.upstream(
        referral_builders.referral_requested(
            request_id=uuid.uuid4(),
            requested_on=suite_today(),
            requester=Requester(
                kind=RequesterKind.SCHOOL_SENCO, person_id="senco-2", name="Al", school_urn=SCHOOL
            ),
            child=referral_builders.child(school_urn=SCHOOL, given_name="Alex"),
        )
    )
    platform.referral_id = await referral_in_casework(
        la, c["referrals"], c["consent"], school_urn=SCHOOL, ep_id=EP
    )
    # a critical incident from the LA's system: scheduling allocates, incidents records it
    await platform.upstream(
        IncidentReportSubmitted(
            **dict(
                incident_builders.report(
                    level=1,
                    school_urn=SCHOOL,
                    kind=IncidentKind.SERIOUS_ACCIDENT,
                    occurred_at=suite_now() - timedelta(minutes=10),
                    reported_by="Duty officer, LA system",
                )
            )
        )
    )
    coordinator = la.as_(Role.COORDINATOR, subject="coord-1")

    async def allocated() -> bool:
        listed = ok(await c["incidents"].get("/incidents", headers=coordinator))["incidents"]
        return any(i["answered_at"] for i in listed)

    await eventually(allocated, "the incident allocated")
    # a request for statutory advice: its assessment visit is booked by scheduling
    await platform.upstream(
        statutory_builders.requested(
            requested_at=suite_now(),
            assessment_requested_on=suite_today() - timedelta(days=20),
            school_urn=SCHOOL,
        )
    )
    ep = la.as_(Role.EP, subject=EP)

    async def assessment_booked() -> bool:
        rows = ok(await c["statutory"].get("/statutory/advice/open", headers=ep))
        return any(r["assessment_booked"] for r in rows)

    await eventually(assessment_booked, "the assessment visit booked")
    # traded time delivered today and corrected; a traded booking cancelled by the school
    delivery = await deliver_an_hour_today(scheduling, la, SCHOOL, TRADED_EP)
    correction = {
        "correction_id": str(uuid.uuid4()),
        "minutes": 45,
        "funding_stream": "traded",
        "reason": "left early",
    }
    supervisor = la.as_(Role.PRINCIPAL_EP, subject="pep-1")
    url = f"/scheduling/deliveries/{delivery['delivery_id']}/corrections"
    ok(await scheduling.post(url, json=correction, headers=supervisor))
    day_after_tomorrow = london_at(suite_today() + timedelta(days=2), 10)
    cancelled = await book(
        scheduling,
        la,
        {
            "kind": "consultation",
            "funding_stream": "traded",
            "starts_at": day_after_tomorrow.isoformat(),
            "duration_minutes": 60,
            "ep_id": TRADED_EP,
            "school_urn": SCHOOL,
        },
        ep_id=TRADED_EP,
    )
    url = f"/scheduling/appointments/{cancelled['appointment_id']}/cancel"
    body = {"reason": "the school closed for the day", "cancelled_by": "school"}
    ok(await scheduling.post(url, json=body, headers=la.as_(Role.EP, subject=TRADED_EP)))
    for topic in CONSUMED:
        await platform.settled(topic.name)


def copy_of(event: dict[str, Any], tenant: str) -> dict[str, Any]:
    """A real event sent again as a new event of another local authority."""
    return {**event, "id": str(uuid.uuid4()), "tenant": tenant}


async def resend(platform: Platform, topic_name: str, tenant: str) -> list[dict[str, Any]]:
    """Every Leicester City event on the topic, sent again under ``tenant``; once consumed."""
    copies = [copy_of(e, tenant) for e in await platform.events(topic_name)]
    assert copies, f"Leicester City's work put nothing on {topic_name}"
    for copy in copies:
        await platform.publish(topic_name, copy)
    await platform.settled(topic_name)
    return copies


def handled_by(
    platform: Platform, topic_name: str, copies: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    """(service, event id) of each copy each consumer of the topic has a handler for."""
    return {
        (service, copy["id"])
        for service, name in platform.consumers_of(topic_name)
        for consumer in platform.runtimes[service].definition.consumers
        if consumer.name == name
        for copy in copies
        if copy["type"] in {t.event_type for t in consumer.handled_event_types}
    }


async def dead_lettered(
    platform: Platform, topic_name: str, copies: list[dict[str, Any]], *, expected: int
) -> dict[tuple[str, str], str]:
    """The reasons the consumers gave, by (service, event id), once ``expected`` are out."""
    ids = {c["id"] for c in copies}
    found: dict[tuple[str, str], str] = {}

    async def out() -> bool:
        for service in {s for s, _ in platform.consumers_of(topic_name)}:
            for record in await platform.dead_letters(service):
                original = await original_value(record, platform.ns.data_keys)  # sealed
                event_id = json.loads(original).get("id")
                if event_id in ids:
                    found[(service, event_id)] = dict(record.headers)["dlq-reason"].decode()
        return len(found) >= expected

    await wait_until(out, timeout_s=30, what=f"{expected} dead letters from {topic_name}")
    return found


# --- an unknown local authority, or one the deployment does not serve ---------------------


@pytest.mark.parametrize("topic", CONSUMED, ids=lambda t: t.name)
async def test_an_event_of_an_unknown_local_authority_is_dead_lettered_by_every_consumer(
    platform: Platform, topic: Topic
) -> None:
    copies = await resend(platform, topic.name, "leicester-cty")
    handled = handled_by(platform, topic.name, copies)
    reasons = await dead_lettered(platform, topic.name, copies, expected=len(handled))
    assert set(reasons) == handled
    assert set(reasons.values()) == {
        "tenant: unknown local authority 'leicester-cty' (did you mean 'leicester-city'?)"
    }
    assert await platform.state_of("leicester-cty") == {}


async def test_an_event_of_a_local_authority_not_served_here_is_dead_lettered(
    platform: Platform,
) -> None:
    copies = await resend(platform, topics.UPSTREAM_REFERRAL_REQUESTS.name, "leicestershire")
    reasons = await dead_lettered(
        platform, topics.UPSTREAM_REFERRAL_REQUESTS.name, copies, expected=len(copies)
    )
    assert set(reasons.values()) == {"tenant: local authority 'leicestershire' is not served here"}
    assert await platform.state_of("leicestershire") == {}


# --- records another local authority owns ------------------------------------------------

OWNED_ELSEWHERE = re.compile(r"rejected: [a-z_.]+: [a-z ]+ \S+ belongs to another local authority")


@pytest.mark.parametrize("topic", CONSUMED, ids=lambda t: t.name)
async def test_an_event_naming_another_authoritys_records_is_dead_lettered_and_creates_nothing(
    platform: Platform, topic: Topic
) -> None:
    """Leicester City's events sent again as Rutland's: each consumer that would act on one
    refuses it, naming the record, and Rutland has no state anywhere."""
    copies = await resend(platform, topic.name, RUTLAND)
    skipped = {c["id"] for c in copies if not_statutorys_business(c)}
    acted_on = {
        (s, i)
        for s, i in handled_by(platform, topic.name, copies)
        if not (s == "statutory" and i in skipped)
    }
    reasons = await dead_lettered(platform, topic.name, copies, expected=len(acted_on))
    assert set(reasons) == acted_on
    assert all(OWNED_ELSEWHERE.fullmatch(r) for r in reasons.values()), reasons
    assert await platform.state_of(RUTLAND) == {}


def not_statutorys_business(event: dict[str, Any]) -> bool:
    """An appointment of a case other than an advice (traded work): statutory skips it."""
    case_ref = event["data"].get("case_ref") or ""
    return event["type"].startswith("eps.scheduling.appointment") and not case_ref.startswith(
        "advice:"
    )


# --- callers -----------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["leicester-cty", "leicestershire"])
async def test_a_caller_of_an_authority_not_served_here_creates_and_reads_nothing(
    platform: Platform, tenant: str
) -> None:
    referrals = platform.clients["referrals"]
    request = referral_builders.referral_requested(
        request_id=uuid.uuid4(),
        requested_on=suite_today(),
        child=referral_builders.child(school_urn=SCHOOL),
    )
    senco = {**La(tenant).as_(Role.SENCO, school_urn=SCHOOL), "Content-Type": "application/json"}
    submitted = await referrals.post(
        "/referrals/sources/school_senco", content=request.model_dump_json(), headers=senco
    )
    url = f"/referrals/{platform.referral_id}"
    read = await referrals.get(url, headers=La(tenant).as_(Role.EP, subject=EP))
    assert (submitted.status_code, read.status_code) == (401, 401)
    assert f"local authority '{tenant}'" in read.text
    # nothing but the two refusals, audited under the authority the token names
    assert await platform.state_of(tenant) == {"referrals.audit_log": 2}
    audit = f'"{platform.ns.schema("referrals")}".audit_log'
    refusals = await query(platform.infra, f"SELECT outcome FROM {audit} WHERE tenant = $1", tenant)
    assert [r["outcome"] for r in refusals] == ["unauthenticated", "unauthenticated"]


async def test_a_caller_of_another_authority_served_here_is_told_nothing_of_its_records(
    platform: Platform,
) -> None:
    url = f"/referrals/{platform.referral_id}"
    read = await platform.clients["referrals"].get(url, headers=La(RUTLAND).as_(Role.EP))
    assert read.status_code == 404
    assert LEICESTER not in read.text and "another local authority" not in read.text
