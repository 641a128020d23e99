"""Transactional outbox, the write side: events go into the ``outbox`` table inside the
transaction that makes the state change, so an event exists if and only if the change
committed. The relay (``relay``) publishes them; a transaction that wrote priority records hands
them to the relay once it has committed (``transaction``, and ``handover``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from eps_contracts import CONTENT_TYPE, Envelope

from eps_chassis.logging import get_logger

log = get_logger()

Headers = Sequence[tuple[str, bytes]]
_T = TypeVar("_T")


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


def headers_json(headers: Headers) -> str:
    """Kafka headers as stored in a jsonb column (values hex-encoded: they are bytes); also
    used by held events."""
    return json.dumps([[k, v.hex()] for k, v in headers])


def headers_of(stored: str) -> Headers:
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
        [headers_json(r.headers) for r in records],
    )
    tx = _current.get()
    if tx is not None and tx.conn is conn:
        tx.txid = int(rows[0]["txid"])
        # ids come from the sequence in the order unnest yields the records
        tx.written.extend(zip(sorted(r["id"] for r in rows), records, strict=True))
