"""Dead letters: an event a consumer will never apply goes to ``eps.dlq.<service>.v1``, through
the outbox (so it is written with the batch's transaction), as its original bytes and headers
plus why, from where, and when.

The original bytes may hold a child's personal data in plain (an upstream request refused), so
they are **sealed**: AES-256-GCM under the service's dead-letter key of the day (UTC), which the
keys service destroys once the dead letters' retention has passed
(``EPS_KEYS_DEAD_LETTER_RETENTION_DAYS``). The value is then the JSON of
:class:`SealedDeadLetter` and the header ``dlq-sealed`` names the key; the reason, the headers
and where it came from stay readable. :func:`open_dead_letter` gives the original bytes back
(None once the key is gone)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import asyncpg
from aiokafka import ConsumerRecord
from eps_contracts import ContractModel, dead_letter_topic
from pydantic import Field

from eps_chassis import metrics
from eps_chassis.data_keys import DataKeys, KeyShredded
from eps_chassis.logging import get_logger
from eps_chassis.outbox import OutboxRecord, add_to_outbox
from eps_chassis.sealing import NO_SEALER, Sealer, open_bytes, seal_bytes

log = get_logger()


async def dead_letter(
    conn: asyncpg.Connection,
    record: ConsumerRecord,
    reason: str,
    *,
    service: str,
    consumer_group: str,
    sealer: Sealer = NO_SEALER,
) -> None:
    log.warning(
        "dead-lettering record",
        consumer_group=consumer_group,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason,
    )
    now = datetime.now(UTC)
    day = now.date().isoformat()
    key_name = f"dead-letters/{service}/{day}"
    key = await sealer.keys.dead_letter_key(service, day)
    where = (record.topic, record.partition, record.offset)
    nonce, ciphertext = seal_bytes(key, record.value or b"", _associated(key_name, *where))
    sealed = SealedDeadLetter(
        key=key_name,
        alg="A256GCM",
        nonce=base64.b64encode(nonce).decode(),
        ciphertext=base64.b64encode(ciphertext).decode(),
    )
    headers = [
        *(record.headers or ()),
        ("dlq-sealed", key_name.encode()),
        ("dlq-reason", reason.encode()),
        ("dlq-original-topic", record.topic.encode()),
        ("dlq-original-partition", str(record.partition).encode()),
        ("dlq-original-offset", str(record.offset).encode()),
        ("dlq-consumer-group", consumer_group.encode()),
        ("dlq-time", now.isoformat().encode()),
    ]
    dead = OutboxRecord(
        topic=dead_letter_topic(service).name,
        key=record.key,
        value=sealed.model_dump_json().encode(),
        headers=headers,
    )
    await add_to_outbox(conn, [dead])
    metrics.EVENTS_DEAD_LETTERED.labels(service).inc()


class SealedDeadLetter(ContractModel):
    """The value of a dead letter: the original record's value, sealed under the service's
    dead-letter key of the day (``key``), bound to where the record was read from."""

    key: str = Field(description="dead-letters/<service>/<UTC day>: the key that sealed it.")
    alg: Literal["A256GCM"]
    nonce: str = Field(description="The 12-byte nonce, base64.")
    ciphertext: str = Field(description="The original value's ciphertext and tag, base64.")


def _associated(key_name: str, topic: str, partition: int, offset: int) -> bytes:
    return f"eps-dead-letter/1|{key_name}|{topic}|{partition}|{offset}".encode()


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str:
    return next(value for key, value in headers if key == name).decode()


async def open_dead_letter(
    value: bytes, headers: Sequence[tuple[str, bytes]], keys: DataKeys
) -> bytes | None:
    """The original bytes of a dead letter (its value and headers as read from the dead-letter
    topic), or None once its key has been destroyed by the retention rule."""
    sealed = SealedDeadLetter.model_validate_json(value)
    _, service, day = sealed.key.split("/")
    try:
        key = await keys.dead_letter_key(service, day)
    except KeyShredded:
        return None
    where = (
        _header(headers, "dlq-original-topic"),
        int(_header(headers, "dlq-original-partition")),
        int(_header(headers, "dlq-original-offset")),
    )
    return open_bytes(
        key,
        base64.b64decode(sealed.nonce),
        base64.b64decode(sealed.ciphertext),
        _associated(sealed.key, *where),
    )
