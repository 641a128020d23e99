"""Held events on the real broker and database: an event naming what the service does not know
yet waits, visible, with its subject's later events behind it, and is applied in order once the
data arrives; nothing is dead-lettered for it, and a person can give up on one."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from eps_chassis import db
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.context import MessageContext
from eps_chassis.errors import NotYetKnown, reference
from eps_chassis.outbox import transaction
from eps_chassis.releases import apply_held_events, give_up_held
from eps_chassis.sealing import Sealer
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts import Envelope, dead_letter_topic, topics
from eps_contracts.referrals import ReferralRequested
from faststream.kafka import KafkaBroker

from tests.support.builders import referrals as builders
from tests.support.dead_letters import original_value_of_row
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, publish_raw, read_topic, wait_until
from tests.support.services import Namespace

pytestmark = pytest.mark.integration

KNOWN, UNKNOWN = "111111", "222222"


@asynccontextmanager
async def a_consumer(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> AsyncIterator[tuple[asyncpg.Pool, EventConsumer, ConsumerRuntime]]:
    """A consumer that applies a request only for a school in its register."""
    schema = ns.schema("held")
    (tmp_path / "0001_effects.sql").write_text(
        "CREATE TABLE schools (urn text PRIMARY KEY);"
        "CREATE TABLE effects (seq serial, event_id uuid PRIMARY KEY, subject text);"
        f"INSERT INTO schools VALUES ('{KNOWN}');"
    )
    await db.migrate(infra.database_url, schema, [db.CHASSIS_MIGRATIONS, tmp_path])
    pool = await db.create_pool(infra.database_url, schema)
    consumer = EventConsumer(name="requests", topics=[topics.UPSTREAM_REFERRAL_REQUESTS])

    @consumer.on(ReferralRequested)
    async def apply(event: Envelope[ReferralRequested], uow: PostgresUnitOfWork) -> None:
        urn = event.data.child.school_urn
        if not await uow.conn.fetchval("SELECT count(*) FROM schools WHERE urn = $1", urn):
            raise NotYetKnown(
                f"school {urn} is not in the register",
                awaiting=reference("school", uow.tenant, urn),
                field="child.school_urn",
            )
        await uow.conn.execute(
            "INSERT INTO effects (event_id, subject) VALUES ($1, $2)", event.id, event.subject
        )

    runtime = ConsumerRuntime(
        pool=pool,
        service="held",
        source="/test",
        topic_prefix=ns.topic_prefix,
        sealer=Sealer(ns.data_keys),
    )
    broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    consumer.subscribe(broker, runtime)
    await broker.start()
    try:
        yield pool, consumer, runtime
    finally:
        await broker.stop()
        await pool.close()


def request_for(school: str, request_id: uuid.UUID | None = None) -> Envelope[ReferralRequested]:
    request = builders.referral_requested(
        request_id=request_id or uuid.uuid4(), child=builders.child(school_urn=school)
    )
    return builders.upstream_envelope(request)


async def publish(
    infra: Infra, ns: Namespace, envelopes: list[Envelope[ReferralRequested]]
) -> None:
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
        [e.model_dump_json().encode() for e in envelopes],
        keys=[e.subject.encode() for e in envelopes],
    )


async def count(pool: asyncpg.Pool, sql: str) -> int:
    return int(await pool.fetchval(sql))


async def test_an_event_for_an_unknown_school_waits_and_its_subject_waits_behind_it(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    waiting = request_for(UNKNOWN)
    same_subject = request_for(UNKNOWN, waiting.data.request_id)  # a second event, same key
    elsewhere = request_for(KNOWN)
    async with a_consumer(infra, ns, tmp_path) as (pool, consumer, runtime):
        await publish(infra, ns, [waiting, same_subject, elsewhere])
        group, topic = (
            ns.group("held", "requests"),
            ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
        )

        async def settled() -> bool:
            held = await count(pool, "SELECT count(*) FROM held_events")
            return held == 2 and await consumer_lag(infra.kafka_bootstrap, group, topic) == 0

        await wait_until(settled, timeout_s=30, what="two held, offsets committed")
        applied = [r["event_id"] for r in await pool.fetch("SELECT event_id FROM effects")]
        held = await pool.fetch("SELECT * FROM held_events ORDER BY held_at, kafka_offset")
        assert applied == [elsewhere.id]  # the partition was not blocked
        assert [h["event_id"] for h in held] == [waiting.id, same_subject.id]
        assert held[0]["reason"] == (
            f"waiting: child.school_urn: school {UNKNOWN} is not in the register"
        )
        assert held[0]["awaiting"] == f"school:{builders.TENANT}:{UNKNOWN}"
        assert held[1]["behind"] == waiting.id and held[1]["awaiting"] == held[0]["awaiting"]

        # nothing happens until the school is known, however often it is tried
        assert await apply_held_events([consumer], runtime, everything=True) == 0
        async with pool.acquire() as conn, transaction(conn, None):
            await conn.execute("INSERT INTO schools VALUES ($1)", UNKNOWN)
            uow = PostgresUnitOfWork(conn, MessageContext(builders.TENANT, "service:test"), "/test")
            await uow.release(reference("school", builders.TENANT, UNKNOWN))
        assert await apply_held_events([consumer], runtime) == 2
        order = await pool.fetch("SELECT event_id FROM effects ORDER BY seq")
        assert [r["event_id"] for r in order] == [elsewhere.id, waiting.id, same_subject.id]
        assert await count(pool, "SELECT count(*) FROM held_events") == 0

        await publish(infra, ns, [waiting])  # a redelivery of a held event is a duplicate
        await wait_until(
            lambda: _lag_is_zero(infra, group, topic), timeout_s=30, what="redelivery consumed"
        )
        assert await count(pool, "SELECT count(*) FROM effects") == 3
    dead = await read_topic(infra.kafka_bootstrap, ns.topic(dead_letter_topic("held").name))
    assert dead == []


async def test_a_person_gives_up_on_a_held_event_and_it_is_dead_lettered_with_why(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    typo = request_for("999999")
    async with a_consumer(infra, ns, tmp_path) as (pool, consumer, runtime):
        await publish(infra, ns, [typo])

        async def held() -> bool:
            return await count(pool, "SELECT count(*) FROM held_events") == 1

        await wait_until(held, timeout_s=30, what="the event held")
        given_up = await give_up_held(
            consumer, runtime, builders.TENANT, typo.id, "given up by user:pep: the URN is a typo"
        )
        assert given_up
        assert not await give_up_held(consumer, runtime, builders.TENANT, typo.id, "again")
        assert await count(pool, "SELECT count(*) FROM held_events") == 0
        assert await count(pool, "SELECT count(*) FROM effects") == 0
        [record] = await pool.fetch("SELECT headers, value FROM outbox")
    original = await original_value_of_row(record, ns.data_keys)
    assert original == typo.model_dump_json().encode()  # the original bytes, sealed
    headers = {k: bytes.fromhex(v).decode() for k, v in json.loads(record["headers"])}
    assert headers["dlq-reason"] == "given up by user:pep: the URN is a typo"


async def _lag_is_zero(infra: Infra, group: str, topic: str) -> bool:
    return await consumer_lag(infra.kafka_bootstrap, group, topic) == 0
