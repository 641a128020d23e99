"""The platform's guarantees, proven on the real broker and database with one real flow:

an upstream system publishes a referral request -> the referrals service stores it and publishes
``ReferralReceived`` through its outbox -> the consent service opens a consent case.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable
from datetime import date

import asyncpg
import pytest
from eps_chassis.auth import Role
from eps_chassis.settings import ServiceSettings
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_contracts import topics
from eps_contracts.referrals import ReferralReceived
from eps_referrals.bootstrap import SERVICE as REFERRALS

from tests.support.builders import referrals as builders
from tests.support.dead_letters import original_value
from tests.support.infra import REPO, Infra
from tests.support.kafka import consumer_lag, publish_raw, read_topic, wait_until
from tests.support.keys import data_keys_at, keys_process
from tests.support.services import Namespace, bearer, running, settings_for

pytestmark = pytest.mark.integration

# A referral also publishes its routing; these tests count the ReferralReceived of each one.
RECEIVED = f"convert_from(value, 'UTF8') LIKE '%\"type\":\"{ReferralReceived.event_type}\"%'"


async def count(infra: Infra, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def drained(infra: Infra, ns: Namespace, service: str, consumer: str, topic: str) -> bool:
    return (
        await consumer_lag(infra.kafka_bootstrap, ns.group(service, consumer), ns.topic(topic)) == 0
    )


async def test_same_event_delivered_twice_has_one_effect(infra: Infra, ns: Namespace) -> None:
    request = builders.referral_requested()
    envelope = builders.upstream_envelope(request)
    resent_with_new_id = builders.upstream_envelope(request)  # an upstream retry: new event id
    raw = envelope.model_dump_json().encode()
    async with (
        running(REFERRALS, infra, ns),
        running(CONSENT, infra, ns),
    ):
        await publish_raw(
            infra.kafka_bootstrap,
            ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
            [raw, raw, resent_with_new_id.model_dump_json().encode()],
            key=envelope.subject.encode(),
        )
        consent = ns.schema("consent")
        await wait_until(
            lambda: drained(
                infra, ns, "referrals", "upstream-requests", topics.UPSTREAM_REFERRAL_REQUESTS.name
            ),
            what="upstream requests consumed",
        )
        await wait_until(
            lambda: drained(infra, ns, "consent", "referral-events", topics.REFERRALS.name),
            what="referral events consumed",
        )
        await wait_until(
            lambda: _positive(count(infra, f"SELECT count(*) FROM {consent}.consent_cases")),
            what="consent case opened",
        )
    referrals = ns.schema("referrals")
    assert await count(infra, f"SELECT count(*) FROM {referrals}.referrals") == 1
    assert await count(infra, f"SELECT count(*) FROM {referrals}.inbox") == 2  # two distinct ids
    assert (
        await count(
            infra,
            f"SELECT count(*) FROM {referrals}.outbox WHERE topic = $1 AND {RECEIVED}",
            topics.REFERRALS.name,
        )
        == 1
    )
    assert await count(infra, f"SELECT count(*) FROM {consent}.consent_cases") == 1
    published = await read_topic(infra.kafka_bootstrap, ns.topic(topics.REFERRALS.name))
    received = [r for r in published if json.loads(r.value)["type"] == ReferralReceived.event_type]
    assert len(received) == 1


async def _positive(value: Awaitable[int]) -> bool:
    return bool(await value)


async def test_malformed_events_are_dead_lettered_and_the_consumer_goes_on(
    infra: Infra, ns: Namespace
) -> None:
    good = builders.upstream_envelope()
    too_old = builders.upstream_envelope(
        builders.referral_requested(child=builders.child(date_of_birth=date(2000, 1, 1)))
    )
    missing_field = json.loads(builders.upstream_envelope().model_dump_json())
    del missing_field["data"]["child"]["date_of_birth"]
    bad_values = [
        b"\x00not json at all",
        json.dumps(missing_field).encode(),
        too_old.model_dump_json().encode(),
    ]
    upstream_topic = ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name)
    async with running(REFERRALS, infra, ns):
        await publish_raw(
            infra.kafka_bootstrap,
            upstream_topic,
            [*bad_values, good.model_dump_json().encode()],
            key=b"same-partition",
            headers=[("origin", b"test")],
        )
        referrals = ns.schema("referrals")
        await wait_until(
            lambda: _positive(count(infra, f"SELECT count(*) FROM {referrals}.referrals")),
            what="the valid request after the bad ones",
        )
        dlq_topic = ns.topic("eps.dlq.referrals.v1")

        async def three_dead_letters() -> bool:
            return len(await read_topic(infra.kafka_bootstrap, dlq_topic)) == 3

        await wait_until(three_dead_letters, what="three dead letters")
    dead = await read_topic(infra.kafka_bootstrap, dlq_topic)
    # the original bytes, in order, sealed (they hold a child's details)
    assert all(b"date_of_birth" not in r.value for r in dead)
    assert [await original_value(r, ns.data_keys) for r in dead] == bad_values
    reasons = [dict(r.headers)["dlq-reason"].decode() for r in dead]
    assert reasons[0].startswith("not JSON")
    assert "data.child.date_of_birth: Field required" in reasons[1]
    assert reasons[2].startswith("rejected: child.date_of_birth:")
    assert all(dict(r.headers)["origin"] == b"test" for r in dead)  # original headers kept
    assert {dict(r.headers)["dlq-original-topic"] for r in dead} == {upstream_topic.encode()}
    assert await count(infra, f"SELECT count(*) FROM {ns.schema('referrals')}.referrals") == 1


async def test_work_is_accepted_while_kafka_is_down_and_delivered_when_it_returns(
    infra: Infra, ns: Namespace
) -> None:
    if not infra.can_restart_kafka:
        pytest.skip(f"this infrastructure mode ({infra.mode}) cannot stop and start the broker")
    assert infra.stop_kafka is not None and infra.start_kafka is not None
    request = builders.referral_requested()
    consent = ns.schema("consent")
    referrals = ns.schema("referrals")
    async with (
        running(REFERRALS, infra, ns) as (_, client),
        running(CONSENT, infra, ns),
    ):
        await asyncio.to_thread(infra.stop_kafka)
        try:
            response = await client.post(
                "/referrals",
                content=request.model_dump_json(),
                headers={
                    **bearer(Role.SENCO, school_urn=builders.SCHOOL),
                    "Content-Type": "application/json",
                },
            )
            assert response.status_code == 201, response.text
            await asyncio.sleep(2)  # the relay tries, fails, and keeps the records
            pending = f"SELECT count(*) FROM {referrals}.outbox WHERE published_at IS NULL"
            written = f"SELECT count(*) FROM {referrals}.outbox"
            assert await count(infra, written) >= 1  # received, then awaiting consent
            assert await count(infra, pending) == await count(infra, written)
        finally:
            await asyncio.to_thread(infra.start_kafka)
        await wait_until(
            lambda: _positive(count(infra, f"SELECT count(*) FROM {consent}.consent_cases")),
            timeout_s=90,
            what="the consent case once Kafka is back",
        )
        assert await count(infra, pending) == 0
    assert await count(infra, f"SELECT count(*) FROM {consent}.consent_cases") == 1


async def test_a_service_killed_mid_stream_loses_nothing_and_duplicates_nothing(
    infra: Infra, ns: Namespace
) -> None:
    total = 3000
    envelopes = [  # distinct children: the same child and requester again would be a duplicate
        builders.upstream_envelope(
            builders.referral_requested(child=builders.child(given_name=f"Child{i}"))
        )
        for i in range(total)
    ]
    settings = settings_for(infra, ns, "referrals", ServiceSettings)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url,
        "EPS_TOPIC_PREFIX": settings.topic_prefix,
        "EPS_DB_SCHEMA": ns.schema("referrals"),
        "EPS_AUTH_PUBLIC_KEY_FILE": str(settings.auth_public_key_file),
        "EPS_HTTP_PORT": "0",
        "EPS_CONSUMER_BATCH_SIZE": "20",
        "EPS_LOG_LEVEL": "WARNING",
    }
    referrals = ns.schema("referrals")
    consent = ns.schema("consent")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "eps_referrals"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async with (
        keys_process(infra, ns) as keys,
        running(CONSENT, infra, ns, data_keys=data_keys_at(keys, "consent")),
    ):
        env.update(keys)  # referrals seals what it publishes with the keys service's keys
        process = start()
        try:
            await publish_raw(
                infra.kafka_bootstrap,
                ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
                [e.model_dump_json().encode() for e in envelopes],
                keys=[e.subject.encode() for e in envelopes],
            )

            async def some_done() -> bool:
                try:
                    return await count(infra, f"SELECT count(*) FROM {referrals}.referrals") >= 100
                except asyncpg.UndefinedTableError:
                    return False

            await wait_until(some_done, timeout_s=60, what="the first referrals")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            killed_at = await count(infra, f"SELECT count(*) FROM {referrals}.referrals")
            assert killed_at < total, "killed too late to prove anything"
            process = start()

            async def all_opened() -> bool:
                cases = await count(infra, f"SELECT count(*) FROM {consent}.consent_cases")
                return cases >= total

            # each new child's key is made at the keys service (one request each, by referrals
            # sealing, then by consent opening): slower than the rest of the path on a busy box
            await wait_until(all_opened, timeout_s=300, what="every consent case")
            await wait_until(
                lambda: drained(infra, ns, "consent", "referral-events", topics.REFERRALS.name),
                what="referral events consumed",
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert await count(infra, f"SELECT count(*) FROM {referrals}.referrals") == total
    assert (
        await count(
            infra,
            f"SELECT count(DISTINCT event_id) FROM {referrals}.outbox WHERE topic = $1"
            f" AND {RECEIVED}",
            topics.REFERRALS.name,
        )
        == total
    )
    assert await count(infra, f"SELECT count(*) FROM {consent}.consent_cases") == total
