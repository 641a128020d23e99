"""The chassis measured against the raw baselines: the idempotent consumer and the outbox relay.

    uv run python bench/chassis_bench.py [--events 50000] [--repeats 3]

alone measures the consumer: a one-row effect, exactly-once, set-based (a batch handler, one
``unnest`` insert per polled batch) and per event (a statement each), beside the ceiling of
decoding and validating the same records in memory and the raw consume rate, each run shown.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from eps_chassis import metrics
from eps_chassis.collector import settle_long_lived
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.db import CHASSIS_MIGRATIONS, create_pool, migrate
from eps_chassis.decoding import Valid
from eps_chassis.outbox import OutboxRecord, add_to_outbox
from eps_chassis.relay import OutboxRelay
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts import Envelope, Topic, topics
from eps_contracts.referrals import ReferralReceived
from faststream.kafka import KafkaBroker

from bench.baselines import consume, create_topic, produce
from bench.harness import Infra, Report, finish, repeated
from tests.support.builders import referrals as builders

EFFECTS = "CREATE TABLE effects (referral_id uuid PRIMARY KEY, received_on date NOT NULL)"


def sample_event() -> Envelope[ReferralReceived]:
    return builders.received_envelope()


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


def consumed(service: str) -> float:
    """Events the service's consumers have applied and committed, from its metrics: read in
    memory, so that watching the consumer costs the database nothing (counting rows every few
    milliseconds would take a good share of a 2-core machine's database)."""
    return sum(
        sample.value
        for metric in metrics.EVENTS_CONSUMED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["service"] == service
    )


async def drain_rate(
    pool: asyncpg.Pool, sql: str, target: int, service: str = "bench", timeout_s: float = 900
) -> float:
    """Events per second the consumer applies, from its first committed batch to ``target``:
    timed from the first batch, as the raw consume is timed from its first poll, so that
    joining the group is not counted. ``sql`` then counts what it did, which must be all."""
    before = consumed(service)
    deadline = time.monotonic() + timeout_s
    while (first := consumed(service) - before) == 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} consumed nothing")
        await asyncio.sleep(0.002)
    started = time.perf_counter()
    if first >= target:
        raise ValueError(f"one batch held all {target}: measure more events")
    while consumed(service) - before < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} did not consume {target}")
        await asyncio.sleep(0.002)
    rate = (target - first) / (time.perf_counter() - started)
    done = await pool.fetchval(sql)
    if done != target:
        raise AssertionError(f"{sql} counts {done}, not {target}")
    return rate


def sample_records(events: int) -> list[tuple[bytes, bytes]]:
    """Keys and values of ``events`` referrals, as the consumer reads them."""
    return [
        (e.subject.encode(), e.model_dump_json().encode())
        for e in (sample_event() for _ in range(events))
    ]


def one_row_consumer(*, batched: bool) -> EventConsumer:
    """The consumer measured: a one-row effect per event, written per event (a statement each)
    or set-based (one ``unnest`` insert per polled batch, ``on_batch``)."""
    consumer = EventConsumer(name="bench", topics=[topics.REFERRALS], batch_size=1000)
    if batched:

        @consumer.on_batch(ReferralReceived)
        async def record_effects(
            events: Sequence[Envelope[ReferralReceived]], uow: PostgresUnitOfWork
        ) -> None:
            await uow.conn.execute(
                "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::date[])",
                [e.data.referral_id for e in events],
                [e.data.received_on for e in events],
            )

    else:

        @consumer.on(ReferralReceived)
        async def record_effect(event: Envelope[ReferralReceived], uow: PostgresUnitOfWork) -> None:
            await uow.conn.execute(
                "INSERT INTO effects VALUES ($1, $2)",
                event.data.referral_id,
                event.data.received_on,
            )

    return consumer


def decode_ceiling(records: list[tuple[bytes, bytes]]) -> float:
    """Envelopes decoded and validated per second by the consumer, in memory only: no consumer
    that validates what it reads goes faster."""
    return decode_rate(one_row_consumer(batched=True), topics.REFERRALS, [v for _, v in records])


def decode_rate(consumer: EventConsumer, topic: Topic, values: list[bytes]) -> float:
    """Records of ``topic`` decoded and validated per second by ``consumer``, in memory."""
    polled = [
        ConsumerRecord(topic.name, 0, i, 0, 0, None, v, None, 0, len(v), ())
        for i, v in enumerate(values)
    ]
    # Each envelope is dropped once decoded, as the consumer drops a batch once handled: keeping
    # them all would make every garbage collection walk them, timing the collector instead.
    started = time.perf_counter()
    valid = sum(isinstance(consumer.decode(r), Valid) for r in polled)
    elapsed = time.perf_counter() - started
    assert valid == len(polled), "every benchmark event is valid"
    return len(polled) / elapsed


async def consumer_throughput(
    infra: Infra,
    events: int,
    tmp: Path,
    *,
    batched: bool = True,
    records: list[tuple[bytes, bytes]] | None = None,
) -> float:
    """Events/s through EventConsumer draining a backlog: decode, inbox claim, the effect,
    commit, then the offsets."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    schema = await _schema(infra, tag, tmp)
    await create_topic(infra, prefix + topics.REFERRALS.name)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = []
        for key, value in records or sample_records(events):
            futures.append(await producer.send(prefix + topics.REFERRALS.name, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    consumer = one_row_consumer(batched=batched)
    pool = await create_pool(infra.database_url, schema, 1, 4)
    broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    consumer.subscribe(
        broker, ConsumerRuntime(pool=pool, service="bench", source="/bench", topic_prefix=prefix)
    )
    settle_long_lived()  # as the service does once started
    try:
        await broker.start()
        return await drain_rate(pool, "SELECT count(*) FROM effects", events)
    finally:
        await consumer.close()  # as the service does before its Kafka consumers stop
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


CEILING = "ceiling: decode + validate the contracts only (in memory)"
BATCHED = "chassis consumer, one-row effect, batched (exactly-once)"
PER_EVENT = "chassis consumer, one-row effect, per event (exactly-once)"


async def measure_consumer(infra: Infra, report: Report, *, events: int, tmp: Path) -> None:
    """The consumer set-based and per event, beside the decode ceiling of the same records."""
    records = sample_records(events)
    report.add(CEILING, "ev/s", decode_ceiling(records), baseline="raw kafka consume")
    for batched, name in ((True, BATCHED), (False, PER_EVENT)):
        rate = await consumer_throughput(infra, events, tmp, batched=batched, records=records)
        report.add(name, "ev/s", rate, baseline=CEILING)


def consumer_target(report: Report) -> str:
    """The issue's target for the consumer: 20,000 ev/s and 0.27x the decode ceiling."""
    rate = report.figures[BATCHED].median
    ratio = report.ratio(BATCHED) or 0.0
    met = rate >= 20_000 and ratio >= 0.27
    runs = zip(report.figures[BATCHED].runs, report.figures[CEILING].runs, strict=True)
    each = ", ".join(f"{batched / ceiling:.2f}x" for batched, ceiling in runs)
    return (
        f"  target: batched consumer >= 20,000 ev/s and >= 0.27x the ceiling; measured"
        f" {rate:,.0f} ev/s, {ratio:.2f}x (run by run {each}) -> {'met' if met else 'NOT met'}"
    )


async def run_platform(infra: Infra, report: Report, *, events: int, tmp: Path) -> None:
    await measure_consumer(infra, report, events=events, tmp=tmp)
    report.add(
        "chassis outbox relay (acks=all, mark sent)",
        "rec/s",
        await relay_throughput(infra, events, tmp),
        baseline="raw kafka produce (acks=all, idempotent)",
    )


async def consumer_run(infra: Infra, report: Report, *, events: int, tmp: Path) -> None:
    """One run of the consumer figures with the raw consume rate they are compared with."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await create_topic(infra, topic)
    await produce(infra, topic, events)
    report.add("raw kafka consume", "rec/s", await consume(infra, topic, events))
    await measure_consumer(infra, report, events=events, tmp=tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description="The chassis consumer, batched and per event.")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = Report()
    repeated(
        args.repeats, lambda infra, tmp: consumer_run(infra, report, events=args.events, tmp=tmp)
    )
    report.notes.append(consumer_target(report))
    return finish(report, "bench/consumer")


if __name__ == "__main__":
    sys.exit(main())
