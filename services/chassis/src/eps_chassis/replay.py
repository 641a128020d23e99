"""Replay: rebuild a service's state from the log into an empty schema.

``python -m eps_chassis.replay <service> --schema <empty schema>`` (``make replay``) reads every
topic the service consumes from its first retained record up to the end it has when the replay
starts, and applies each batch with the service's own consumers, exactly as they run live (inbox,
handlers, held events, dead letters), into a schema of its own. Nothing is published: the relay
does not run, and the rebuilt outbox is marked published (the live service published the same
events when it applied the log); the schema is a copy to compare, or to switch the service over
to with ``EPS_DB_SCHEMA``. The service's periodic jobs (billing's closing of periods among them)
wait for the service to run on it.

The replay has no consumer group: it reads partitions by assignment and commits no offsets, so
it never disturbs the live consumers. The service's consumers read concurrently, as they do
live, each with its own progress bar.

What people entered over HTTP (billing's tariffs and the SLAs schools bought, say) never passed
through the log the service consumes: restore those tables from a backup into the schema first
and replay with ``--prepared``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from eps_chassis import db
from eps_chassis.collector import settle_long_lived
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.decoding import Decoded
from eps_chassis.key_client import sealer_for
from eps_chassis.logging import configure_logging
from eps_chassis.releases import apply_held_events
from eps_chassis.sealing import Sealer
from eps_chassis.service import Service, ServiceDefinition
from eps_chassis.settings import ServiceSettings
from eps_chassis.tasks import cancel_and_wait

Progress = Callable[[str, int], None]  # (consumer, records just applied)

# Records polled and applied as a batch when replaying: as many as the largest batch a live
# consumer declares (billing's delivered time, six thousand, priced in two shards side by side),
# so no consumer replays in smaller batches than it applies a backlog live.
REPLAY_BATCH_SIZE = 6000


@dataclass
class Replayed:
    """What a replay applied and when: its rate is timed from the first batch applied to the
    last, as the live consumer's is in the benchmarks (connecting is not counted)."""

    records: int = 0
    seconds: float = 0.0  # the whole replay, connecting and migrating included
    first_batch: int = 0
    first_applied_at: float | None = None
    last_applied_at: float | None = None

    def applied(self, count: int) -> None:
        now = time.perf_counter()
        if self.first_applied_at is None:
            self.first_applied_at, self.first_batch = now, count
        self.last_applied_at = now
        self.records += count

    @property
    def rate(self) -> float:
        if self.first_applied_at is None or self.last_applied_at is None:
            return 0.0
        elapsed = self.last_applied_at - self.first_applied_at
        return (self.records - self.first_batch) / elapsed if elapsed > 0 else 0.0


class SchemaNotEmpty(Exception):
    """A replay writes only into a schema that holds no table yet."""


def installed_service(name: str) -> Service[Any]:
    """The installed service of that name (entry point group ``eps.services``)."""
    for found in entry_points(group="eps.services"):
        service = found.load()
        if service.definition().name == name:
            return service
    known = sorted(ep.load().definition().name for ep in entry_points(group="eps.services"))
    raise LookupError(f"no service named {name!r}; installed: {', '.join(known)}")


async def record_counts(
    definition: ServiceDefinition, settings: ServiceSettings
) -> dict[str, tuple[dict[TopicPartition, int], dict[TopicPartition, int]]]:
    """Per consumer, the first retained offset and the end offset of each partition it reads."""
    counts = {}
    for consumer in definition.consumers:
        reader = _reader(settings)
        await reader.start()
        try:
            partitions = await _partitions(settings, consumer)
            counts[consumer.name] = (
                await reader.beginning_offsets(partitions),
                await reader.end_offsets(partitions),
            )
        finally:
            await reader.stop()
    return counts


async def replay(
    definition: ServiceDefinition,
    settings: ServiceSettings,
    schema: str,
    progress: Progress | None = None,
    *,
    prepared: bool = False,
    sealer: Sealer | None = None,
) -> Replayed:
    """Apply every retained event the service consumes into ``schema``, which must be empty
    unless ``prepared``: migrated, holding only what was restored first of the service's state
    that never passed through the log (what people entered over HTTP, such as billing's tariffs
    and the SLAs schools bought). Sealed personal fields open with the keys service's keys as
    live (``sealer``: by default the settings' keys service); an erased child's do not, and the
    events apply for everything else."""
    db.check_schema_name(schema)
    if not prepared and await _has_tables(settings.database_url, schema):
        raise SchemaNotEmpty(f"schema {schema!r} already holds tables: replay into an empty one")
    await db.migrate(settings.database_url, schema, [db.CHASSIS_MIGRATIONS, definition.migrations])
    pool = await db.create_pool(
        settings.database_url, schema, settings.db_pool_min, settings.db_pool_max
    )
    runtime = definition.consumer_runtime(
        settings,
        pool,
        clock=settings.clock(),
        sealer=sealer or sealer_for(settings, definition.name),
    )
    settle_long_lived()  # as a service does once started
    done = Replayed()
    started = time.perf_counter()
    try:
        await asyncio.gather(
            *(
                _replay_consumer(consumer, runtime, settings, done, progress)
                for consumer in definition.consumers
            )
        )
        # What waited for data that arrived later in the log is applied now, as the live
        # release job would.
        await apply_held_events(list(definition.consumers), runtime, everything=True)
        # The live service published these when it applied the same events: a service switched
        # over to the rebuilt schema must not send them a second time.
        await pool.execute("UPDATE outbox SET published_at = clock_timestamp()")
    finally:
        await pool.close()
    done.seconds = time.perf_counter() - started
    return done


async def _replay_consumer(
    consumer: EventConsumer,
    runtime: ConsumerRuntime,
    settings: ServiceSettings,
    done: Replayed,
    progress: Progress | None,
) -> None:
    consumer.bind(runtime)
    reader = _reader(settings, max_poll_records=REPLAY_BATCH_SIZE)
    await reader.start()
    applying: asyncio.Task[None] | None = None
    try:
        partitions = await _partitions(settings, consumer)
        if not partitions:  # its topics do not exist yet: nothing was ever published to them
            return
        ends = await reader.end_offsets(partitions)
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        remaining = {p for p in partitions if await reader.position(p) < ends[p]}

        async def apply(items: list[Decoded]) -> None:
            while not await consumer.apply(items):
                await asyncio.sleep(runtime.backoff_initial_s)  # a transient failure
            done.applied(len(items))
            if progress is not None:
                progress(consumer.name, len(items))

        while remaining:
            polled = await reader.getmany(*remaining, timeout_ms=1000)
            # one batch of every partition's records, as the live subscriber applies them
            records = [
                record
                for partition, fetched in polled.items()
                for record in fetched
                if record.offset < ends[partition]
            ]
            if records:
                items = await consumer.decode_batch(records)  # while the batch before is applied
                if applying is not None:
                    await applying
                applying = asyncio.create_task(apply(items))  # one at a time, in order
            for partition in list(remaining):
                if await reader.position(partition) >= ends[partition]:
                    remaining.discard(partition)
        if applying is not None:
            await applying
    finally:
        if applying is not None:
            await cancel_and_wait([applying])
        await reader.stop()


def _reader(settings: ServiceSettings, max_poll_records: int = 1000) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
    )


async def _partitions(settings: ServiceSettings, consumer: EventConsumer) -> list[TopicPartition]:
    """The partitions of the consumer's topics (none of a topic that does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(
            [settings.topic_prefix + t.name for t in consumer.topics]
        )
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        if topic["error_code"] == 0
        for p in sorted(topic["partitions"], key=lambda p: p["partition"])
    ]


async def _has_tables(dsn: str, schema: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await conn.close()
    return bool(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eps_chassis.replay",
        description="Rebuild a service's state from the log into an empty schema.",
    )
    parser.add_argument("service", help="the service's name, e.g. billing")
    parser.add_argument("--schema", required=True, help="an empty schema to rebuild into")
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="the schema is not empty: it holds the state entered over HTTP, restored from a"
        " backup, and the log is applied on top",
    )
    args = parser.parse_args(argv)
    try:
        service = installed_service(args.service)
    except LookupError as exc:
        print(f"replay: {exc.args[0]}", file=sys.stderr)
        return 2
    settings = service.settings()
    definition = service.define(settings)
    configure_logging(f"{definition.name}-replay", "WARNING")
    return asyncio.run(_main(definition, settings, args.schema, args.prepared))


async def _main(
    definition: ServiceDefinition, settings: ServiceSettings, schema: str, prepared: bool
) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    counts = await record_counts(definition, settings)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as bars:
        tasks = {
            name: bars.add_task(
                f"{definition.name}.{name}", total=sum(ends[p] - first[p] for p in ends)
            )
            for name, (first, ends) in counts.items()
        }
        try:
            done = await replay(
                definition,
                settings,
                schema,
                progress=lambda name, n: bars.advance(tasks[name], n),
                prepared=prepared,
            )
        except SchemaNotEmpty as exc:
            print(f"replay: {exc}", file=sys.stderr)
            return 2
    print(
        f"{definition.name}: {done.records:,} events replayed into schema {schema!r} in"
        f" {done.seconds:.1f} s ({done.rate:,.0f} ev/s once connected)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
