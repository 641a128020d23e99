"""Idempotent, dead-lettering Kafka consumer built on a FastStream batch subscriber.

For each polled batch, in one database transaction:
  1. every record is decoded against its contract; an invalid one is dead-lettered (its original
     bytes and headers, plus the reason) through the outbox;
  2. each valid event's id is claimed in the inbox; an event already claimed is skipped;
  3. the handler runs and queues its outgoing events in the same transaction (a handler that
     rejects its event gets the batch rolled back and re-run with that event dead-lettered).
Only after that transaction commits is the Kafka offset committed (``AckPolicy.MANUAL``: never
FastStream's default ACK_FIRST). A transient failure rolls everything back and retries with
jittered backoff; after ``retry_in_place_s`` the consumer seeks back to the batch start instead,
so it keeps polling and stays in its group. A handler that keeps failing for a non-transient
reason is retried ``max_attempts`` times, then its event is dead-lettered. A handler whose event
names something the service does not know yet raises ``NotYetKnown``: the event is held (see
``held_events``), not dead-lettered, and later events of its subject are held behind it.

A handler that refuses its event with a ``DomainError`` (the domain's words for a broken rule)
has it dead-lettered, with the field and the rule as the reason: no consumer converts it itself.

Batch handlers (``@consumer.on_batch(EventCls, ...)``) receive, once per polled batch, every
newly claimed event of those types (in batch order, duplicates already removed) with one unit of
work (``uow.caused_by(envelope)`` gives one per event), so that a service can apply them with
set-based SQL. They run after
the per-event handlers of the batch, in the same transaction, and must have the same effects as
if called with each event alone, in order. A batch handler refuses one event with
:class:`BatchEventRejected` (that event is dead-lettered and the batch re-run without it). One
that keeps failing for another reason is then run event by event, each in a savepoint, to find
the event at fault, which is dead-lettered; the others are applied again as a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from eps_contracts import Envelope, Event, Topic, dead_letter_topic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from pydantic_core import from_json

from eps_chassis import held_events, metrics
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.errors import DomainError, EventRejected, NotYetKnown
from eps_chassis.held_events import HeldEvent, Hold
from eps_chassis.logging import bound_context, get_logger
from eps_chassis.outbox import HandOver, OutboxRecord, add_to_outbox, transaction
from eps_chassis.retry import Backoff, is_transient
from eps_chassis.unit_of_work import PostgresUnitOfWork

log = get_logger()

E = TypeVar("E", bound=Event)
Handler = Callable[[Envelope[Any], Any], Awaitable[None]]  # (event, the service's unit of work)


BatchUnitOfWork = PostgresUnitOfWork  # until every service names its own unit of work

BatchHandler = Callable[[Sequence[Envelope[Any]], Any], Awaitable[None]]


class BatchEventRejected(EventRejected):
    """Raised by a batch handler to refuse one event of its batch (it is dead-lettered)."""

    def __init__(self, event_id: uuid.UUID, reason: str) -> None:
        super().__init__(reason)
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class _Valid:
    record: ConsumerRecord
    envelope: Envelope[Any]
    handler: Handler | None  # None: the event type has a batch handler
    batch_handler: BatchHandler | None = None


@dataclass(frozen=True, slots=True)
class _Invalid:
    record: ConsumerRecord
    reason: str


@dataclass(frozen=True, slots=True)
class _Ignored:
    record: ConsumerRecord


_Decoded = _Valid | _Invalid | _Ignored


class _RetryBatch(Exception):
    """A handler failed for an unexpected reason: roll back, back off, try the batch again."""


class _Refused(Exception):
    """An event must be dead-lettered: roll back and run the batch again without it."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


class _NotFirst(Exception):
    """An event tried ahead of its subject's held event did not provide what it awaits."""


class _Held(Exception):
    """An event cannot be applied yet: roll back and run the batch again with it held."""

    def __init__(self, index: int, why: Hold) -> None:
        super().__init__(why.reason)
        self.index = index
        self.why = why


def _hold_of(exc: NotYetKnown) -> Hold:
    reason = f"{exc.field}: {exc}" if exc.field else str(exc)
    return Hold(f"waiting: {reason}", exc.awaiting, exc.field)


def _behind(head_id: uuid.UUID, head: Hold) -> Hold:
    """Why a later event of a held subject waits: released with the event it waits behind."""
    reason = f"waits behind held event {head_id} ({head.reason})"
    return Hold(reason, head.awaiting, head.field, behind=head_id)


async def _records_only(message: Any) -> None:
    """FastStream's decoder would turn every record of a batch into a message and parse its JSON
    just to hand the bodies to the subscriber, which reads ``raw_message`` instead: skipping it
    saves about 40 us per record. Each record is decoded once, against its contract, in
    :meth:`EventConsumer.decode`."""
    return None


def describe_validation_error(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )


def _poll_without_idle_sleep(subscriber: Any) -> None:
    """Priority consumers wait in ``getmany``, which returns as soon as a record arrives.

    FastStream's batch poll sleeps ``batch_timeout_ms`` after every empty poll, and a record
    arriving in that sleep waits it out: on the fast track that was up to a poll's length per hop.
    """
    timeout_ms, max_records = subscriber.batch_timeout_ms, subscriber.max_records

    async def get_msg(consumer: Any) -> tuple[ConsumerRecord, ...]:
        started = time.monotonic()
        polled = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        if not polled and time.monotonic() - started < timeout_ms / 2000:
            await asyncio.sleep(timeout_ms / 1000)  # returned at once (no assignment): no spin
        return tuple(r for records in polled.values() for r in records)

    subscriber.get_msg = get_msg


class PriorityGate:
    """Lets critical-incident work in this process go first.

    Consumers of priority topics hold the gate while they handle a batch; consumers of routine
    topics wait for it to be clear before they start a batch, and a routine batch that finds it
    held between two events commits what it has done (releasing its row locks) and goes on once
    clear. The fast track then never queues behind a long routine transaction in the same
    replica, and routine work keeps moving, in shorter transactions, while incidents arrive.
    """

    def __init__(self) -> None:
        self._holders = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @property
    def held(self) -> bool:
        return self._holders > 0

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        self._holders += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._holders -= 1
            if not self._holders:
                self._clear.set()

    async def wait_clear(self) -> None:
        await self._clear.wait()


@dataclass(slots=True)
class ConsumerRuntime:
    """What a consumer needs once the service has started."""

    pool: asyncpg.Pool
    service: str
    source: str
    topic_prefix: str = ""  # environments sharing a cluster
    gate: PriorityGate = field(default_factory=PriorityGate)
    max_batch_size: int = 1000
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 10.0
    retry_in_place_s: float = 30.0
    max_attempts: int = 3
    hand_over: HandOver | None = None  # the relay, given each batch's records once committed
    clock: Clock = utc_now  # the service's, injectable: handlers read it as ``uow.clock()``
    unit_of_work: type[PostgresUnitOfWork] = PostgresUnitOfWork  # the service's own

    def open(self, conn: asyncpg.Connection, context: MessageContext) -> PostgresUnitOfWork:
        return self.unit_of_work(conn, context, self.source, self.clock)


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
        description: str = "",
    ) -> None:
        self.name = name
        self.topics = tuple(topics)
        self.batch_size = batch_size
        self.batch_timeout_ms = batch_timeout_ms
        self.description = description
        self._handlers: dict[str, tuple[type[Envelope[Any]], Handler]] = {}
        self._batch_handlers: dict[str, tuple[type[Envelope[Any]], BatchHandler]] = {}
        self._failures: dict[uuid.UUID, int] = {}
        self._isolating: set[uuid.UUID] = set()  # batches (by first event) run event by event
        self.runtime: ConsumerRuntime | None = None

    @property
    def priority(self) -> bool:
        return any(t.priority for t in self.topics)

    @property
    def handled_event_types(self) -> list[type[Event]]:
        return [Event.registry[t] for t in (*self._handlers, *self._batch_handlers)]

    def _check_subscribable(self, event_cls: type[Event]) -> None:
        if event_cls.topic not in self.topics:
            raise ValueError(f"{event_cls.event_type} travels on {event_cls.topic}, not subscribed")
        if event_cls.event_type in self._handlers or event_cls.event_type in self._batch_handlers:
            raise ValueError(f"{event_cls.event_type} already has a handler")

    def on(self, event_cls: type[E]) -> Callable[[Handler], Handler]:
        self._check_subscribable(event_cls)

        def register(handler: Handler) -> Handler:
            self._handlers[event_cls.event_type] = (Envelope[event_cls], handler)  # type: ignore[valid-type]
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
                model = Envelope[event_cls]  # type: ignore[valid-type]
                self._batch_handlers[event_cls.event_type] = (model, handler)
            return handler

        return register

    def group_id(self, runtime: ConsumerRuntime) -> str:
        return f"{runtime.topic_prefix}{runtime.service}.{self.name}"

    def subscribe(self, broker: KafkaBroker, runtime: ConsumerRuntime) -> None:
        self.runtime = runtime
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
            decoder=_records_only,
        )
        if self.priority:
            _poll_without_idle_sleep(subscriber)

        @subscriber
        async def consume(message: KafkaMessage) -> None:
            await self.process(message)

    async def process(self, message: Any) -> None:
        """Process one polled batch; commit its offsets only after the effects are durable."""
        runtime = self.runtime
        assert runtime is not None, "subscribe() first"
        records: tuple[ConsumerRecord, ...] = message.raw_message
        if not records:
            return
        items = [self.decode(r) for r in records]
        backoff = Backoff(runtime.backoff_initial_s, runtime.backoff_max_s)
        started = time.monotonic()
        while True:
            try:
                with metrics.HANDLER_LATENCY.labels(runtime.service).time():
                    if self.priority:
                        async with runtime.gate.hold():
                            await self._apply(items, runtime)
                    else:
                        await self._apply(items, runtime)
                break
            except Exception as exc:
                metrics.EVENTS_FAILED.labels(runtime.service).inc()
                log.warning(
                    "batch failed; retrying", consumer=self.name, error=repr(exc), size=len(items)
                )
                if time.monotonic() - started > runtime.retry_in_place_s:
                    await message.nack()  # seek back to the batch start: polled again, not lost
                    return
                await backoff.sleep()
        await message.ack()

    def decode(self, record: ConsumerRecord) -> _Decoded:
        value = record.value
        if not value:
            return _Invalid(record, "empty record value")
        try:
            head = from_json(value)
        except ValueError as exc:
            return _Invalid(record, f"not JSON: {exc}")
        event_type = head.get("type") if isinstance(head, dict) else None
        if not isinstance(event_type, str):
            return _Invalid(record, "type: missing CloudEvents type attribute")
        registered = self._handlers.get(event_type)
        batch_registered = self._batch_handlers.get(event_type)
        if registered is None and batch_registered is None:
            return (
                _Ignored(record)
                if event_type in Event.registry
                else _Invalid(record, f"type: unknown event type {event_type!r}")
            )
        chosen = registered or batch_registered
        assert chosen is not None
        model = chosen[0]
        try:
            envelope = model.model_validate_json(value)
        except ValidationError as exc:
            return _Invalid(record, describe_validation_error(exc))
        if batch_registered is not None:
            return _Valid(record, envelope, None, batch_registered[1])
        assert registered is not None
        return _Valid(record, envelope, registered[1])

    async def _apply(self, items: Sequence[_Decoded], runtime: ConsumerRuntime) -> None:
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
            except _Refused as refusal:
                refused[refusal.index] = refusal.reason
                continue
            except _Held as holding:
                held[holding.index] = holding.why
                continue
            for event_type in consumed:
                metrics.EVENTS_CONSUMED.labels(runtime.service, event_type).inc()
            if stopped < len(items):
                metrics.BATCHES_PREEMPTED.labels(runtime.service).inc()
            start = stopped

    async def _apply_once(
        self,
        conn: asyncpg.Connection,
        items: Sequence[_Decoded],
        start: int,
        refused: dict[int, str],
        held: dict[int, Hold],
        consumed: list[str],
        runtime: ConsumerRuntime,
    ) -> int:
        """Apply ``items[start:]``; returns where it stopped (``len(items)`` when done)."""
        pending = items[start:]
        claimed, heads = await self._claim(
            conn, [i.envelope for i in pending if isinstance(i, _Valid)]
        )
        batched: dict[BatchHandler, list[tuple[int, _Valid]]] = {}
        for index, item in enumerate(pending, start):
            if index > start and not batched and not self.priority and runtime.gate.held:
                await self._unclaim(conn, claimed)  # not processed in this transaction
                return index
            if isinstance(item, _Ignored):
                metrics.EVENTS_IGNORED.labels(runtime.service).inc()
            elif isinstance(item, _Invalid):
                await self._dead_letter(conn, item.record, item.reason, runtime)
            elif item.envelope.id not in claimed:
                metrics.EVENTS_DUPLICATE.labels(runtime.service).inc()
            elif index in refused:
                claimed.discard(item.envelope.id)
                await self._dead_letter(conn, item.record, refused[index], runtime)
            elif index in held or (
                item.envelope.subject in heads
                and not await self._goes_first(conn, item, heads[item.envelope.subject], runtime)
            ):
                claimed.discard(item.envelope.id)  # claimed: a redelivery is a duplicate
                head = heads.get(item.envelope.subject)
                why = _behind(*head) if head is not None else held[index]
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
            await self._handle_batch(conn, handler, members, runtime)
        return len(items)

    async def _claim(
        self, conn: asyncpg.Connection, envelopes: list[Envelope[Any]]
    ) -> tuple[set[Any], dict[str, tuple[uuid.UUID, Hold]]]:
        """Record the event ids in the inbox; returns those not processed before, and the
        first held event of each of their subjects that has one (they must wait behind it),
        in one round trip. Priority consumers never hold: they answer every request."""
        if not envelopes:
            return set(), {}
        claim = (
            "INSERT INTO inbox (consumer, event_id, event_type)"
            " SELECT $1, * FROM unnest($2::uuid[], $3::text[])"
            " ON CONFLICT DO NOTHING RETURNING event_id"
        )
        ids, types = [e.id for e in envelopes], [e.type for e in envelopes]
        if self.priority:
            return {r["event_id"] for r in await conn.fetch(claim, self.name, ids, types)}, {}
        rows = await conn.fetch(
            f"WITH claimed AS ({claim})"
            " SELECT event_id, NULL::text AS subject, NULL::text AS awaiting, NULL::text AS reason,"
            " NULL::text AS field FROM claimed"
            " UNION ALL SELECT * FROM (SELECT DISTINCT ON (subject) event_id, subject, awaiting,"
            " reason, field FROM held_events WHERE consumer = $1 AND subject = ANY($4::text[])"
            " ORDER BY subject, held_at, kafka_partition, kafka_offset) AS heads",
            self.name,
            ids,
            types,
            list({e.subject for e in envelopes}),
        )
        claimed = {r["event_id"] for r in rows if r["subject"] is None}
        heads = {
            r["subject"]: (r["event_id"], Hold(r["reason"], r["awaiting"], r["field"]))
            for r in rows
            if r["subject"] is not None
        }
        return claimed, heads

    async def _unclaim(self, conn: asyncpg.Connection, event_ids: set[Any]) -> None:
        if event_ids:
            await conn.execute(
                "DELETE FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                self.name,
                list(event_ids),
            )

    async def _run_handler(
        self, conn: asyncpg.Connection, item: _Valid, runtime: ConsumerRuntime
    ) -> set[str]:
        """The event's handler and the events it publishes, in the caller's transaction;
        returns what it made known (``uow.release``). The domain refusing the event is a
        rejection (dead-lettered with the field and the rule), whichever consumer it is."""
        envelope = item.envelope
        context = MessageContext.caused_by(envelope, actor=f"service:{runtime.service}")
        uow = runtime.open(conn, context)
        assert item.handler is not None
        try:
            await item.handler(envelope, uow)
        except DomainError as exc:
            raise EventRejected.because(exc) from exc
        await uow.flush()
        return uow.released

    async def _goes_first(
        self,
        conn: asyncpg.Connection,
        item: _Valid,
        head: tuple[uuid.UUID, Hold],
        runtime: ConsumerRuntime,
    ) -> bool:
        """An event of a subject whose earlier event is held waits behind it, to keep the
        subject's order, unless it is what the held one waits for (an appeal held for its
        request, then the request): tried in a savepoint, it is kept only if it made the
        awaited data known, and the held one is then applied after it."""
        if item.handler is None:
            return False
        try:
            async with conn.transaction():
                released = await self._run_handler(conn, item, runtime)
                if head[1].awaiting not in released:
                    raise _NotFirst
        except Exception as exc:
            if is_transient(exc):
                raise
            return False
        return True

    async def _handle(
        self, conn: asyncpg.Connection, index: int, item: _Valid, runtime: ConsumerRuntime
    ) -> None:
        envelope = item.envelope
        with bound_context(
            event_id=str(envelope.id),
            event_type=envelope.type,
            correlation_id=str(envelope.correlationid),
            tenant=envelope.tenant,
        ):
            try:
                await self._run_handler(conn, item, runtime)
            except NotYetKnown as exc:
                raise _Held(index, _hold_of(exc)) from exc
            except EventRejected as exc:
                raise _Refused(index, f"rejected: {exc}") from exc
            except Exception as exc:
                if is_transient(exc):
                    raise
                attempts = self._failures.get(envelope.id, 0) + 1
                self._failures[envelope.id] = attempts
                if attempts < runtime.max_attempts:
                    raise _RetryBatch(f"{envelope.type} {envelope.id}: {exc!r}") from exc
                log.error("handler keeps failing; dead-lettering", error=repr(exc))
                self._failures.pop(envelope.id, None)
                raise _Refused(index, f"handler error: {exc!r}") from exc
            self._failures.pop(envelope.id, None)

    async def _handle_batch(
        self,
        conn: asyncpg.Connection,
        handler: BatchHandler,
        members: list[tuple[int, _Valid]],
        runtime: ConsumerRuntime,
    ) -> None:
        key = members[0][1].envelope.id
        with bound_context(consumer=self.name, batch_size=len(members)):
            if key in self._isolating:
                await self._isolate(conn, handler, members, runtime)  # raises _Refused
            try:
                await self._run_batch(conn, handler, members, runtime)
            except _Refused:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                attempts = self._failures.get(key, 0) + 1
                self._failures[key] = attempts
                if attempts >= runtime.max_attempts:
                    log.error("batch handler keeps failing; isolating the event at fault")
                    self._failures.pop(key, None)
                    self._isolating.add(key)
                raise _RetryBatch(f"batch of {len(members)}: {exc!r}") from exc
            self._failures.pop(key, None)

    async def _run_batch(
        self,
        conn: asyncpg.Connection,
        handler: BatchHandler,
        members: list[tuple[int, _Valid]],
        runtime: ConsumerRuntime,
    ) -> None:
        first_index, first = members[0]
        context = MessageContext.caused_by(first.envelope, actor=f"service:{runtime.service}")
        try:
            uow = runtime.open(conn, context)
            await handler([item.envelope for _, item in members], uow)
            await uow.flush()
        except BatchEventRejected as exc:
            index = next((i for i, m in members if m.envelope.id == exc.event_id), first_index)
            raise _Refused(index, f"rejected: {exc}") from exc
        except EventRejected as exc:  # not naming an event: the first one is refused
            raise _Refused(first_index, f"rejected: {exc}") from exc
        except DomainError as exc:  # likewise
            raise _Refused(first_index, f"rejected: {exc.describe()}") from exc

    async def _isolate(
        self,
        conn: asyncpg.Connection,
        handler: BatchHandler,
        members: list[tuple[int, _Valid]],
        runtime: ConsumerRuntime,
    ) -> None:
        """Run the batch event by event, each in a savepoint, and refuse the first that fails."""
        self._isolating.discard(members[0][1].envelope.id)
        for index, item in members:
            try:
                async with conn.transaction():  # a savepoint inside the batch's transaction
                    await self._run_batch(conn, handler, [(index, item)], runtime)
            except _Refused:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _Refused(index, f"handler error: {exc!r}") from exc
        raise _RetryBatch("no event of the batch failed alone: retry it whole")

    async def apply_held(self, runtime: ConsumerRuntime, *, everything: bool = False) -> int:
        """Apply again the held events that are due (every held event, ``everything``), each
        subject's in the order consumed, stopping at one that still waits; returns how many
        were applied. Called by the service's release job, on one replica at a time."""
        async with runtime.pool.acquire() as conn:
            subjects = await held_events.due_subjects(conn, self.name, everything=everything)
        applied = 0
        for subject in subjects:
            if not self.priority:
                await runtime.gate.wait_clear()
            async with runtime.pool.acquire() as conn, transaction(conn, runtime.hand_over):
                applied += await self._apply_held_subject(conn, subject, runtime)
        return applied

    async def give_up_held(
        self, runtime: ConsumerRuntime, tenant: str, event_id: uuid.UUID, reason: str
    ) -> bool:
        """A person gives up on a held event: it goes to the dead-letter topic with their
        reason, and the events held behind it are tried again. False when there is none."""
        async with runtime.pool.acquire() as conn, transaction(conn, runtime.hand_over):
            held = await held_events.one(conn, tenant, self.name, event_id)
            if held is None:
                return False
            await held_events.forget(conn, held)
            await self._dead_letter(conn, held.record, reason, runtime)
            await conn.execute(
                "UPDATE held_events SET due = true WHERE consumer = $1 AND subject = $2",
                self.name,
                held.subject,
            )
        return True

    async def _apply_held_subject(
        self, conn: asyncpg.Connection, subject: str, runtime: ConsumerRuntime
    ) -> int:
        applied = 0
        waiting: tuple[uuid.UUID, Hold] | None = None
        for held in await held_events.chain(conn, self.name, subject):
            if waiting is not None:
                await held_events.still_held(conn, held, _behind(*waiting))
                continue
            outcome = await self._apply_held_event(conn, held, runtime)
            if isinstance(outcome, Hold):
                waiting = (held.event_id, outcome)
                await held_events.still_held(conn, held, outcome)
                continue
            await held_events.forget(conn, held)
            if outcome is None:
                applied += 1
                metrics.EVENTS_CONSUMED.labels(runtime.service, held.event_type).inc()
            else:
                await self._dead_letter(conn, held.record, outcome, runtime)
        return applied

    async def _apply_held_event(
        self, conn: asyncpg.Connection, held: HeldEvent, runtime: ConsumerRuntime
    ) -> Hold | str | None:
        """Run a held event's handler in a savepoint: None when applied, a Hold when it still
        waits, else the reason to dead-letter it. A handler error keeps it held and visible."""
        item = self.decode(held.record)
        if not isinstance(item, _Valid) or item.handler is None:
            return "held event no longer handled here: " + (
                item.reason if isinstance(item, _Invalid) else f"type {held.event_type}"
            )
        with bound_context(event_id=str(held.event_id), event_type=held.event_type):
            try:
                async with conn.transaction():  # a savepoint: a failed handler leaves nothing
                    await self._run_handler(conn, item, runtime)
            except NotYetKnown as exc:
                return _hold_of(exc)
            except EventRejected as exc:
                return f"rejected: {exc}"
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("held event's handler failed; it stays held", error=repr(exc))
                return Hold(f"handler error: {exc!r}", held.hold.awaiting, held.hold.field)
        return None

    async def _dead_letter(
        self,
        conn: asyncpg.Connection,
        record: ConsumerRecord,
        reason: str,
        runtime: ConsumerRuntime,
    ) -> None:
        log.warning(
            "dead-lettering record",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        headers = [
            *(record.headers or ()),
            ("dlq-reason", reason.encode()),
            ("dlq-original-topic", record.topic.encode()),
            ("dlq-original-partition", str(record.partition).encode()),
            ("dlq-original-offset", str(record.offset).encode()),
            ("dlq-consumer-group", self.group_id(runtime).encode()),
            ("dlq-time", datetime.now(UTC).isoformat().encode()),
        ]
        await add_to_outbox(
            conn,
            [
                OutboxRecord(
                    topic=dead_letter_topic(runtime.service).name,
                    key=record.key,
                    value=record.value or b"",
                    headers=headers,
                )
            ],
        )
        metrics.EVENTS_DEAD_LETTERED.labels(runtime.service).inc()


async def apply_held_events(
    consumers: Sequence[EventConsumer], runtime: ConsumerRuntime, *, everything: bool = False
) -> int:
    """Apply the service's due held events (every held event, ``everything``); keep the gauge
    of what is still held up to date."""
    names = (
        {c.name for c in consumers}
        if everything
        else await held_events.consumers_with_due(runtime.pool)
    )
    applied = 0
    for consumer in consumers:
        if consumer.name in names:
            applied += await consumer.apply_held(runtime, everything=everything)
    if names:
        held_now = await held_events.counts(runtime.pool)
        for consumer in consumers:
            metrics.EVENTS_HELD.labels(runtime.service, consumer.name).set(
                held_now.get(consumer.name, 0)
            )
    return applied
