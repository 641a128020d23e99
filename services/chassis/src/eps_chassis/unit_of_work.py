"""Unit of work: one database transaction that holds a state change and the events it causes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from eps_contracts import Envelope, Event, envelope_for

from eps_chassis import held_events
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.outbox import HandOver, OutboxRecord, add_to_outbox, transaction


class UnitOfWork:
    """Handed to service-layer handlers. ``conn`` is inside an open transaction.

    ``publish`` only queues the event; it is written to the outbox by ``flush`` inside the same
    transaction, so the event exists if and only if the state change committed. ``clock`` is the
    service's (injectable) clock.
    """

    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
    ) -> None:
        self.conn = conn
        self.context = context
        self.source = source
        self.clock = clock
        self._pending: list[OutboxRecord] = []
        self.released: set[str] = set()  # what this unit of work made known (``release``)

    @property
    def tenant(self) -> str:
        return self.context.tenant

    def publish(self, event: Event) -> Envelope[Event]:
        envelope = envelope_for(
            event,
            source=self.source,
            tenant=self.context.tenant,
            actor=self.context.actor,
            correlation_id=self.context.correlation_id,
            causation_id=self.context.causation_id,
            time=self.clock(),  # the service's clock: a test at 02:00 publishes 02:00 events
        )
        self._pending.append(OutboxRecord.of(envelope))
        return envelope

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        await add_to_outbox(self.conn, pending)

    async def release(self, awaiting: str) -> None:
        """What ``awaiting`` names (see ``errors.reference``) is known from this transaction
        on: the events held for it are applied again once it commits (``held_events``)."""
        self.released.add(awaiting)
        await held_events.release(self.conn, awaiting)


class UnitOfWorkFactory:
    """Opens a unit of work on the service's pool (used by HTTP entrypoints and jobs).

    ``hand_over`` gets the outbox records of each unit of work once it has committed (the
    relay publishes priority records at once).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        source: str,
        hand_over: HandOver | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.pool = pool
        self.source = source
        self.hand_over = hand_over
        self.clock = clock

    @asynccontextmanager
    async def __call__(self, context: MessageContext) -> AsyncIterator[UnitOfWork]:
        async with self.pool.acquire() as conn, transaction(conn, self.hand_over):
            uow = UnitOfWork(conn, context, self.source, self.clock)
            yield uow
            await uow.flush()
