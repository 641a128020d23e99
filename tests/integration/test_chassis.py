"""Chassis mechanics on the real broker and database: outbox order, retry backoff, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from eps_chassis import db
from eps_chassis.clock import utc_now
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.errors import TransientError
from eps_chassis.outbox import OutboxRecord, Written, add_to_outbox, transaction
from eps_chassis.relay import OutboxRelay
from eps_chassis.sealing import Sealer
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts import Envelope, envelope_for, topics
from eps_contracts.incidents import FAST_TRACK_REQUESTS, FastTrackAllocationRequested
from eps_contracts.referrals import ReferralRequested
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from tests.support.builders import referrals as builders
from tests.support.clock import suite_now
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, publish_raw, read_topic, wait_until
from tests.support.services import Namespace

pytestmark = pytest.mark.integration


async def migrated_schema(infra: Infra, ns: Namespace, tmp_path: Path) -> str:
    schema = ns.schema("chassis")
    (tmp_path / "0001_effects.sql").write_text("CREATE TABLE effects (event_id uuid PRIMARY KEY)")
    await db.migrate(infra.database_url, schema, [db.CHASSIS_MIGRATIONS, tmp_path])
    return schema


async def test_the_relay_publishes_each_keys_events_in_commit_order(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    expected: dict[bytes, list[bytes]] = defaultdict(list)

    async def write(key: bytes, n: int) -> None:
        # separate, concurrent transactions, as the services make them
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key.decode())
            value = f"{key.decode()}-{n}".encode()
            await add_to_outbox(conn, [OutboxRecord(topics.REFERRALS.name, key, value)])
            expected[key].append(value)

    relay = _relay(
        infra,
        ns,
        schema,
        poll_interval_s=0.1,
        batch_size=7,  # many small batches interleaved with the writers
    )
    await relay.start()
    try:
        keys = [f"k{i}".encode() for i in range(5)]
        for n in range(40):
            await asyncio.gather(*(write(k, n) for k in keys))
        await wait_until(
            lambda: _published(pool, 200), timeout_s=60, what="all 200 records published"
        )
    finally:
        await relay.stop()
        await pool.close()
    records = await read_topic(infra.kafka_bootstrap, ns.topic(topics.REFERRALS.name))
    seen: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        seen[record.key].append(record.value)
    assert seen == expected


def _relay(infra: Infra, ns: Namespace, schema: str, **settings: Any) -> OutboxRelay:
    return OutboxRelay(
        service="chassis-test",
        schema=schema,
        dsn=infra.database_url,
        bootstrap_servers=infra.kafka_bootstrap,
        topic_prefix=ns.topic_prefix,
        **settings,
    )


async def _published(pool: asyncpg.Pool, n: int) -> bool:
    return bool(
        await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == n
    )


async def test_priority_records_overtake_a_routine_backlog_and_each_topic_keeps_its_order(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    routine, urgent = topics.REFERRALS.name, FAST_TRACK_REQUESTS.name
    async with pool.acquire() as conn:
        await add_to_outbox(
            conn, [OutboxRecord(routine, b"k", str(n).encode()) for n in range(20_000)]
        )
        await add_to_outbox(
            conn, [OutboxRecord(urgent, b"incident", str(n).encode()) for n in range(3)]
        )
    relay = _relay(
        infra,
        ns,
        schema,
        poll_interval_s=0.1,
        batch_size=500,
        priority_topics=[urgent],
    )
    await relay.start()
    try:
        await wait_until(
            lambda: _published(pool, 20_003), timeout_s=90, what="all records published"
        )
        routine_after = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1 AND published_at >"
            " (SELECT max(published_at) FROM outbox WHERE topic = $2)",
            routine,
            urgent,
        )
    finally:
        await relay.stop()
        await pool.close()
    # written last, published while most of the routine backlog was still waiting
    assert routine_after > 10_000
    for topic, expected in ((routine, 20_000), (urgent, 3)):
        records = await read_topic(infra.kafka_bootstrap, ns.topic(topic))
        assert [int(r.value) for r in sorted(records, key=lambda r: r.offset)] == list(
            range(expected)
        )


@contextlib.asynccontextmanager
async def _priority_lane(
    infra: Infra, ns: Namespace, tmp_path: Path, poll_interval_s: float
) -> AsyncIterator[tuple[asyncpg.Pool, OutboxRelay]]:
    """A pool and a relay that leads the priority lane of a fresh schema."""
    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    relay = _relay(
        infra,
        ns,
        schema,
        poll_interval_s=poll_interval_s,
        priority_topics=[FAST_TRACK_REQUESTS.name],
    )
    await relay.start()
    try:

        async def leading() -> bool:
            return relay.leads_priority

        await wait_until(leading, what="the relay leads the priority lane")
        yield pool, relay
    finally:
        await relay.stop()
        await pool.close()


async def test_priority_records_handed_over_on_commit_are_published_once_in_order(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    urgent = FAST_TRACK_REQUESTS.name
    # no periodic read within the test
    async with _priority_lane(infra, ns, tmp_path, poll_interval_s=60) as (pool, relay):
        for n in range(30):
            async with pool.acquire() as conn, transaction(conn, relay.hand_over):
                await add_to_outbox(conn, [OutboxRecord(urgent, b"incident", str(n).encode())])
        await wait_until(lambda: _published(pool, 30), what="all 30 records published")
    # each commit's notification races its hand-over; most are published without a read, and
    # none twice
    assert relay.published_handed_over > 15
    records = await read_topic(infra.kafka_bootstrap, ns.topic(urgent))
    assert [int(r.value) for r in sorted(records, key=lambda r: r.offset)] == list(range(30))


async def test_priority_records_not_handed_over_are_still_published(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    urgent = FAST_TRACK_REQUESTS.name

    def lost(_txid: int, _written: Written) -> None:
        """A hand-over that never reaches the relay (another replica, a crash)."""

    async with _priority_lane(infra, ns, tmp_path, poll_interval_s=0.5) as (pool, relay):

        def only_the_transaction(txid: int, _written: Written) -> None:
            relay.hand_over(txid, [])  # its notification is matched, its records are lost

        for n, hand_over in enumerate((lost, None, only_the_transaction)):
            async with pool.acquire() as conn, transaction(conn, hand_over):
                await add_to_outbox(conn, [OutboxRecord(urgent, b"incident", str(n).encode())])
        # the first two by their notification, the last by the lane's periodic read
        await wait_until(lambda: _published(pool, 3), timeout_s=10, what="all 3 published")
    assert relay.published_handed_over == 0
    records = await read_topic(infra.kafka_bootstrap, ns.topic(urgent))
    assert sorted(int(r.value) for r in records) == [0, 1, 2]


async def test_a_hand_over_is_published_only_after_commit_and_not_at_all_after_rollback(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    handed: list[Written] = []
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with transaction(conn, lambda _txid, written: handed.append(written)):
                await add_to_outbox(conn, [OutboxRecord(FAST_TRACK_REQUESTS.name, b"k", b"v")])
                raise RuntimeError("the state change fails")
        assert handed == []
        async with transaction(conn, lambda _txid, written: handed.append(written)):
            await add_to_outbox(conn, [OutboxRecord(FAST_TRACK_REQUESTS.name, b"k", b"v")])
            assert handed == []  # not before the commit
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM outbox ORDER BY id")]
    await pool.close()
    assert [[i for i, _ in w] for w in handed] == [ids]


async def test_a_transient_failure_backs_off_and_never_commits_past_the_event(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    consumer = EventConsumer(name="flaky", topics=[topics.UPSTREAM_REFERRAL_REQUESTS])
    attempts: list[float] = []
    healthy_after = time.monotonic() + 3.0

    @consumer.on(ReferralRequested)
    async def flaky(event: Envelope[ReferralRequested], uow: PostgresUnitOfWork) -> None:
        attempts.append(time.monotonic())
        if time.monotonic() < healthy_after:
            raise TransientError("database is down")
        await uow.conn.execute("INSERT INTO effects VALUES ($1)", event.id)

    broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    consumer.subscribe(
        broker,
        ConsumerRuntime(
            pool=pool,
            service="chassis",
            source="/test",
            topic_prefix=ns.topic_prefix,
            sealer=Sealer(ns.data_keys),
            backoff_initial_s=0.05,
            backoff_max_s=1.0,
        ),
    )
    topic = ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name)
    envelope = builders.upstream_envelope()
    await publish_raw(infra.kafka_bootstrap, topic, [envelope.model_dump_json().encode()])
    group = ns.group("chassis", "flaky")
    cpu_before = time.process_time()
    await broker.start()
    try:
        await wait_until(lambda: _after(healthy_after - 0.5), timeout_s=10, what="failures")
        assert await consumer_lag(infra.kafka_bootstrap, group, topic) == 1  # not committed
        await wait_until(
            lambda: _count(pool, "SELECT count(*) FROM effects", 1), timeout_s=30, what="effect"
        )
        await wait_until(
            lambda: _lag_zero(infra, group, topic), timeout_s=30, what="offset committed"
        )
    finally:
        await broker.stop()
        await pool.close()
    failed = [a for a in attempts if a < healthy_after]
    assert 3 <= len(failed) <= 15, f"{len(failed)} attempts in 3 s: backoff not applied"
    gaps = [b - a for a, b in itertools.pairwise(failed)]
    assert max(gaps) >= 0.4  # delays grow towards the 1 s cap
    assert time.process_time() - cpu_before < 2.5  # no spinning


async def test_routine_batches_step_aside_for_priority_work_and_still_apply_once(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    async with pool.acquire() as conn:
        await conn.execute(
            "ALTER TABLE effects ADD COLUMN kind text, ADD COLUMN at timestamptz"
            " DEFAULT clock_timestamp()"
        )
        # a row both kinds of work lock, as a routine booking and the fast track lock an EP
        await conn.execute("CREATE TABLE diary (id int PRIMARY KEY, changes int NOT NULL)")
        await conn.execute("INSERT INTO diary VALUES (1, 0)")
    routine = EventConsumer(name="routine", topics=[topics.UPSTREAM_REFERRAL_REQUESTS])
    urgent = EventConsumer(name="urgent", topics=[FAST_TRACK_REQUESTS])
    routine_started = asyncio.Event()

    @routine.on(ReferralRequested)
    async def slow(event: Envelope[ReferralRequested], uow: PostgresUnitOfWork) -> None:
        routine_started.set()
        await uow.conn.execute("UPDATE diary SET changes = changes + 1 WHERE id = 1")
        await uow.conn.execute("INSERT INTO effects (event_id, kind) VALUES ($1, 'r')", event.id)
        await asyncio.sleep(0.02)  # a routine booking's work, with its row locks held

    @urgent.on(FastTrackAllocationRequested)
    async def fast(event: Envelope[FastTrackAllocationRequested], uow: PostgresUnitOfWork) -> None:
        await uow.conn.execute("UPDATE diary SET changes = changes + 1 WHERE id = 1")
        await uow.conn.execute("INSERT INTO effects (event_id, kind) VALUES ($1, 'u')", event.id)

    broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    runtime = ConsumerRuntime(
        pool=pool,
        service="chassis",
        source="/test",
        topic_prefix=ns.topic_prefix,
        sealer=Sealer(ns.data_keys),
    )
    urgent.subscribe(broker, runtime)
    routine_broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    routine.subscribe(routine_broker, runtime)  # one process: one gate
    total = 150
    routine_topic = ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name)
    urgent_topic = ns.topic(FAST_TRACK_REQUESTS.name)

    def urgent_request() -> bytes:
        request = FastTrackAllocationRequested(
            incident_id=uuid.uuid4(),
            school_urn=builders.SCHOOL,
            level=2,
            eps_needed=2,
            needed_by=suite_now() + timedelta(hours=1),
            duration_minutes=60,
            senior_lead_required=False,
        )
        envelope = envelope_for(
            request, source="/test", tenant=builders.TENANT, actor="service:incidents"
        )
        return envelope.model_dump_json().encode()

    await publish_raw(infra.kafka_bootstrap, urgent_topic, [urgent_request()])
    await broker.start()
    try:  # the urgent consumer is up (its first event applied) before the routine work comes
        await wait_until(
            lambda: _count(pool, "SELECT count(*) FROM effects", 1), timeout_s=60, what="warm-up"
        )
        preempted = _preempted()
        envelopes = [builders.upstream_envelope() for _ in range(total)]
        await publish_raw(
            infra.kafka_bootstrap,
            routine_topic,
            [e.model_dump_json().encode() for e in envelopes],
            key=b"one-partition",
        )
        await routine_broker.start()  # all 150 are there: its first poll takes them as one batch
        await asyncio.wait_for(routine_started.wait(), 60)
        await asyncio.sleep(0.2)  # inside a routine batch (150 x 20 ms when polled whole)
        await publish_raw(infra.kafka_bootstrap, urgent_topic, [urgent_request()])
        await wait_until(
            lambda: _count(pool, "SELECT count(*) FROM effects", total + 2),
            timeout_s=60,
            what="every effect",
        )
        group = ns.group("chassis", "routine")
        await wait_until(
            lambda: _lag_zero(infra, group, routine_topic), timeout_s=30, what="offsets"
        )
        routine_after_urgent = await pool.fetchval(
            "SELECT count(*) FROM effects WHERE kind = 'r'"
            " AND at > (SELECT max(at) FROM effects WHERE kind = 'u')"
        )
        changes = await pool.fetchval("SELECT changes FROM diary WHERE id = 1")
    finally:
        await routine_broker.stop()
        await broker.stop()
        await pool.close()
    # the urgent event did not wait for the routine batch holding the row it needed
    assert _preempted() > preempted
    assert routine_after_urgent > 0
    assert changes == total + 2
    # every routine event applied once (effects' primary key would refuse a second)


def _preempted() -> float:
    sample = REGISTRY.get_sample_value("eps_batches_preempted_total", {"service": "chassis"})
    return sample or 0.0


async def _after(moment: float) -> bool:
    return time.monotonic() > moment


async def _count(pool: asyncpg.Pool, sql: str, n: int) -> bool:
    return bool(await pool.fetchval(sql) == n)


async def _lag_zero(infra: Infra, group: str, topic: str) -> bool:
    return await consumer_lag(infra.kafka_bootstrap, group, topic) == 0


async def test_migrations_apply_once_and_refuse_an_edited_file(
    infra: Infra, tmp_path: Path
) -> None:
    schema = f"migr_{uuid.uuid4().hex[:8]}"
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (id int)")
    assert await db.migrate(infra.database_url, schema, [tmp_path]) == [
        f"{tmp_path.name}/0001_a.sql"
    ]
    (tmp_path / "0002_b.sql").write_text("CREATE TABLE b (id int)")
    results = await asyncio.gather(
        db.migrate(infra.database_url, schema, [tmp_path]),
        db.migrate(infra.database_url, schema, [tmp_path]),  # a second replica starting too
    )
    assert sorted(map(len, results)) == [0, 1]
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (id bigint)")
    with pytest.raises(RuntimeError, match="edited after it was applied"):
        await db.migrate(infra.database_url, schema, [tmp_path])


async def test_housekeeping_prunes_only_old_delivered_records(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    from eps_chassis.jobs import JobContext, prune_delivered_records
    from eps_chassis.unit_of_work import UnitOfWorkFactory

    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema)
    now = await pool.fetchval("SELECT now()")  # records are aged by the clock that stamped them
    try:
        async with pool.acquire() as conn:
            for age_days, published in ((8, True), (6, True), (30, False)):
                await conn.execute(
                    "INSERT INTO outbox (topic, value, created_at, published_at)"
                    " VALUES ('t', 'v', $1, $2)",
                    now - timedelta(days=age_days),
                    now - timedelta(days=age_days) if published else None,
                )
            for age_days in (31, 29):
                await conn.execute(
                    "INSERT INTO inbox (consumer, event_id, event_type, processed_at)"
                    " VALUES ('c', $1, 't', $2)",
                    uuid.uuid4(),
                    now - timedelta(days=age_days),
                )
        await prune_delivered_records(JobContext(UnitOfWorkFactory(pool, "/t"), utc_now, "t"))
        # the unpublished record stays however old it is: it has not been delivered yet
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 1
    finally:
        await pool.close()


async def test_a_job_runs_on_one_replica_at_a_time_and_never_leaves_its_lock_pooled(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    from eps_chassis.jobs import JobContext, JobRunner, PeriodicJob
    from eps_chassis.unit_of_work import UnitOfWorkFactory

    schema = await migrated_schema(infra, ns, tmp_path)
    pool = await db.create_pool(infra.database_url, schema, min_size=1, max_size=1)
    context = JobContext(UnitOfWorkFactory(pool, "/t"), lambda: suite_now(), schema)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(_context: JobContext) -> None:
        started.set()
        await release.wait()

    async def failing(_context: JobContext) -> None:
        raise ValueError("boom")

    job = PeriodicJob("j", 60.0, slow)
    replica_a = JobRunner([job], pool, context)
    other_pool = await db.create_pool(infra.database_url, schema, min_size=1, max_size=1)
    replica_b = JobRunner([job], other_pool, context)
    try:
        running = asyncio.create_task(replica_a.run_once(job))
        await started.wait()
        assert await replica_b.run_once(job) is False  # replica a holds the job
        release.set()
        assert await running is True
        assert await replica_b.run_once(job) is True  # released on completion

        with pytest.raises(ValueError, match="boom"):
            await replica_a.run_once(PeriodicJob("j", 60.0, failing))
        assert await replica_b.run_once(job) is True  # released after a failure

        # Cancelled mid-job (service shutdown): the lock must not survive on the pooled
        # connection, which the pool hands out again without a session reset.
        started.clear()
        release.clear()
        cancelled = asyncio.create_task(replica_a.run_once(job))
        await started.wait()
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        release.set()
        assert await replica_b.run_once(job) is True
    finally:
        await pool.close()
        await other_pool.close()
