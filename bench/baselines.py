"""Raw baselines: what aiokafka and asyncpg do on this machine with nothing of ours on top."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import cpu
from bench.harness import Infra, Report, percentile

PAYLOAD = os.urandom(200).hex().encode()  # ~400 bytes, the size of a typical event envelope
# Round trips not measured: enough to pass each new topic's first index entry (after 4 KiB, about
# the ninth record), whose append faults in the memory-mapped index (``bench/fast_track.py``).
RAW_WARM_UP = 20


async def create_topic(infra: Infra, name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def produce(infra: Infra, topic: str, count: int, value: bytes = PAYLOAD) -> float:
    """Records per second produced with acks=all and an idempotent producer."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        started = time.perf_counter()
        batch = []
        for i in range(count):
            batch.append(await producer.send(topic, value, key=str(i % 1000).encode()))
            if len(batch) >= 5000:
                await asyncio.gather(*batch)
                batch.clear()
        await asyncio.gather(*batch)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def consume(infra: Infra, topic: str, count: int) -> float:
    """Records per second consumed from the start of a topic by a fresh group."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    await consumer.start()
    try:
        seen = 0
        first = await consumer.getmany(timeout_ms=10_000, max_records=1)
        started = time.perf_counter()
        seen += sum(len(v) for v in first.values())
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            seen += sum(len(v) for v in batch.values())
        elapsed = time.perf_counter() - started
        await consumer.commit()
        return seen / elapsed
    finally:
        await consumer.stop()


async def two_hop_round_trip(infra: Infra, samples: int) -> list[float]:
    """Milliseconds for A -> topic 1 -> B (consume, produce) -> topic 2 -> A, one at a time."""
    latencies, _ = await two_hop_round_trip_and_cpu(infra, samples)
    return latencies


async def two_hop_round_trip_and_cpu(
    infra: Infra, samples: int
) -> tuple[list[float], dict[str, float]]:
    """The two-hop round trips, and the CPU milliseconds each part spent per round trip
    (``bench.cpu``; warm-up included)."""
    tag = uuid.uuid4().hex[:8]
    hop1, hop2 = f"bench.rtt1.{tag}", f"bench.rtt2.{tag}"
    await create_topic(infra, hop1, 1)
    await create_topic(infra, hop2, 1)
    kw = dict(bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True)
    a_out, b_out = AIOKafkaProducer(**kw), AIOKafkaProducer(**kw)
    b_in = AIOKafkaConsumer(
        hop1,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"b-{tag}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=500,
    )
    a_in = AIOKafkaConsumer(
        hop2,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"a-{tag}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=500,
    )
    for client in (a_out, b_out, b_in, a_in):
        await client.start()

    async def relay() -> None:
        async for record in b_in:
            await b_out.send_and_wait(hop2, record.value, key=record.key)

    relay_task = asyncio.create_task(relay())
    try:
        await asyncio.sleep(1)  # both groups joined
        latencies = []
        used = cpu.cpu_seconds()
        for i in range(samples + RAW_WARM_UP):
            started = time.perf_counter()
            await a_out.send_and_wait(hop1, PAYLOAD, key=str(i).encode())
            await a_in.getone()
            if i >= RAW_WARM_UP:
                latencies.append((time.perf_counter() - started) * 1000)
        spent = cpu.spent(used, cpu.cpu_seconds())
        return latencies, {part: s * 1000 / (samples + RAW_WARM_UP) for part, s in spent.items()}
    finally:
        relay_task.cancel()
        for client in (a_out, b_out, b_in, a_in):
            await client.stop()


async def commit_rate(infra: Infra, seconds: float = 3.0) -> float:
    """Single-row INSERT transactions committed per second on one connection."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        table = f"bench_commit_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, at timestamptz)")
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} VALUES ($1, now())", uuid.uuid4())
            done += 1
        rate = done / (time.perf_counter() - started)
        await conn.execute(f"DROP TABLE {table}")
        return rate
    finally:
        await conn.close()


async def run_baselines(infra: Infra, report: Report, *, records: int, samples: int) -> None:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await create_topic(infra, topic)
    report.add(
        "raw kafka produce (acks=all, idempotent)", "rec/s", await produce(infra, topic, records)
    )
    report.add("raw kafka consume", "rec/s", await consume(infra, topic, records))
    latencies = await two_hop_round_trip(infra, samples)
    report.add(
        "raw kafka two-hop round trip p50", "ms", percentile(latencies, 50), higher_is_better=False
    )
    report.add(
        "raw kafka two-hop round trip p99", "ms", percentile(latencies, 99), higher_is_better=False
    )
    report.add("raw asyncpg single-row commits", "commit/s", await commit_rate(infra))
