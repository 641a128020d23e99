"""Dead letters: an event a consumer will never apply goes to ``eps.dlq.<service>.v1``, through
the outbox (so it is written with the batch's transaction), as its original bytes and headers
plus why, from where, and when."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiokafka import ConsumerRecord
from eps_contracts import dead_letter_topic

from eps_chassis import metrics
from eps_chassis.logging import get_logger
from eps_chassis.outbox import OutboxRecord, add_to_outbox

log = get_logger()


async def dead_letter(
    conn: asyncpg.Connection,
    record: ConsumerRecord,
    reason: str,
    *,
    service: str,
    consumer_group: str,
) -> None:
    log.warning(
        "dead-lettering record",
        consumer_group=consumer_group,
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
        ("dlq-consumer-group", consumer_group.encode()),
        ("dlq-time", datetime.now(UTC).isoformat().encode()),
    ]
    dead = OutboxRecord(
        topic=dead_letter_topic(service).name,
        key=record.key,
        value=record.value or b"",
        headers=headers,
    )
    await add_to_outbox(conn, [dead])
    metrics.EVENTS_DEAD_LETTERED.labels(service).inc()
