"""The idempotent, dead-lettering consumer: one consumer group over some topics, one handler
per event type it cares about.

For each polled batch, in one database transaction:
  1. every record is decoded against its contract (``decoding``); an invalid one, or one of a
     local authority the deployment does not serve (``tenancy``), is dead-lettered, its
     original bytes and headers with the reason (``dead_letters``);
  2. each valid event's id is claimed in the inbox (``inbox``); one claimed before is skipped;
  3. its handler runs with the service's unit of work, whose events are written to the outbox in
     the same transaction. A handler refusing its event (a ``DomainError``, or ``EventRejected``)
     has it dead-lettered with the field and the rule; one whose event names what the service
     does not know yet (``NotYetKnown``) has it held (``held_events``), and later events of its
     subject wait behind it; batch handlers get every new event of their types at once
     (``batches``).
Only after that transaction commits are the offsets committed: never FastStream's default
ACK_FIRST; the next batch does not wait for the broker to answer the commit (``offsets``), and
is polled and decoded while the batch before is applied (``pipelining``), and a large one may
be applied as a few transactions side by side, split by a key (``shards``). A
transient failure rolls everything back and retries with jittered backoff; after
``retry_in_place_s`` the batch is read again from its start instead, so the consumer keeps
polling and stays in its group. A handler that keeps failing for another reason is retried
``max_attempts`` times, then its event is dead-lettered.

Routine topics are consumed through FastStream subscribers (a batch subscriber with manual
acknowledgement); priority topics through a poller of their own (``priority``), and while one
handles a batch, routine batches in the process step aside.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from eps_contracts import Event, Topic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from eps_chassis import collector, held_events, inbox, metrics
from eps_chassis.batches import BatchEventNotYetKnown, BatchEventRejected, BatchRunner, Members
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.dead_letters import dead_letter
from eps_chassis.decoding import (
    BatchHandler,
    Decoded,
    Handler,
    Ignored,
    Invalid,
    Routes,
    Valid,
)
from eps_chassis.errors import DomainError, EventRejected, NotYetKnown
from eps_chassis.held_events import Hold
from eps_chassis.logging import bound_context, get_logger
from eps_chassis.outbox import HandOver, transaction
from eps_chassis.outcomes import Held, Refused, RetryBatch, behind, hold_of
from eps_chassis.pipelining import OneBatchAhead
from eps_chassis.priority import PriorityGate
from eps_chassis.retry import Backoff, is_transient
from eps_chassis.sealing import NO_SEALER, Sealer
from eps_chassis.shards import Shards
from eps_chassis.tenancy import EVERY_LOCAL_AUTHORITY, LocalAuthorities, served_only
from eps_chassis.unit_of_work import PostgresUnitOfWork

__all__ = ["BatchEventNotYetKnown", "BatchEventRejected", "ConsumerRuntime", "EventConsumer"]

log = get_logger()

DECODE_SLICE = 100  # records decoded between two turns of the event loop (about 2 ms)

E = TypeVar("E", bound=Event)


@dataclass(slots=True)
class ConsumerRuntime:
    """What a consumer needs once the service has started."""

    pool: asyncpg.Pool
    service: str
    source: str
    topic_prefix: str = ""  # environments sharing a cluster
    gate: PriorityGate = field(default_factory=PriorityGate)
    max_batch_size: int = 6000  # the deployment's cap (settings.consumer_batch_size)
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 10.0
    retry_in_place_s: float = 30.0
    max_attempts: int = 3
    hand_over: HandOver | None = None  # the relay, given each batch's records once committed
    clock: Clock = utc_now  # the service's, injectable: handlers read it as ``uow.clock()``
    unit_of_work: type[PostgresUnitOfWork] = PostgresUnitOfWork  # the service's own
    local_authorities: LocalAuthorities = EVERY_LOCAL_AUTHORITY  # those the deployment serves
    sealer: Sealer = NO_SEALER  # personal fields (eps_chassis.sealing), dead letters' bytes

    def open(self, conn: asyncpg.Connection, context: MessageContext) -> PostgresUnitOfWork:
        return self.unit_of_work(conn, context, self.source, self.clock, self.sealer)


class _NotFirst(Exception):
    """An event tried ahead of its subject's held event did not provide what it awaits."""


async def _records_only(message: Any) -> None:
    """FastStream's decoder would turn every record of a batch into a message and parse its JSON
    just to hand the bodies to the subscriber, which reads ``raw_message`` instead: skipping it
    (a custom decoder, as FastStream allows) saves about 40 us per record. Each record is
    decoded once, against its contract (``decoding``)."""
    return None


async def _first_record_parsed(
    records: tuple[ConsumerRecord, ...], parse: Callable[..., Awaitable[Any]]
) -> Any:
    """FastStream's batch parser copies every record's headers into a dict of text that the
    subscriber never reads (about 3 us a record, and a batch with one header that is not UTF-8
    would fail to parse): the message is parsed from the first record alone and carries the
    whole batch as its raw message, which is what the subscriber, ``ack`` and ``nack`` read."""
    message = await parse(records[:1])
    message.raw_message = records
    return message


class EventConsumer:
    """A consumer group over some topics, with one handler per event type it cares about.

    Event types on those topics without a handler are skipped (and counted): producers may add
    event types to a stream without breaking its consumers.
    """

    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[Topic],
        batch_size: int = 500,
        batch_timeout_ms: int = 50,
        shards: Shards | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.topics = tuple(topics)
        self.batch_size = batch_size
        self.batch_timeout_ms = batch_timeout_ms
        self.shards = shards
        self.description = description
        self.routes = Routes()
        self._batches = BatchRunner(name)
        self._batches_ahead = OneBatchAhead(name)
        self._failures: dict[Any, int] = {}
        self.runtime: ConsumerRuntime | None = None

    @property
    def priority(self) -> bool:
        return any(t.priority for t in self.topics)

    @property
    def handled_event_types(self) -> list[type[Event]]:
        return self.routes.event_types

    def _check_subscribable(self, event_cls: type[Event]) -> None:
        if event_cls.topic not in self.topics:
            raise ValueError(f"{event_cls.event_type} travels on {event_cls.topic}, not subscribed")
        if event_cls.event_type in self.routes:
            raise ValueError(f"{event_cls.event_type} already has a handler")

    def on(self, event_cls: type[E]) -> Callable[[Handler], Handler]:
        """Register the handler of one event type: ``handler(envelope, uow)``."""
        self._check_subscribable(event_cls)

        def register(handler: Handler) -> Handler:
            self.routes.add(event_cls, handler)
            return handler

        return register

    def on_batch(self, *event_classes: type[Event]) -> Callable[[BatchHandler], BatchHandler]:
        """Register one handler for all new events of these types in each polled batch."""
        if not event_classes:
            raise ValueError("name at least one event type")
        for event_cls in event_classes:
            self._check_subscribable(event_cls)

        def register(handler: BatchHandler) -> BatchHandler:
            for event_cls in event_classes:
                self.routes.add_batch(event_cls, handler)
            return handler

        return register

    def decode(self, record: ConsumerRecord) -> Decoded:
        """The record against its contract; an event of a local authority the deployment does
        not serve is invalid (``tenancy``)."""
        served = self.runtime.local_authorities if self.runtime else EVERY_LOCAL_AUTHORITY
        return served_only(self.routes.decode(record), served)

    def group_id(self, runtime: ConsumerRuntime) -> str:
        return f"{runtime.topic_prefix}{runtime.service}.{self.name}"

    def bind(self, runtime: ConsumerRuntime) -> None:
        self.runtime = runtime

    def subscribe(self, broker: KafkaBroker, runtime: ConsumerRuntime) -> None:
        """A routine consumer, as a FastStream batch subscriber acknowledged by hand."""
        self.bind(runtime)
        self._batches_ahead = OneBatchAhead(self.name)  # a fresh one each time it subscribes
        subscriber = broker.subscriber(
            *(runtime.topic_prefix + t.name for t in self.topics),
            group_id=self.group_id(runtime),
            batch=True,
            max_records=min(self.batch_size, runtime.max_batch_size),
            batch_timeout_ms=self.batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            title=f"{runtime.service}.{self.name}",
            description=self.description,
            parser=_first_record_parsed,
            decoder=_records_only,
        )

        @subscriber
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message
            items = await self.decode_batch(records)  # while the batch before is being applied
            await self._batches_ahead.submit(message.consumer, records, lambda: self.apply(items))

    async def close(self) -> None:
        """Wait for the batch being applied and its offsets (the service stopping)."""
        await self._batches_ahead.close()

    async def decode_batch(self, records: Sequence[ConsumerRecord]) -> list[Decoded]:
        """Every record decoded, a slice at a time: decoding a thousand takes 15-20 ms, and
        between slices a critical incident's batch, polled meanwhile, gets the event loop (a
        routine consumer then waits for it to be handled, as its batches do)."""
        items: list[Decoded] = []
        for start in range(0, len(records), DECODE_SLICE):
            if start:
                await asyncio.sleep(0)
                if not self.priority and self.runtime is not None:
                    await self.runtime.gate.wait_clear()
            items.extend(self.decode(r) for r in records[start : start + DECODE_SLICE])
        return items

    async def process(self, records: Sequence[ConsumerRecord]) -> bool:
        """Apply one polled batch; True once its effects are durable (commit its offsets),
        False when it could not be applied in time (read it again from its start)."""
        return await self.apply(await self.decode_batch(records))

    async def apply(self, items: Sequence[Decoded]) -> bool:
        """Apply a decoded batch (``process``)."""
        runtime = self.runtime
        assert runtime is not None, "bind() or subscribe() first"
        if not items:
            return True
        backoff = Backoff(runtime.backoff_initial_s, runtime.backoff_max_s)
        started = time.monotonic()
        while True:
            try:
                with metrics.HANDLER_LATENCY.labels(runtime.service).time():
                    if self.priority:
                        async with runtime.gate.hold():
                            await self._apply(items, runtime)
                    else:
                        with collector.paused():
                            await self._apply_routine(items, runtime)
                return True
            except Exception as exc:
                metrics.EVENTS_FAILED.labels(runtime.service).inc()
                log.warning(
                    "batch failed; retrying", consumer=self.name, error=repr(exc), size=len(items)
                )
                if time.monotonic() - started > runtime.retry_in_place_s:
                    return False
                await backoff.sleep()

    async def _apply_routine(self, items: Sequence[Decoded], runtime: ConsumerRuntime) -> None:
        """A routine batch, in shards side by side when the consumer has them (``shards``).
        Every shard is waited for, whether or not another failed, before the batch counts as
        failed and is applied again: no shard may still be running then."""
        shards = [items] if self.shards is None else await self.shards.split(runtime.pool, items)
        if len(shards) == 1:
            await self._apply(items, runtime)
            return
        outcomes = await asyncio.gather(
            *(self._apply(shard, runtime) for shard in shards), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _apply(self, items: Sequence[Decoded], runtime: ConsumerRuntime) -> None:
        """One transaction for the whole batch, without a savepoint per event.

        When a handler rejects an event, the batch is rolled back and run again with that event
        dead-lettered instead: rejections are rare, and the common path saves two round trips
        per event. A routine batch that finds priority work waiting between two events commits
        what it has done (releasing its row locks) and goes on in a new transaction once the
        gate is clear, so it still makes progress while incidents keep arriving.
        """
        refused: dict[int, str] = {}
        held: dict[int, Hold] = {}
        start = 0
        while start < len(items):
            consumed: list[str] = []
            if not self.priority:
                await runtime.gate.wait_clear()
            try:
                async with runtime.pool.acquire() as conn, transaction(conn, runtime.hand_over):
                    stopped = await self._apply_once(
                        conn, items, start, refused, held, consumed, runtime
                    )
            except Refused as refusal:
                refused[refusal.index] = refusal.reason
                continue
            except Held as holding:
                held[holding.index] = holding.why
                continue
            for event_type, count in Counter(consumed).items():  # a label lookup per type
                metrics.EVENTS_CONSUMED.labels(runtime.service, event_type).inc(count)
            if stopped < len(items):
                metrics.BATCHES_PREEMPTED.labels(runtime.service).inc()
            start = stopped

    async def _apply_once(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Decoded],
        start: int,
        refused: dict[int, str],
        held: dict[int, Hold],
        consumed: list[str],
        runtime: ConsumerRuntime,
    ) -> int:
        """Apply ``items[start:]``; returns where it stopped (``len(items)`` when done)."""
        pending = items[start:]
        claimed, heads = await inbox.claim(
            conn,
            self.name,
            [i.envelope for i in pending if isinstance(i, Valid)],
            with_held_heads=not self.priority,  # priority consumers answer every request
        )
        batched: dict[BatchHandler, Members] = {}
        for index, item in enumerate(pending, start):
            if index > start and not batched and not self.priority and runtime.gate.held:
                await inbox.unclaim(conn, self.name, claimed)  # not processed in this transaction
                return index
            if isinstance(item, Ignored):
                metrics.EVENTS_IGNORED.labels(runtime.service).inc()
            elif isinstance(item, Invalid):
                await self.dead_letter(conn, item.record, item.reason)
            elif item.envelope.id not in claimed:
                metrics.EVENTS_DUPLICATE.labels(runtime.service).inc()
            elif index in refused:
                claimed.discard(item.envelope.id)
                await self.dead_letter(conn, item.record, refused[index])
            elif index in held or (
                item.envelope.subject in heads
                and not await self._goes_first(conn, item, heads[item.envelope.subject])
            ):
                claimed.discard(item.envelope.id)  # claimed: a redelivery is a duplicate
                head = heads.get(item.envelope.subject)
                why = behind(*head) if head is not None else held[index]
                await held_events.hold(conn, self.name, item.record, item.envelope, why)
                heads.setdefault(item.envelope.subject, (item.envelope.id, why))
                metrics.EVENTS_HELD_TOTAL.labels(runtime.service).inc()
            elif item.envelope.subject in heads:  # it went first: it was what the head awaits
                claimed.discard(item.envelope.id)
                consumed.append(item.envelope.type)
            elif item.batch_handler is not None:
                claimed.discard(item.envelope.id)
                batched.setdefault(item.batch_handler, []).append((index, item))
                consumed.append(item.envelope.type)
            else:
                claimed.discard(item.envelope.id)  # a second copy in this batch is a duplicate
                await self._handle(conn, index, item, runtime)
                consumed.append(item.envelope.type)
        for handler, members in batched.items():
            await self._batches.handle(conn, handler, members, runtime)
        return len(items)

    async def run_handler(self, conn: asyncpg.Connection, item: Valid) -> set[str]:
        """The event's handler and the events it publishes, in the caller's transaction;
        returns what it made known (``uow.release``). The domain refusing the event is a
        rejection (dead-lettered with the field and the rule), whichever consumer it is."""
        runtime = self.runtime
        assert runtime is not None
        envelope = item.envelope
        context = MessageContext.caused_by(envelope, actor=f"service:{runtime.service}")
        uow = runtime.open(conn, context)
        try:
            if item.handler is not None:
                await item.handler(envelope, uow)
            else:  # a held event of a batch handler's, applied alone
                assert item.batch_handler is not None
                await item.batch_handler([envelope], uow)
        except DomainError as exc:
            raise EventRejected.because(exc) from exc
        await uow.flush()
        return uow.released

    async def _goes_first(
        self, conn: asyncpg.Connection, item: Valid, head: tuple[Any, Hold]
    ) -> bool:
        """An event of a subject whose earlier event is held waits behind it, to keep the
        subject's order, unless it is what the held one waits for (an appeal held for its
        request, then the request): tried in a savepoint, it is kept only if it made the
        awaited data known, and the held one is then applied after it."""
        try:
            async with conn.transaction():
                released = await self.run_handler(conn, item)
                if head[1].awaiting not in released:
                    raise _NotFirst
        except Exception as exc:
            if is_transient(exc):
                raise
            return False
        return True

    async def _handle(
        self, conn: asyncpg.Connection, index: int, item: Valid, runtime: ConsumerRuntime
    ) -> None:
        envelope = item.envelope
        with bound_context(
            event_id=str(envelope.id),
            event_type=envelope.type,
            correlation_id=str(envelope.correlationid),
            tenant=envelope.tenant,
        ):
            try:
                await self.run_handler(conn, item)
            except NotYetKnown as exc:
                raise Held(index, hold_of(exc)) from exc
            except EventRejected as exc:
                raise Refused(index, f"rejected: {exc}") from exc
            except Exception as exc:
                if is_transient(exc):
                    raise
                attempts = self._failures.get(envelope.id, 0) + 1
                self._failures[envelope.id] = attempts
                if attempts < runtime.max_attempts:
                    raise RetryBatch(f"{envelope.type} {envelope.id}: {exc!r}") from exc
                log.error("handler keeps failing; dead-lettering", error=repr(exc))
                self._failures.pop(envelope.id, None)
                raise Refused(index, f"handler error: {exc!r}") from exc
            self._failures.pop(envelope.id, None)

    async def dead_letter(
        self, conn: asyncpg.Connection, record: ConsumerRecord, reason: str
    ) -> None:
        runtime = self.runtime
        assert runtime is not None
        await dead_letter(
            conn,
            record,
            reason,
            service=runtime.service,
            consumer_group=self.group_id(runtime),
            sealer=runtime.sealer,
        )
