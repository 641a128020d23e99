"""Small helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def publish_raw(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes],
    *,
    key: bytes | None = None,
    keys: Sequence[bytes | None] | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for i, value in enumerate(values):
            k = keys[i] if keys is not None else key
            futures.append(await producer.send(topic, value, key=k, headers=list(headers)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def publish_with_console_producer(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes, Sequence[tuple[str, bytes]], bytes]]
) -> str:
    """Publish ``(key, headers, value)`` records with Kafka's own console producer (Java, from
    the jars the project resolves), as an integrator's system in another language would: one
    line each, ``header:value,...<TAB>key<TAB>value``. Returns what the producer printed."""
    import localinfra  # deploy/local, on the test path

    lines = []
    for key, headers, value in records:
        header_text = ",".join(f"{name}:{raw.decode()}" for name, raw in headers)
        for part in (header_text, key.decode(), value.decode()):
            assert not {"\t", "\n"} & set(part), "one record per line, tab-separated"
        assert all("," not in raw.decode() for _, raw in headers), "headers are comma-separated"
        lines.append(f"{header_text}\t{key.decode()}\t{value.decode()}\n")
    command = [
        *await asyncio.to_thread(localinfra.console_producer),  # resolves the jars if need be
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--producer-property",
        "acks=all",
        "--property",
        "parse.key=true",
        "--property",
        "parse.headers=true",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        output, _ = await process.communicate("".join(lines).encode())
    printed = output.decode(errors="replace")
    assert process.returncode == 0, f"console producer exited {process.returncode}:\n{printed}"
    return printed


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The partitions of a topic, from fresh metadata (empty when the topic does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        return []
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 5.0) -> list[ConsumerRecord]:
    """Every record currently in a topic, from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = await partitions_of(bootstrap, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()


async def read_topic_when(
    bootstrap: str,
    topic: str,
    enough: Callable[[list[ConsumerRecord]], bool],
    *,
    timeout_s: float = 20.0,
    what: str = "records",
) -> list[ConsumerRecord]:
    """The topic's records once ``enough`` holds of them: an outbox relays after its
    transaction commits, so what a test just caused may not be on the topic yet."""
    records: list[ConsumerRecord] = []

    async def arrived() -> bool:
        records[:] = await read_topic(bootstrap, topic)
        return enough(records)

    await wait_until(arrived, timeout_s=timeout_s, what=what)
    return records


async def consumer_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records in ``topic`` not yet committed by ``group``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        tps = await partitions_of(bootstrap, topic)
        if not tps:
            raise AssertionError(f"topic {topic} does not exist")
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += ends[tp] - done
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.1)


async def rewind_group(bootstrap: str, group: str, topic: str) -> None:
    """Set ``group``'s committed offsets on ``topic`` back to the start, while none of its
    consumers runs: the next one to join is delivered everything again (as after a crash that
    lost its commits)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await partitions_of(bootstrap, topic)
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()
