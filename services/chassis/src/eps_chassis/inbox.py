"""The inbox: the ids of the events a consumer has processed, written with their effect.

Claiming an event's id in the transaction of its effect makes a redelivery a duplicate: if the
claim inserts nothing, the event was processed before and is skipped. A routine batch that
steps aside for priority work gives back the claims of what it did not process.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from eps_contracts import Envelope

from eps_chassis.held_events import Hold

Heads = dict[str, tuple[uuid.UUID, Hold]]
"""The first held event of each subject that has one, and why it waits."""

_CLAIM = (
    "INSERT INTO inbox (consumer, event_id, event_type)"
    " SELECT $1, * FROM unnest($2::uuid[], $3::text[])"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


async def claim(
    conn: asyncpg.Connection,
    consumer: str,
    envelopes: list[Envelope[Any]],
    *,
    with_held_heads: bool,
) -> tuple[set[Any], Heads]:
    """Record the event ids; returns those not processed before and, ``with_held_heads``, the
    first held event of each of their subjects that has one (they must wait behind it), in one
    round trip."""
    if not envelopes:
        return set(), {}
    ids, types = [e.id for e in envelopes], [e.type for e in envelopes]
    if not with_held_heads:
        return {r["event_id"] for r in await conn.fetch(_CLAIM, consumer, ids, types)}, {}
    rows = await conn.fetch(
        f"WITH claimed AS ({_CLAIM})"
        " SELECT event_id, NULL::text AS subject, NULL::text AS awaiting, NULL::text AS reason,"
        " NULL::text AS field FROM claimed"
        " UNION ALL SELECT * FROM (SELECT DISTINCT ON (subject) event_id, subject, awaiting,"
        " reason, field FROM held_events WHERE consumer = $1 AND subject = ANY($4::text[])"
        " ORDER BY subject, held_at, kafka_partition, kafka_offset) AS heads",
        consumer,
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


async def unclaim(conn: asyncpg.Connection, consumer: str, event_ids: set[Any]) -> None:
    """Give back claims of events this transaction did not process after all."""
    if event_ids:
        await conn.execute(
            "DELETE FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
            consumer,
            list(event_ids),
        )
