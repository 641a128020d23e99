"""Purging the upstream topics once their records are processed: a local authority's own
systems publish requests on ``eps.upstream.*`` in plain (a child's name, date of birth, UPN; a
reporter's name), because they cannot all seal. The service that owns such a topic takes in
what it needs (its own tables, events sealed per child); once its consumer group has committed
past a record, the record is deleted from the log (Kafka DeleteRecords up to the committed
offset), so that no plain copy of a child's data stays on the log beyond its processing, in any
backup of it taken later. A record waiting (held) was committed too: it is kept in the
service's ``held_events`` until applied.

A record is deleted once every consumer group reading its topic has committed past it (the owner's
and, say, the privacy service's). A job per service consuming an upstream topic
(``purge-upstream``, every ``EPS_UPSTREAM_PURGE_INTERVAL_S``)."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

log = get_logger()

UPSTREAM = "eps.upstream."
PURGE_UPSTREAM = "purge-upstream"


def upstream_consumers(consumers: list[EventConsumer]) -> list[EventConsumer]:
    return [c for c in consumers if any(t.name.startswith(UPSTREAM) for t in c.topics)]


async def purge_processed(
    bootstrap_servers: str, consumers: list[EventConsumer], runtime: ConsumerRuntime
) -> dict[TopicPartition, int]:
    """Delete every record of the upstream topics ``consumers`` read that every consumer group
    reading them has committed past (another service may read one too: the privacy service
    learns dates of birth from statutory's requests); the new start offset of each partition
    purged."""
    topics = {
        runtime.topic_prefix + t.name
        for c in upstream_consumers(consumers)
        for t in c.topics
        if t.name.startswith(UPSTREAM)
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        committed: dict[TopicPartition, int] = {}
        for group, *_ in await admin.list_consumer_groups():
            if not group.startswith(runtime.topic_prefix):
                continue  # another environment's (or test's) group
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                if tp.topic in topics and meta.offset >= 0:
                    committed[tp] = min(committed.get(tp, meta.offset), meta.offset)
        deletions = {
            tp: RecordsToDelete(before_offset=offset)
            for tp, offset in committed.items()
            if offset > 0
        }
        if not deletions:
            return {}
        purged = await admin.delete_records(deletions, timeout_ms=10_000)
        log.info("upstream records purged once processed", partitions=len(purged))
        return purged
    finally:
        await admin.close()


def purge_job(
    bootstrap_servers: str,
    consumers: list[EventConsumer],
    runtime: ConsumerRuntime,
    interval_s: float,
) -> PeriodicJob:
    async def run(_: JobContext) -> None:
        await purge_processed(bootstrap_servers, consumers, runtime)

    return PeriodicJob(PURGE_UPSTREAM, interval_s, run)
