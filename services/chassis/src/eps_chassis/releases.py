"""Applying held events again (see ``held_events``), one subject at a time in the order they
were consumed, stopping at one that still waits; and giving up on one, as a person may."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from eps_chassis import held_events, metrics
from eps_chassis.decoding import Invalid, Valid
from eps_chassis.errors import EventRejected, NotYetKnown
from eps_chassis.held_events import HeldEvent, Hold
from eps_chassis.logging import bound_context, get_logger
from eps_chassis.outbox import transaction
from eps_chassis.outcomes import behind, hold_of
from eps_chassis.retry import is_transient

if TYPE_CHECKING:
    from eps_chassis.consumer import ConsumerRuntime, EventConsumer

log = get_logger()


async def apply_held_events(
    consumers: Sequence[EventConsumer], runtime: ConsumerRuntime, *, everything: bool = False
) -> int:
    """Apply the service's due held events (every held event, ``everything``); keep the gauge
    of what is still held up to date. Called by the service's release jobs, one replica at a
    time; returns how many were applied."""
    names = (
        {c.name for c in consumers}
        if everything
        else await held_events.consumers_with_due(runtime.pool)
    )
    applied = 0
    for consumer in consumers:
        if consumer.name in names:
            applied += await _apply_held(consumer, runtime, everything=everything)
    if names:
        held_now = await held_events.counts(runtime.pool)
        for consumer in consumers:
            metrics.EVENTS_HELD.labels(runtime.service, consumer.name).set(
                held_now.get(consumer.name, 0)
            )
    return applied


async def give_up_held(
    consumer: EventConsumer,
    runtime: ConsumerRuntime,
    tenant: str,
    event_id: uuid.UUID,
    reason: str,
) -> bool:
    """A person gives up on a held event: it goes to the dead-letter topic with their reason,
    and the events held behind it are tried again. False when there is none."""
    async with runtime.pool.acquire() as conn, transaction(conn, runtime.hand_over):
        held = await held_events.one(conn, tenant, consumer.name, event_id)
        if held is None:
            return False
        await held_events.forget(conn, held)
        await consumer.dead_letter(conn, held.record, reason)
        await conn.execute(
            "UPDATE held_events SET due = true WHERE consumer = $1 AND subject = $2",
            consumer.name,
            held.subject,
        )
    return True


async def _apply_held(
    consumer: EventConsumer, runtime: ConsumerRuntime, *, everything: bool
) -> int:
    async with runtime.pool.acquire() as conn:
        subjects = await held_events.due_subjects(conn, consumer.name, everything=everything)
    applied = 0
    for subject in subjects:
        if not consumer.priority:
            await runtime.gate.wait_clear()
        async with runtime.pool.acquire() as conn, transaction(conn, runtime.hand_over):
            applied += await _apply_subject(consumer, conn, subject, runtime)
    return applied


async def _apply_subject(
    consumer: EventConsumer, conn: asyncpg.Connection, subject: str, runtime: ConsumerRuntime
) -> int:
    applied = 0
    waiting: tuple[uuid.UUID, Hold] | None = None
    for held in await held_events.chain(conn, consumer.name, subject):
        if waiting is not None:
            await held_events.still_held(conn, held, behind(*waiting))
            continue
        outcome = await _apply_one(consumer, conn, held, runtime)
        if isinstance(outcome, Hold):
            waiting = (held.event_id, outcome)
            await held_events.still_held(conn, held, outcome)
            continue
        await held_events.forget(conn, held)
        if outcome is None:
            applied += 1
            metrics.EVENTS_CONSUMED.labels(runtime.service, held.event_type).inc()
        else:
            await consumer.dead_letter(conn, held.record, outcome)
    return applied


async def _apply_one(
    consumer: EventConsumer, conn: asyncpg.Connection, held: HeldEvent, runtime: ConsumerRuntime
) -> Hold | str | None:
    """Run a held event's handler in a savepoint: None when applied, a Hold when it still
    waits, else the reason to dead-letter it. A handler error keeps it held and visible."""
    item = consumer.decode(held.record)
    if not isinstance(item, Valid) or (item.handler is None and item.batch_handler is None):
        return "held event no longer handled here: " + (
            item.reason if isinstance(item, Invalid) else f"type {held.event_type}"
        )
    with bound_context(event_id=str(held.event_id), event_type=held.event_type):
        try:
            async with conn.transaction():  # a savepoint: a failed handler leaves nothing
                await consumer.run_handler(conn, item)
        except NotYetKnown as exc:
            return hold_of(exc)
        except EventRejected as exc:
            return f"rejected: {exc}"
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("held event's handler failed; it stays held", error=repr(exc))
            return Hold(f"handler error: {exc!r}", held.hold.awaiting, held.hold.field)
    return None
