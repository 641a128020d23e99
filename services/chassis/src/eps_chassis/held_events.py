"""Events a consumer cannot apply yet, kept where a person can see and release them.

A handler whose event names something its service does not know yet (a school not yet in the
register, an advice request not yet received) raises :class:`~eps_chassis.errors.NotYetKnown`.
That is not a reason to dead-letter the event (it is valid) nor to stop the partition (every
other event would wait): the consumer keeps it in ``held_events`` with its original bytes, why,
and what it waits for, and goes on. Later events of the same subject are held behind it, so
one aggregate's events are still applied in order.

A held event is applied again, by the consumer's own handler, when
- the data arrives: whatever records it calls ``uow.release(awaiting)`` in its transaction;
- a person asks (``POST /<service>/held-events/{consumer}/{event_id}/retry``), or gives up on it
  (``.../dead-letter``: it goes to the dead-letter topic saying who gave up and why);
- every ``held_retry_all_s`` whatever, in case the data came some other way.
This module is the table; :meth:`EventConsumer.apply_held` does the applying.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from eps_chassis.outbox import headers_json, headers_of


@dataclass(frozen=True, slots=True)
class Hold:
    """Why an event is held: what it waits for, and the event it waits behind, if any."""

    reason: str
    awaiting: str
    field: str | None = None
    behind: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class HeldEvent:
    consumer: str
    event_id: uuid.UUID
    tenant: str
    subject: str
    event_type: str
    record: ConsumerRecord
    hold: Hold
    held_at: datetime
    attempts: int

    @classmethod
    def of(cls, row: asyncpg.Record) -> HeldEvent:
        value: bytes = row["value"]
        key: bytes | None = row["key"]
        record = ConsumerRecord(
            topic=row["topic"],
            partition=row["kafka_partition"],
            offset=row["kafka_offset"],
            timestamp=0,
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key or b""),
            serialized_value_size=len(value),
            headers=list(headers_of(row["headers"])),
        )
        return cls(
            consumer=row["consumer"],
            event_id=row["event_id"],
            tenant=row["tenant"],
            subject=row["subject"],
            event_type=row["event_type"],
            record=record,
            hold=Hold(row["reason"], row["awaiting"], row["field"], row["behind"]),
            held_at=row["held_at"],
            attempts=row["attempts"],
        )


async def hold(
    conn: asyncpg.Connection,
    consumer: str,
    record: ConsumerRecord,
    envelope: Any,
    why: Hold,
) -> None:
    """Keep an event that cannot be applied yet (in the batch's transaction). It starts due
    when what it waits for was released meanwhile (by a transaction that ran beside this one,
    so that neither saw the other's work)."""
    await _lock(conn, why.awaiting)
    await conn.execute(
        "INSERT INTO held_events (consumer, event_id, tenant, subject, event_type, topic,"
        " kafka_partition, kafka_offset, key, value, headers, awaiting, reason, field, behind,"
        " due) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15,"
        " EXISTS (SELECT 1 FROM held_releases WHERE awaiting = $12)) ON CONFLICT DO NOTHING",
        consumer,
        envelope.id,
        envelope.tenant,
        envelope.subject,
        envelope.type,
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value or b"",
        headers_json(record.headers or ()),
        why.awaiting,
        why.reason[:1000],
        why.field,
        why.behind,
    )


async def release(conn: asyncpg.Connection, awaiting: str) -> int:
    """What ``awaiting`` names is now known: its held events are due to be applied again."""
    await _lock(conn, awaiting)
    await conn.execute(
        "INSERT INTO held_releases (awaiting, released_at) VALUES ($1, clock_timestamp())"
        " ON CONFLICT (awaiting) DO UPDATE SET released_at = excluded.released_at",
        awaiting,
    )
    status = await conn.execute(
        "UPDATE held_events SET due = true WHERE awaiting = $1 AND NOT due", awaiting
    )
    return int(status.split()[-1])


async def _lock(conn: asyncpg.Connection, awaiting: str) -> None:
    """Holding and releasing one key wait for each other (until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"held:{awaiting}")


async def mark_due(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, consumer: str, event_id: uuid.UUID
) -> bool:
    """A person asks for one held event (and those behind it) to be tried again now."""
    status = await conn.execute(
        "UPDATE held_events SET due = true WHERE tenant = $1 AND consumer = $2 AND subject ="
        " (SELECT subject FROM held_events WHERE tenant = $1 AND consumer = $2 AND event_id = $3)",
        tenant,
        consumer,
        event_id,
    )
    return int(status.split()[-1]) > 0


async def consumers_with_due(conn: asyncpg.Connection | asyncpg.Pool) -> set[str]:
    rows = await conn.fetch("SELECT DISTINCT consumer FROM held_events WHERE due")
    return {r["consumer"] for r in rows}


async def due_subjects(
    conn: asyncpg.Connection, consumer: str, *, everything: bool, limit: int = 100
) -> list[str]:
    """Subjects with an event due to be applied again (every subject held, ``everything``)."""
    rows = await conn.fetch(
        "SELECT DISTINCT subject FROM held_events WHERE consumer = $1 AND (due OR $2) LIMIT $3",
        consumer,
        everything,
        limit,
    )
    return [r["subject"] for r in rows]


async def chain(conn: asyncpg.Connection, consumer: str, subject: str) -> list[HeldEvent]:
    """A subject's held events in the order they were consumed, locked for the caller."""
    rows = await conn.fetch(
        "SELECT * FROM held_events WHERE consumer = $1 AND subject = $2"
        " ORDER BY held_at, kafka_partition, kafka_offset FOR UPDATE",
        consumer,
        subject,
    )
    return [HeldEvent.of(r) for r in rows]


async def one(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, consumer: str, event_id: uuid.UUID
) -> HeldEvent | None:
    row = await conn.fetchrow(
        "SELECT * FROM held_events WHERE tenant = $1 AND consumer = $2 AND event_id = $3",
        tenant,
        consumer,
        event_id,
    )
    return HeldEvent.of(row) if row is not None else None


async def still_held(conn: asyncpg.Connection, held: HeldEvent, why: Hold) -> None:
    """Tried again and still waiting: say why now, and wait for the next release."""
    await conn.execute(
        "UPDATE held_events SET reason = $3, awaiting = $4, field = $5, behind = $6, due = false,"
        " attempts = attempts + 1, last_tried_at = clock_timestamp()"
        " WHERE consumer = $1 AND event_id = $2",
        held.consumer,
        held.event_id,
        why.reason[:1000],
        why.awaiting,
        why.field,
        why.behind,
    )


async def forget(conn: asyncpg.Connection, held: HeldEvent) -> None:
    await conn.execute(
        "DELETE FROM held_events WHERE consumer = $1 AND event_id = $2",
        held.consumer,
        held.event_id,
    )


# What a person sees of a held event: what it is and why it waits, not its content.
_SHOWN = (
    "SELECT consumer, event_id, event_type, subject, topic, reason, field, awaiting, behind,"
    " held_at, attempts, last_tried_at, due FROM held_events"
)


async def listing(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, limit: int
) -> Sequence[asyncpg.Record]:
    """The LA's held events as a person sees them, oldest first."""
    return await conn.fetch(f"{_SHOWN} WHERE tenant = $1 ORDER BY held_at LIMIT $2", tenant, limit)


async def of_subject(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, consumer: str, subject: str
) -> Sequence[asyncpg.Record]:
    """One subject's held events of one consumer as a person sees them, in the order consumed
    (an upstream request's, by the id its sender gave it)."""
    return await conn.fetch(
        f"{_SHOWN} WHERE tenant = $1 AND consumer = $2 AND subject = $3"
        " ORDER BY held_at, kafka_partition, kafka_offset",
        tenant,
        consumer,
        subject,
    )


async def counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    rows = await conn.fetch("SELECT consumer, count(*) AS n FROM held_events GROUP BY consumer")
    return {r["consumer"]: int(r["n"]) for r in rows}
