"""Batch handlers: one call per polled batch with every new event of some types, so that a
service can apply them with set-based SQL (billing prices a thousand deliveries in a few
statements).

A batch handler must have the same effects as if called with each event alone, in order. It
refuses one event with :class:`BatchEventRejected` (that event is dead-lettered and the batch
run again without it); a ``DomainError`` or ``EventRejected`` naming no event refuses the first.
It holds one event that names what the service does not know yet with
:class:`BatchEventNotYetKnown` (that event is held, later events of its subject wait behind it,
and the batch is run again without them; released, it is applied by the same handler, alone);
a ``NotYetKnown`` naming no event holds the first.
One that keeps failing for another reason is then run event by event, each in a savepoint, to
find the event at fault, which is dead-lettered; the others are applied again as a batch.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import asyncpg

from eps_chassis.context import MessageContext
from eps_chassis.decoding import BatchHandler, Valid
from eps_chassis.errors import DomainError, EventRejected, NotYetKnown
from eps_chassis.logging import bound_context, get_logger
from eps_chassis.outcomes import Held, Refused, RetryBatch, hold_of
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


class BatchEventNotYetKnown(NotYetKnown):
    """Raised by a batch handler when one event of its batch cannot be applied yet (it is
    held, ``held_events``)."""

    def __init__(
        self, event_id: uuid.UUID, reason: str, *, awaiting: str, field: str | None = None
    ) -> None:
        super().__init__(reason, awaiting=awaiting, field=field)
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
            except (Refused, Held):
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
            raise Refused(_place(members, exc.event_id), f"rejected: {exc}") from exc
        except BatchEventNotYetKnown as exc:
            raise Held(_place(members, exc.event_id), hold_of(exc)) from exc
        except NotYetKnown as exc:  # not naming an event: the first one is held
            raise Held(first_index, hold_of(exc)) from exc
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
            except (Refused, Held):
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise Refused(index, f"handler error: {exc!r}") from exc
        raise RetryBatch("no event of the batch failed alone: retry it whole")


def _place(members: Members, event_id: uuid.UUID) -> int:
    """The place in the poll of the batch's event with this id (the first's, if none)."""
    return next((i for i, m in members if m.envelope.id == event_id), members[0][0])
