"""Transactional outbox: write side (inside the caller's transaction) and the relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from eps_contracts import CONTENT_TYPE, Envelope

from eps_chassis import metrics
from eps_chassis.errors import Backoff
from eps_chassis.logging import get_logger

log = get_logger()

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()
    event_id: object | None = None

    @classmethod
    def of(cls, envelope: Envelope[Any]) -> OutboxRecord:
        return cls(
            topic=envelope.data.topic.name,
            key=envelope.subject.encode(),
            value=envelope.model_dump_json().encode(),
            headers=(("content-type", CONTENT_TYPE.encode()),),
            event_id=envelope.id,
        )


def _headers_json(headers: Headers) -> str:
    return json.dumps([[k, v.hex()] for k, v in headers])


async def add_to_outbox(conn: asyncpg.Connection, records: Sequence[OutboxRecord]) -> None:
    """Append records to the outbox. Call inside the transaction that makes the state change."""
    if not records:
        return
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5)",
        [(r.event_id, r.topic, r.key, r.value, _headers_json(r.headers)) for r in records],
    )


@dataclass(frozen=True, slots=True)
class _Lane:
    """Records of some topics, published in id order by one leader across replicas."""

    name: str
    lock: str
    topics: tuple[str, ...]
    only_these: bool  # True: only ``topics``; False: every topic but ``topics``


class OutboxRelay:
    """Publishes outbox records in id order with acks=all; marks them only once acknowledged.

    One relay per schema is active at a time (a session advisory lock), so order per key is the
    order of commit of the transactions that locked that aggregate. Reading "not yet published"
    instead of "after the last id" means a row whose transaction commits late is never skipped.
    A crash between publish and mark publishes again: consumers' inboxes absorb the duplicate.

    Records on priority topics have a lane of their own, with its own leader and connection, so
    a critical-incident record never waits behind a batch of routine ones. Order is kept where
    Kafka keeps it, within a topic: every topic belongs to exactly one lane.
    """

    def __init__(
        self,
        *,
        service: str,
        schema: str,
        dsn: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        batch_size: int = 1000,
        poll_interval_s: float = 1.0,
        publish_timeout_s: float = 15.0,
        backoff: Backoff | None = None,
        priority_topics: Sequence[str] = (),
    ) -> None:
        self.service = service
        self.schema = schema
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.publish_timeout_s = publish_timeout_s
        self.backoff = backoff or Backoff()
        priority = tuple(sorted(priority_topics))
        self.lanes = [_Lane("routine", f"outbox:{schema}", priority, only_these=False)]
        if priority:
            self.lanes.append(_Lane("priority", f"outbox:{schema}:priority", priority, True))
        self._wake = {lane.name: asyncio.Event() for lane in self.lanes}
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.published_total = 0

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.run(lane), name=f"outbox-relay-{self.service}-{lane.name}")
            for lane in self.lanes
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._close_producer()

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    async def run(self, lane: _Lane) -> None:
        backoff = Backoff(self.backoff.initial_s, self.backoff.max_s)
        while True:
            try:
                await self._lead(lane, backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost, database down: wait and try again
                log.warning("outbox relay interrupted", lane=lane.name, error=repr(exc))
                await backoff.sleep()

    async def _lead(self, lane: _Lane, backoff: Backoff) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        wake = self._wake[lane.name]
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lane.lock):
                await asyncio.sleep(self.poll_interval_s)  # another replica leads
            await conn.add_listener(f"{self.schema}_outbox", lambda *_: wake.set())
            backoff.reset()
            while True:
                # Cleared before reading, not after: a commit notified while this batch is in
                # flight must wake the next round, not wait out the poll interval.
                wake.clear()
                published = await self._publish_pending(conn, lane, backoff)
                if published < self.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self.poll_interval_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    async def _publish_pending(
        self, conn: asyncpg.Connection, lane: _Lane, backoff: Backoff
    ) -> int:
        in_lane = "topic = ANY($2::text[])" if lane.only_these else "topic <> ALL($2::text[])"
        rows = await conn.fetch(
            "SELECT id, topic, key, value, headers, created_at FROM outbox"
            f" WHERE published_at IS NULL AND {in_lane} ORDER BY id LIMIT $1",
            self.batch_size,
            list(lane.topics),
        )
        if not lane.only_these:  # the routine lane is where a backlog would build up
            lag = max(0.0, time.time() - rows[0]["created_at"].timestamp()) if rows else 0.0
            metrics.OUTBOX_LAG.labels(self.service).set(lag)
            metrics.OUTBOX_PENDING.labels(self.service).set(len(rows))
        if not rows:
            return 0
        try:
            await self._send_in_order(rows)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("outbox publish failed; records stay pending", error=repr(exc))
            await self._close_producer()  # a fresh producer recovers from sequence errors
            await backoff.sleep()
            return 0
        backoff.reset()
        await conn.execute(
            "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
        for r in rows:
            metrics.EVENTS_PUBLISHED.labels(self.service, r["topic"]).inc()
        self.published_total += len(rows)
        return len(rows)

    async def _send_in_order(self, rows: Sequence[asyncpg.Record]) -> None:
        producer = await self._ensure_producer()

        async def send_all() -> None:
            futures = []
            for r in rows:
                headers = [(k, bytes.fromhex(v)) for k, v in json.loads(r["headers"])]
                futures.append(
                    await producer.send(
                        self.topic_prefix + r["topic"], r["value"], key=r["key"], headers=headers
                    )
                )
            await asyncio.gather(*futures)

        await asyncio.wait_for(send_all(), self.publish_timeout_s)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:  # lanes share one idempotent producer
            return await self._start_producer()

    async def _start_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=0,  # the relay sends whole batches at once; a wait only adds latency
                request_timeout_ms=int(self.publish_timeout_s * 1000),
                client_id=f"{self.service}-outbox",
            )
            await asyncio.wait_for(producer.start(), self.publish_timeout_s)
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)  # can hang with the broker down
