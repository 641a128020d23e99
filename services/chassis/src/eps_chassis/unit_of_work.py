"""Unit of work: what a service-layer handler works in.

One local authority's repositories in one transaction, the aggregates they loaded and the events
that come of them, as in cosmicpython:

- each service declares its unit of work, a subclass naming its repositories (``uow.cases``,
  ``uow.rota``) bound to the tenant, so a handler never builds a repository nor passes the
  tenant; handlers take ``(command, uow)``;
- a repository tracks every aggregate it loads or adds (:meth:`UnitOfWork.track`); when the
  unit of work commits, it collects the events each aggregate recorded (aggregate by aggregate,
  in the order they were first tracked, each one's events in the order it recorded them: what
  consumers rely on is the order of one aggregate's events, which share a Kafka key), with any
  the handler published itself (:meth:`UnitOfWork.publish`, after what the aggregates recorded
  until then), and writes them to the outbox in the same transaction as the change: an event
  exists if and only if the state change committed;
- :meth:`UnitOfWork.release` says that what held events wait for is now known.

:class:`PostgresUnitOfWork` is the real one (one connection inside an open transaction); tests
give handlers a fake with in-memory repositories (``tests/support/fakes``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import asyncpg
from eps_contracts import Envelope, Event, envelope_for

from eps_chassis import held_events
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.errors import OwnedElsewhere
from eps_chassis.outbox import HandOver, OutboxRecord, add_to_outbox, transaction
from eps_chassis.sealing import NO_SEALER, Sealer


class Aggregate(Protocol):
    """What a repository hands out: a consistency boundary that records its own events."""

    events: list[Event]


A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    """A handler's view of one transaction for one local authority (see the module)."""

    def __init__(
        self, context: MessageContext, clock: Clock = utc_now, sealer: Sealer = NO_SEALER
    ) -> None:
        self.context = context
        self.clock = clock  # the service's (injectable) clock: handlers ask it what time it is
        # seals the personal fields of what is published, opens those of what is consumed
        self.sealer = sealer
        self.seen: list[Aggregate] = []
        self._seen_ids: set[int] = set()  # a diary read tracks hundreds: no list scan each time
        self.released: set[str] = set()  # what this unit of work made known
        self._events: list[Event] = []

    @property
    def tenant(self) -> str:
        return self.context.tenant

    @property
    def actor(self) -> str:
        return self.context.actor

    def track(self, aggregate: A) -> A:
        """Remember an aggregate loaded or added here: its events go out on commit."""
        if id(aggregate) not in self._seen_ids:
            self._seen_ids.add(id(aggregate))
            self.seen.append(aggregate)
        return aggregate

    def publish(self, event: Event) -> None:
        """An event that no aggregate records (a reply, a notice): out on commit, after what
        the aggregates recorded so far."""
        self._drain_aggregates()
        self._events.append(event)

    def collect_new_events(self) -> list[Event]:
        """Everything to publish, in the order it happened; each event is collected once."""
        self._drain_aggregates()
        events, self._events = self._events, []
        return events

    def _drain_aggregates(self) -> None:
        for aggregate in self.seen:
            if aggregate.events:
                self._events.extend(aggregate.events)
                aggregate.events.clear()

    async def release(self, awaiting: str) -> None:
        """What ``awaiting`` names (see ``errors.reference``) is known from this transaction
        on: the events held for it are applied again once it commits (``held_events``)."""
        self.released.add(awaiting)
        await self._release(awaiting)

    async def _release(self, awaiting: str) -> None:
        """Make the release durable with the transaction (the real unit of work)."""


class PostgresUnitOfWork(UnitOfWork):
    """The real unit of work: ``conn`` is inside an open transaction on the service's schema.

    A service's own unit of work extends it and its port (the ``UnitOfWork`` subclass that
    annotates the repositories), naming the Postgres repository behind each::

        class PostgresConsentUnitOfWork(PostgresUnitOfWork, ConsentUnitOfWork):
            repositories = {"cases": PostgresConsentCaseRepository, ...}

    Each is built on this unit of work when it opens. A port's repository left unnamed is an
    error when the class is defined, not an ``AttributeError`` in a handler at run time.
    """

    repositories: ClassVar[dict[str, type[PostgresRepository]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = {
            name
            for port in cls.__mro__
            if issubclass(port, UnitOfWork) and port.__module__ != __name__
            for name in inspect.get_annotations(port)
        } - {"repositories"}
        if missing := declared - cls.repositories.keys():
            raise TypeError(f"{cls.__name__} names no repository for {sorted(missing)}")
        if unknown := cls.repositories.keys() - declared:
            raise TypeError(f"{cls.__name__}'s port declares no {sorted(unknown)}")

    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
        sealer: Sealer = NO_SEALER,
    ) -> None:
        super().__init__(context, clock, sealer)
        self.conn = conn
        self.source = source
        self._children: list[PostgresUnitOfWork] = []
        for name, repository in self.repositories.items():
            setattr(self, name, repository(self))

    def caused_by(self, envelope: Envelope[Any]) -> Self:
        """A unit of work on this transaction for one event of a batch: what it publishes
        carries that event's tenant, correlation and causation."""
        child = type(self)(
            self.conn,
            MessageContext.caused_by(envelope, actor=self.context.actor),
            self.source,
            self.clock,
            self.sealer,
        )
        self._children.append(child)
        return child

    def for_tenant(self, tenant: str) -> Self:
        """A unit of work on this transaction for another local authority (a batch or a job
        that spans several)."""
        child = type(self)(
            self.conn,
            MessageContext(tenant, self.context.actor, self.context.correlation_id),
            self.source,
            self.clock,
            self.sealer,
        )
        self._children.append(child)
        return child

    async def _release(self, awaiting: str) -> None:
        await held_events.release(self.conn, awaiting)

    async def flush(self) -> None:
        """Write what happened to the outbox, in this transaction, personal fields sealed."""
        records = [
            OutboxRecord.of(self._envelope(await self.sealer.seal_event(e, self.context.tenant)))
            for e in self.collect_new_events()
        ]
        await add_to_outbox(self.conn, records)
        for child in self._children:
            await child.flush()

    def _envelope(self, event: Event) -> Envelope[Event]:
        return envelope_for(
            event,
            source=self.source,
            tenant=self.context.tenant,
            actor=self.context.actor,
            correlation_id=self.context.correlation_id,
            causation_id=self.context.causation_id,
            time=self.clock(),  # the service's clock: a test at 02:00 publishes 02:00 events
        )


U = TypeVar("U", bound=PostgresUnitOfWork)


class PostgresRepository:
    """A repository bound to its unit of work: its connection and its local authority."""

    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    @property
    def tenant(self) -> str:
        return self.uow.tenant

    def owned(
        self,
        row: asyncpg.Record | None,
        kind: str,
        key: object,
        *,
        field: str,
        message: str | None = None,
    ) -> asyncpg.Record | None:
        """A row looked up by its id alone (ids are unique across local authorities, so the
        lookup is the one it was, by the id's own index): this authority's, or None when there
        is none; another's is refused (``OwnedElsewhere``, which its callers see as missing)."""
        if row is not None and row["tenant"] != self.tenant:
            raise OwnedElsewhere(kind, key, field=field, message=message)
        return row

    async def refuse_anothers(
        self, table: str, column: str, key: object, kind: str, field: str | None = None
    ) -> None:
        """After a write that kept nothing because its id was taken (told before, or an older
        change): refused when the id is another authority's. Only that rare path pays for it."""
        row = await self.conn.fetchrow(f"SELECT tenant FROM {table} WHERE {column} = $1", key)
        self.owned(row, kind, key, field=field or column)

    def kept(
        self, written: object, kind: str, key: object, *, field: str, message: str | None = None
    ) -> None:
        """A write that keeps a record only for the authority that owns its id (an upsert on
        the id alone that changes nothing of another's) wrote nothing: it is another's."""
        if not written:
            raise OwnedElsewhere(kind, key, field=field, message=message)


class UnitOfWorkFactory(Generic[U]):
    """Opens the service's unit of work on its pool (HTTP entrypoints and jobs).

    ``hand_over`` gets the outbox records of each unit of work once it has committed (the
    relay publishes priority records at once).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        source: str,
        hand_over: HandOver | None = None,
        clock: Clock = utc_now,
        unit_of_work: type[U] = PostgresUnitOfWork,  # type: ignore[assignment]
        sealer: Sealer = NO_SEALER,
    ) -> None:
        self.pool = pool
        self.source = source
        self.hand_over = hand_over
        self.clock = clock
        self.unit_of_work = unit_of_work
        self.sealer = sealer

    @asynccontextmanager
    async def __call__(self, context: MessageContext) -> AsyncIterator[U]:
        async with self.pool.acquire() as conn, transaction(conn, self.hand_over):
            uow = self.unit_of_work(conn, context, self.source, self.clock, self.sealer)
            yield uow
            await uow.flush()
