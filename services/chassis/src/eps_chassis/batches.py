"""Batch handlers: one call per polled batch with every new event of some types, so that a
service can apply them with set-based SQL (billing prices a thousand deliveries in a few
statements).

A batch handler must have the same effects as if called with each event alone, in order. It
refuses one event with :class:`BatchEventRejected` (that event is dead-lettered and the batch
run again without it); a ``DomainError`` or ``EventRejected`` naming no event refuses the first.
One that keeps failing for another reason is then run event by event, each in a savepoint, to
find the event at fault, which is dead-lettered; the others are applied again as a batch.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import asyncpg

from eps_chassis.context import MessageContext
from eps_chassis.decoding import BatchHandler, Valid
from eps_chassis.errors import DomainError, EventRejected
from eps_chassis.logging import bound_context, get_logger
from eps_chassis.outcomes import Refused, RetryBatch
from eps_chassis.retry import is_transient

if TYPE_CHECKING:
    from eps_chassis.consumer import ConsumerRuntime

log = get_logger()

Members = list[tuple[int, Valid]]  # each event of the batch with its place in the poll


class BatchEventRejected(EventRejected):
    """Raised by a batch handler to refuse one event of its batch (it is dead-lettered)."""

    def __init__(self, event_id: uuid.UUID, reason: str) -> None:
        super().__init__(reason)
        self.event_id = event_id


class BatchRunner:
    """Runs one consumer's batch handlers, remembering failures across retries."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self._failures: dict[uuid.UUID, int] = {}
        self._isolating: set[uuid.UUID] = set()  # batches (by first event) run event by event

    async def handle(
        self,
        conn: asyncpg.Connection,
        handler: BatchHandler,
        members: Members,
        runtime: ConsumerRuntime,
    ) -> None:
        key = members[0][1].envelope.id
        with bound_context(consumer=self.consumer, batch_size=len(members)):
            if key in self._isolating:
                await self._isolate(conn, handler, members, runtime)  # raises Refused
            try:
                await self._run(conn, handler, members, runtime)
            except Refused:
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
                raise RetryBatch(f"batch of {len(members)}: {exc!r}") from exc
            self._failures.pop(key, None)

    async def _run(
        self,
        conn: asyncpg.Connection,
        handler: BatchHandler,
        members: Members,
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
            raise Refused(index, f"rejected: {exc}") from exc
        except EventRejected as exc:  # not naming an event: the first one is refused
            raise Refused(first_index, f"rejected: {exc}") from exc
        except DomainError as exc:  # likewise
            raise Refused(first_index, f"rejected: {exc.describe()}") from exc

    async def _isolate(
        self,
        conn: asyncpg.Connection,
        handler: BatchHandler,
        members: Members,
        runtime: ConsumerRuntime,
    ) -> None:
        """Run the batch event by event, each in a savepoint, and refuse the first that fails."""
        self._isolating.discard(members[0][1].envelope.id)
        for index, item in members:
            try:
                async with conn.transaction():  # a savepoint inside the batch's transaction
                    await self._run(conn, handler, [(index, item)], runtime)
            except Refused:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise Refused(index, f"handler error: {exc!r}") from exc
        raise RetryBatch("no event of the batch failed alone: retry it whole")
