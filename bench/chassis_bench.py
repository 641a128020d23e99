"""The chassis measured against the raw baselines: the idempotent consumer and the outbox relay."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.db import CHASSIS_MIGRATIONS, create_pool, migrate
from eps_chassis.outbox import OutboxRecord, add_to_outbox
from eps_chassis.relay import OutboxRelay
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts import Envelope, envelope_for, topics
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import ReferralReceived
from faststream.kafka import KafkaBroker

from bench.baselines import create_topic
from bench.harness import Infra, Report

EFFECTS = "CREATE TABLE effects (referral_id uuid PRIMARY KEY, received_on date NOT NULL)"


def sample_event() -> Envelope[ReferralReceived]:
    return envelope_for(
        ReferralReceived(
            referral_id=uuid.uuid4(),
            request_id=uuid.uuid4(),
            received_on=date(2026, 11, 2),
            requester_kind=RequesterKind.SCHOOL_SENCO,
            school_urn="123456",
            child_id=uuid.uuid4(),
            child_date_of_birth=date(2016, 5, 4),
            looked_after=False,
            parental_responsibility_holder_ids=("p-1",),
        ),
        source="/bench",
        tenant="leicester-city",
        actor="service:bench",
    )


async def _schema(infra: Infra, tag: str, tmp: Path) -> str:
    schema = f"bench_{tag}"
    (tmp / "0001_effects.sql").write_text(EFFECTS)
    await migrate(infra.database_url, schema, [CHASSIS_MIGRATIONS, tmp])
    return schema


async def _wait_count(pool: asyncpg.Pool, sql: str, target: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await pool.fetchval(sql) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sql} did not reach {target}")
        await asyncio.sleep(0.02)


async def consumer_throughput(infra: Infra, events: int, tmp: Path) -> float:
    """Events/s through EventConsumer: decode, inbox claim, handler effect, commit, then ack."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    schema = await _schema(infra, tag, tmp)
    await create_topic(infra, prefix + topics.REFERRALS.name)
    # publish first, then time the consumer draining the backlog (as the raw consume does)
    from aiokafka import AIOKafkaProducer

    from bench.baselines import PAYLOAD  # noqa: F401  (same broker warm-up as the baseline)

    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    futures = []
    for _ in range(events):
        envelope = sample_event()
        futures.append(
            await producer.send(
                prefix + topics.REFERRALS.name,
                envelope.model_dump_json().encode(),
                key=envelope.subject.encode(),
            )
        )
    await asyncio.gather(*futures)
    await producer.stop()

    consumer = EventConsumer(name="bench", topics=[topics.REFERRALS], batch_size=1000)

    @consumer.on(ReferralReceived)
    async def record_effect(event: Envelope[ReferralReceived], uow: PostgresUnitOfWork) -> None:
        await uow.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.data.referral_id, event.data.received_on
        )

    pool = await create_pool(infra.database_url, schema, 1, 4)
    broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    consumer.subscribe(
        broker, ConsumerRuntime(pool=pool, service="bench", source="/bench", topic_prefix=prefix)
    )
    try:
        started = time.perf_counter()
        await broker.start()
        await _wait_count(pool, "SELECT count(*) FROM effects", events, timeout_s=300)
        return events / (time.perf_counter() - started)
    finally:
        await broker.stop()
        await pool.close()


async def relay_throughput(infra: Infra, records: int, tmp: Path) -> float:
    """Records/s the outbox relay publishes (acks=all) and marks as sent."""
    tag = uuid.uuid4().hex[:8]
    schema = await _schema(infra, tag, tmp)
    pool = await create_pool(infra.database_url, schema, 1, 2)
    rows: list[Any] = [OutboxRecord.of(sample_event()) for _ in range(records)]
    async with pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, rows)
    relay = OutboxRelay(
        service="bench",
        schema=schema,
        dsn=infra.database_url,
        bootstrap_servers=infra.kafka_bootstrap,
        topic_prefix=f"bench{tag}.",
        batch_size=2000,
    )
    try:
        started = time.perf_counter()
        await relay.start()
        await _wait_count(
            pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL",
            records,
            timeout_s=300,
        )
        return records / (time.perf_counter() - started)
    finally:
        await relay.stop()
        await pool.close()


async def run_platform(infra: Infra, report: Report, *, events: int, tmp: Path) -> None:
    report.add(
        "chassis consumer (inbox + effect, exactly-once)",
        "ev/s",
        await consumer_throughput(infra, events, tmp),
        baseline="raw kafka consume",
    )
    report.add(
        "chassis outbox relay (acks=all, mark sent)",
        "rec/s",
        await relay_throughput(infra, events, tmp),
        baseline="raw kafka produce (acks=all, idempotent)",
    )
