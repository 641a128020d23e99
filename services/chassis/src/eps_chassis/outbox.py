"""Transactional outbox: write side (inside the caller's transaction) and the relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
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


def _headers_of(stored: str) -> Headers:
    return tuple((k, bytes.fromhex(v)) for k, v in json.loads(stored))


Written = Sequence[tuple[int, OutboxRecord]]  # outbox id and record, in id order
HandOver = Callable[[int, Written], None]  # the committed transaction's id and its records


@dataclass(slots=True)
class _Transaction:
    """The outbox records one transaction wrote, known once it has committed."""

    conn: asyncpg.Connection
    txid: int | None = None
    written: list[tuple[int, OutboxRecord]] = field(default_factory=list)


_current: ContextVar[_Transaction | None] = ContextVar("eps_outbox_transaction", default=None)


@contextlib.asynccontextmanager
async def transaction(conn: asyncpg.Connection, hand_over: HandOver | None) -> AsyncIterator[None]:
    """A transaction whose outbox records are handed to ``hand_over`` once it has committed.

    The relay can then publish them at once instead of waiting for the notification and reading
    them back; whatever is not handed over (rolled back, another process) stays for its read.
    """
    tx = _Transaction(conn)
    token = _current.set(tx)
    try:
        async with conn.transaction():
            yield
    finally:
        _current.reset(token)
    if hand_over is not None and tx.txid is not None:
        hand_over(tx.txid, tx.written)


async def add_to_outbox(conn: asyncpg.Connection, records: Sequence[OutboxRecord]) -> None:
    """Append records to the outbox. Call inside the transaction that makes the state change."""
    if not records:
        return
    rows = await conn.fetch(
        "INSERT INTO outbox (event_id, topic, key, value, headers)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::jsonb[])"
        " RETURNING id, pg_current_xact_id()::text AS txid",
        [r.event_id for r in records],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [_headers_json(r.headers) for r in records],
    )
    tx = _current.get()
    if tx is not None and tx.conn is conn:
        tx.txid = int(rows[0]["txid"])
        # ids come from the sequence in the order unnest yields the records
        tx.written.extend(zip(sorted(r["id"] for r in rows), records, strict=True))


@dataclass(frozen=True, slots=True)
class _Lane:
    """Records of some topics, published in id order by one leader across replicas."""

    name: str
    lock: str
    topics: tuple[str, ...]
    only_these: bool  # True: only ``topics``; False: every topic but ``topics``


class _HandOvers:
    """Priority records committed in this process, handed to the lane to publish at once.

    Each commit notifies with its transaction id. A notification whose transaction was handed
    over needs no read of the table; any other (another replica, a commit that did not hand
    over, or a hand-over that has not arrived yet) makes the lane read it. Ids published are
    remembered for a while, so a record both read and handed over is published once.
    """

    KEEP = 10_000

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = frozenset(topics)
        self.leading = False
        self.queue: list[tuple[int, OutboxRecord]] = []
        self.read_needed = True  # whatever the notifications say (start, poll, failure)
        self._expected: OrderedDict[int, None] = OrderedDict()  # handed over, not yet notified
        self._unmatched: set[int] = set()  # notified, not (yet) handed over
        self._published: OrderedDict[int, None] = OrderedDict()

    def handed(self, txid: int, written: Written) -> bool:
        """Take a committed transaction's records; True when some are this lane's to publish."""
        if txid in self._unmatched:
            self._unmatched.discard(txid)
        else:
            self._remember(self._expected, txid)
        mine = [(i, r) for i, r in written if r.topic in self.topics]
        self.queue.extend(mine)
        return bool(mine)

    def notified(self, payload: str) -> bool:
        """A commit notified; True when the lane must read the table."""
        txid = int(payload) if payload.isdigit() else None
        if txid is not None and txid in self._expected:
            del self._expected[txid]
            return False
        if txid is None:
            self.read_needed = True
        else:
            self._unmatched.add(txid)
        return True

    @property
    def awaiting_hand_overs(self) -> bool:
        """Only notifications are pending whose hand-overs may be a step behind."""
        return bool(self._unmatched) and not self.read_needed

    def take(self) -> list[tuple[int, OutboxRecord]]:
        queue, self.queue = self.queue, []
        return [(i, r) for i, r in queue if i not in self._published]

    def take_read(self) -> bool:
        read = self.read_needed or bool(self._unmatched)
        self.read_needed = False
        self._unmatched.clear()
        return read

    def published(self, ids: Sequence[int]) -> None:
        for i in ids:
            self._remember(self._published, i)

    def reset(self, leading: bool) -> None:
        """Leadership gained or lost: start again from a read of the table."""
        self.leading = leading
        self.queue.clear()
        self._expected.clear()
        self._unmatched.clear()
        self._published.clear()
        self.read_needed = True

    def _remember(self, kept: OrderedDict[int, None], key: int) -> None:
        kept[key] = None
        if len(kept) > self.KEEP:
            kept.popitem(last=False)


class OutboxRelay:
    """Publishes outbox records in id order with acks=all; marks them only once acknowledged.

    One relay per schema is active at a time (a session advisory lock), so order per key is the
    order of commit of the transactions that locked that aggregate. Reading "not yet published"
    instead of "after the last id" means a row whose transaction commits late is never skipped.
    A crash between publish and mark publishes again: consumers' inboxes absorb the duplicate.

    Records on priority topics have a lane of their own, with its own leader and connection, so
    a critical-incident record never waits behind a batch of routine ones. Order is kept where
    Kafka keeps it, within a topic: every topic belongs to exactly one lane.

    A transaction of this process that committed priority records hands them over
    (``hand_over``): when this process leads the priority lane, the lane publishes them at once,
    without waiting for the notification and reading them back. Either way one task publishes
    the lane's records, so a record is published once; the lane still reads the table when
    another commit notifies, when it starts leading and every ``poll_interval_s``, which picks
    up whatever was not handed over (another replica's, or lost in a crash).
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
        self._handovers = _HandOvers(priority) if priority else None
        # One idempotent producer per lane: an idempotent producer keeps one request in flight
        # per broker, and a priority record must not wait for a routine batch's acknowledgement.
        self._producers: dict[str, AIOKafkaProducer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.published_total = 0
        self.published_handed_over = 0  # of which published without reading the table

    @property
    def leads_priority(self) -> bool:
        """This process leads the priority lane (hand-overs are published here)."""
        return self._handovers is not None and self._handovers.leading

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
        for lane in self.lanes:
            await self._close_producer(lane)

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    def hand_over(self, txid: int, written: Written) -> None:
        """Records a transaction of this process has just committed (see the class docstring).

        Ignored unless this process leads the priority lane: the leader, elsewhere, is woken by
        the commit's notification and reads them.
        """
        handovers = self._handovers
        if self.leads_priority and handovers is not None and handovers.handed(txid, written):
            self._wake["priority"].set()

    def _notified(self, lane: _Lane, payload: str) -> None:
        if lane.only_these and self._handovers is not None:
            if not self._handovers.notified(payload):
                return
        self._wake[lane.name].set()

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
            await conn.add_listener(
                f"{self.schema}_outbox", lambda _c, _p, _ch, payload: self._notified(lane, payload)
            )
            handovers = self._handovers if lane.only_these else None
            if handovers is not None:
                handovers.reset(leading=True)
            backoff.reset()
            while True:
                # Cleared before reading, not after: a commit notified while this batch is in
                # flight must wake the next round, not wait out the poll interval.
                wake.clear()
                if handovers is None:
                    published = await self._publish_pending(conn, lane, backoff)
                else:
                    published = await self._publish_handed_over(conn, lane, handovers, backoff)
                if published < self.batch_size:
                    try:
                        await asyncio.wait_for(wake.wait(), self.poll_interval_s)
                    except TimeoutError:
                        if handovers is not None:
                            handovers.read_needed = True
        finally:
            if lane.only_these and self._handovers is not None:
                self._handovers.reset(leading=False)
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
        records = [
            (r["id"], OutboxRecord(r["topic"], r["key"], r["value"], _headers_of(r["headers"])))
            for r in rows
        ]
        return await self._publish(conn, lane, records, backoff)

    async def _publish_handed_over(
        self, conn: asyncpg.Connection, lane: _Lane, handovers: _HandOvers, backoff: Backoff
    ) -> int:
        """The priority lane: what was read when a read is due, then what was handed over."""
        published = 0
        if handovers.awaiting_hand_overs:
            # A commit's notification often arrives just before its own hand-over: let that run
            # rather than read the table for records that are about to be handed over.
            await asyncio.sleep(0)
        if handovers.take_read():  # records committed before the ones handed over go first
            published = await self._publish_pending(conn, lane, backoff)
            if published >= self.batch_size:
                handovers.read_needed = True  # more to read, after what was handed over
        handed = handovers.take()
        if handed:
            sent = await self._publish(conn, lane, handed, backoff)
            if sent < len(handed):
                handovers.read_needed = True  # not published: read them again
            self.published_handed_over += sent
            published += sent
        return published

    async def _publish(
        self, conn: asyncpg.Connection, lane: _Lane, records: Written, backoff: Backoff
    ) -> int:
        if not records:
            return 0
        try:
            await self._send_in_order(lane, [r for _, r in records])
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("outbox publish failed; records stay pending", error=repr(exc))
            await self._close_producer(lane)  # a fresh producer recovers from sequence errors
            await backoff.sleep()
            return 0
        backoff.reset()
        ids = [i for i, _ in records]
        await conn.execute(
            "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])", ids
        )
        if lane.only_these and self._handovers is not None:
            self._handovers.published(ids)
        for _, r in records:
            metrics.EVENTS_PUBLISHED.labels(self.service, r.topic).inc()
        self.published_total += len(records)
        return len(records)

    async def _send_in_order(self, lane: _Lane, records: Sequence[OutboxRecord]) -> None:
        producer = await self._ensure_producer(lane)

        async def send_all() -> None:
            futures = []
            for r in records:
                futures.append(
                    await producer.send(
                        self.topic_prefix + r.topic, r.value, key=r.key, headers=list(r.headers)
                    )
                )
            await asyncio.gather(*futures)

        await asyncio.wait_for(send_all(), self.publish_timeout_s)

    async def _ensure_producer(self, lane: _Lane) -> AIOKafkaProducer:
        """The lane's producer, used by the lane's task alone."""
        if lane.name not in self._producers:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=0,  # the relay sends whole batches at once; a wait only adds latency
                request_timeout_ms=int(self.publish_timeout_s * 1000),
                client_id=f"{self.service}-outbox-{lane.name}",
            )
            await asyncio.wait_for(producer.start(), self.publish_timeout_s)
            self._producers[lane.name] = producer
        return self._producers[lane.name]

    async def _close_producer(self, lane: _Lane) -> None:
        producer = self._producers.pop(lane.name, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)  # can hang with the broker down
