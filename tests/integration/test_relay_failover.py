"""Relay failover on the real broker and database: a leader that stops making progress loses its
lanes within the bound (``claim_timeout_s``), another replica publishes, and the stopped one
publishes nothing once it resumes.

The two-process test prints the failover time it measured (``pytest -s`` shows it), with a bound
of 3 s unless ``EPS_TEST_RELAY_CLAIM_TIMEOUT_S`` says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from eps_chassis import db
from eps_chassis.outbox import OutboxRecord, add_to_outbox, transaction
from eps_chassis.relay import OutboxRelay
from eps_chassis.retry import Backoff
from eps_contracts import topics
from eps_contracts.incidents import FAST_TRACK_REQUESTS

from tests.support.infra import REPO, Infra
from tests.support.kafka import read_topic, wait_until
from tests.support.relay_runner import PREFIX
from tests.support.services import Namespace

pytestmark = pytest.mark.integration

ROUTINE, URGENT = topics.REFERRALS.name, FAST_TRACK_REQUESTS.name


async def _schema(infra: Infra, ns: Namespace) -> str:
    schema = ns.schema("relay")
    await db.migrate(infra.database_url, schema, [db.CHASSIS_MIGRATIONS])
    return schema


def _relay(infra: Infra, ns: Namespace, schema: str, service: str, **settings: Any) -> OutboxRelay:
    return OutboxRelay(
        service=service,
        schema=schema,
        dsn=infra.database_url,
        bootstrap_servers=infra.kafka_bootstrap,
        topic_prefix=ns.topic_prefix,
        backoff=Backoff(0.05, 0.5),
        priority_topics=[URGENT],
        **settings,
    )


@dataclass
class Runner:
    """A relay in a process of its own (tests/support/relay_runner.py) and what it reported."""

    name: str
    process: asyncio.subprocess.Process
    reports: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, name: str, infra: Infra, ns: Namespace, schema: str, log: Path, **options: Any
    ) -> Runner:
        args = [
            "--service", name, "--schema", schema, "--dsn", infra.database_url,
            "--bootstrap", infra.kafka_bootstrap, "--topic-prefix", ns.topic_prefix,
        ]  # fmt: skip
        for option, value in options.items():
            for each in value if isinstance(value, list) else [value]:
                args += [f"--{option.replace('_', '-')}", str(each)]
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.support.relay_runner", *args,
                cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        runner = cls(name, process)
        runner.reader = asyncio.create_task(runner._read())
        return runner

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            text = line.decode()
            if text.startswith(PREFIX):
                self.reports.append(json.loads(text[len(PREFIX) :]))

    def events(self, event: str, lane: str | None = None, after: float = -math.inf) -> list[Any]:
        return [
            r
            for r in self.reports
            if r["event"] == event and lane in (None, r.get("lane")) and r["t"] > after
        ]

    async def first(
        self, event: str, lane: str | None = None, after: float = -math.inf, timeout_s: float = 30
    ) -> dict[str, Any]:
        async def reported() -> bool:
            return bool(self.events(event, lane, after))

        await wait_until(reported, timeout_s=timeout_s, what=f"{self.name}: {event} {lane}")
        return dict(self.events(event, lane, after)[0])

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.process.pid, sig)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGCONT)
                self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            await self.reader


@dataclass
class Written:
    """What the writer committed, in commit order."""

    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # topic, key, value

    def values(self, topic: str) -> list[bytes]:
        return [v for t, _, v in self.records if t == topic]


async def _write(pool: asyncpg.Pool, written: Written, stop: asyncio.Event) -> None:
    """One transaction every 20 ms, as a consuming replica writes them: a routine record on each
    of five keys, and a priority record in every fifth."""
    n = 0
    while not stop.is_set():
        records = [(ROUTINE, f"k{k}".encode()) for k in range(5)]
        if n % 5 == 0:
            records.append((URGENT, b"incident"))
        outbox = [OutboxRecord(t, k, str(uuid.uuid4()).encode()) for t, k in records]
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, outbox)
        written.records.extend((r.topic, r.key or b"", r.value) for r in outbox)
        n += 1
        await asyncio.sleep(0.02)


async def _all_published(pool: asyncpg.Pool, n: int) -> bool:
    done = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    return bool(done == n)


async def _values_of(pool: asyncpg.Pool, ids: list[int]) -> set[bytes]:
    rows = await pool.fetch("SELECT value FROM outbox WHERE id = ANY($1::bigint[])", ids)
    return {r["value"] for r in rows}


async def test_a_stopped_leader_loses_its_lanes_and_the_other_process_publishes_them(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    # EPS_TEST_RELAY_CLAIM_TIMEOUT_S=10 measures the failover at the default bound
    bound = float(os.environ.get("EPS_TEST_RELAY_CLAIM_TIMEOUT_S", "3"))
    schema = await _schema(infra, ns)
    pool = await db.create_pool(infra.database_url, schema)
    options: dict[str, Any] = dict(
        claim_timeout_s=bound,
        poll_interval_s=0.2,
        publish_timeout_s=2.0,
        batch_size=10,
        priority_topic=[URGENT],
        hold_s=10 * bound,  # the held batch stays in flight until the process is stopped
    )
    a = await Runner.start("relay-a", infra, ns, schema, tmp_path / "relay-a.log", **options)
    b: Runner | None = None
    written, stop_writing = Written(), asyncio.Event()
    writer = asyncio.create_task(_write(pool, written, stop_writing))
    try:
        for lane in ("routine", "priority"):
            await a.first("claimed", lane)
        b = await Runner.start("relay-b", infra, ns, schema, tmp_path / "relay-b.log", **options)
        await b.first("started")

        async def a_published_some() -> bool:
            return len(a.events("marked", "routine")) >= 3

        await wait_until(a_published_some, what="relay-a publishing")
        # Stop relay-a with a routine batch in flight: acknowledged by the broker, not marked.
        a.signal(signal.SIGUSR1)
        held = await a.first("holding", "routine", timeout_s=10)
        a.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()

        figures = {}
        for lane in ("routine", "priority"):
            claimed = await b.first("claimed", lane, timeout_s=3 * bound)
            marked = await b.first("marked", lane, after=claimed["t"], timeout_s=3 * bound)
            figures[lane] = (claimed["t"] - stopped_at, marked["t"] - stopped_at)
        print(
            f"\nfailover with relay_claim_timeout_s={bound}: "
            + "; ".join(
                f"{lane} lane claimed by relay-b {c:.2f}s after SIGSTOP, a batch marked {m:.2f}s"
                for lane, (c, m) in figures.items()
            )
        )
        assert all(c <= 3 * bound and m <= 3 * bound for c, m in figures.values())

        await asyncio.sleep(bound)  # relay-b publishes what is written meanwhile
        resumed_at = time.monotonic()
        a.signal(signal.SIGCONT)
        for lane in ("routine", "priority"):
            released = await a.first("released", lane, after=resumed_at, timeout_s=2 * bound)
            assert "ClaimLost" in released["reason"]
        await asyncio.sleep(2 * bound)  # relay-a competes again, as a follower
        stop_writing.set()
        await writer
        await wait_until(
            lambda: _all_published(pool, len(written.records)), timeout_s=60, what="all published"
        )
    finally:
        stop_writing.set()
        with contextlib.suppress(Exception):
            await writer
        await a.stop()
        if b is not None:
            await b.stop()

    # relay-a started no batch, and marked none, once resumed; it never led again
    assert a.events("sending", after=resumed_at) == []
    assert a.events("marked", after=resumed_at) == []
    assert a.events("claimed", after=resumed_at) == []
    assert b is not None and len(b.events("claimed")) == 2

    # every record published, none lost; a second copy only of what relay-a had in flight
    in_flight: set[bytes] = set()
    for lane in ("routine", "priority"):
        sent_ids = {i for r in a.events("sending", lane) for i in r["ids"]}
        marked_ids = {i for r in a.events("marked", lane) for i in r["ids"]}
        in_flight |= await _values_of(pool, sorted(sent_ids - marked_ids))
    held_values = await _values_of(pool, held["ids"])
    await pool.close()
    duplicated = await _published_copies(infra, ns, written)
    print(
        f"records published twice: {len(duplicated)} (the batch relay-a held: {len(held_values)})"
    )
    assert held_values <= duplicated  # relay-b published the held batch again, once
    assert duplicated <= in_flight


async def _published_copies(infra: Infra, ns: Namespace, written: Written) -> set[bytes]:
    """Checks that every record written is on its topic, once or twice, and that the first copies
    of a key's records (what consumers apply; their inboxes skip a second copy) come in commit
    order. The records published twice."""
    duplicated: set[bytes] = set()
    for topic in (ROUTINE, URGENT):
        records = sorted(
            await read_topic(infra.kafka_bootstrap, ns.topic(topic), timeout_s=15),
            key=lambda r: (r.partition, r.offset),
        )
        copies = Counter(r.value for r in records)
        assert set(copies) == set(written.values(topic))  # none lost, nothing else
        assert max(copies.values()) <= 2
        duplicated |= {v for v, n in copies.items() if n > 1}
        first_seen: dict[bytes, list[bytes]] = defaultdict(list)
        seen: set[bytes] = set()
        for r in records:
            if r.value not in seen:
                seen.add(r.value)
                first_seen[r.key].append(r.value)
        expected: dict[bytes, list[bytes]] = defaultdict(list)
        for t, k, v in written.records:
            if t == topic:
                expected[k].append(v)
        assert first_seen == expected
    return duplicated


@contextlib.asynccontextmanager
async def _running(*relays: OutboxRelay) -> AsyncIterator[None]:
    try:
        for relay in relays:
            await relay.start()
        yield
    finally:
        for relay in relays:
            await relay.stop()


async def _end_session(infra: Infra, application_name: str) -> None:
    """What PostgreSQL does to a claim session left idle for the bound."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        ended = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            application_name,
        )
    finally:
        await conn.close()
    assert ended == 1


def _leads(relay: OutboxRelay, *lanes: str) -> Callable[[], Any]:
    async def leads() -> bool:
        return relay.leading == frozenset(lanes)

    return leads


async def test_each_lane_fails_over_on_its_own(infra: Infra, ns: Namespace, tmp_path: Path) -> None:
    bound = 5.0  # long enough that a healthy leader keeps its lane on two busy cores
    schema = await _schema(infra, ns)
    pool = await db.create_pool(infra.database_url, schema)
    a = _relay(infra, ns, schema, "relay-a", claim_timeout_s=bound, poll_interval_s=0.1)
    b = _relay(infra, ns, schema, "relay-b", claim_timeout_s=bound, poll_interval_s=0.1)
    try:
        async with _running(a):
            await wait_until(_leads(a, "routine", "priority"), what="relay-a leads both lanes")
            async with _running(b):
                await _end_session(infra, f"eps-relay claim priority relay-a {schema}")
                ended_at = time.monotonic()
                await wait_until(_leads(b, "priority"), timeout_s=3 * bound, what="b: priority")
                print(f"\npriority lane taken over {time.monotonic() - ended_at:.2f}s after")
                await wait_until(_leads(a, "routine"), timeout_s=bound, what="a: routine only")
                for n in range(20):
                    async with pool.acquire() as conn, transaction(conn, a.hand_over):
                        await add_to_outbox(
                            conn,
                            [
                                OutboxRecord(ROUTINE, b"k", str(n).encode()),
                                OutboxRecord(URGENT, b"incident", str(n).encode()),
                            ],
                        )
                await wait_until(lambda: _all_published(pool, 40), what="all 40 published")
                assert a.leading == {"routine"} and b.leading == {"priority"}
    finally:
        await pool.close()
    # the routine lane never moved; the priority lane moved to b (relay-a, competing again
    # like any follower, may have won it back once before b did)
    assert a.claims_gained["routine"] == 1 and b.claims_gained == {"routine": 0, "priority": 1}
    assert a.published_handed_over == 0  # relay-a no longer takes hand-overs
    for topic in (ROUTINE, URGENT):
        records = await read_topic(infra.kafka_bootstrap, ns.topic(topic))
        assert [int(r.value) for r in sorted(records, key=lambda r: r.offset)] == list(range(20))


@pytest.mark.parametrize("stopped_for_share", [0.3, 1.0])
async def test_a_leader_resumed_after_a_long_stop_confirms_its_claim_before_publishing(
    infra: Infra, ns: Namespace, tmp_path: Path, stopped_for_share: float
) -> None:
    """A process stopped for long has lost its claim session (PostgreSQL ended it after the
    bound, or a restart or a network cut did sooner), and may not yet have read the news when it
    resumes. Stood in for here by moving relay-a's clock on by a share of the bound and ending its
    claim session: a priority record then handed over to it must not be published before it has
    confirmed its claim (a round trip, as more than a quarter of the bound has passed; it fails),
    so relay-b publishes it, once. Without the confirmation both would publish it (after a whole
    bound, the check before each record is sent would stop relay-a too)."""
    bound = 60.0  # relay-a renews every 15 s: not within this test unless it publishes
    schema = await _schema(infra, ns)
    pool = await db.create_pool(infra.database_url, schema)
    stopped_for = 0.0

    def clock() -> float:
        return time.monotonic() + stopped_for

    a = _relay(infra, ns, schema, "relay-a", claim_timeout_s=bound, poll_interval_s=60, clock=clock)
    b = _relay(infra, ns, schema, "relay-b", claim_timeout_s=bound, poll_interval_s=0.1)
    try:
        async with _running(a):
            await wait_until(_leads(a, "routine", "priority"), what="relay-a leads both lanes")
            async with pool.acquire() as conn, transaction(conn, a.hand_over):
                await add_to_outbox(conn, [OutboxRecord(URGENT, b"incident", b"before")])
            await wait_until(lambda: _all_published(pool, 1), what="published by relay-a")
            async with _running(b):
                stopped_for = stopped_for_share * bound
                await _end_session(infra, f"eps-relay claim priority relay-a {schema}")
                await wait_until(_leads(b, "priority"), timeout_s=10, what="b: priority")
                assert a.leads_priority  # relay-a has not noticed yet
                async with pool.acquire() as conn, transaction(conn, a.hand_over):
                    await add_to_outbox(conn, [OutboxRecord(URGENT, b"incident", b"0")])
                await wait_until(lambda: _all_published(pool, 2), what="published")
                await wait_until(_leads(a, "routine"), timeout_s=5, what="a gives up priority")
                await asyncio.sleep(0.5)  # anything relay-a might still send
    finally:
        await pool.close()
    assert a.published_total == 1 and b.published_total == 1
    assert a.claims_released["priority"] == 1
    records = await read_topic(infra.kafka_bootstrap, ns.topic(URGENT))
    assert [r.value for r in sorted(records, key=lambda r: r.offset)] == [b"before", b"0"]


async def test_a_broker_outage_does_not_cost_the_leader_its_claim(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    """Publishes that time out after longer than the bound: the leader keeps renewing."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers: a broker that hangs
        writer.close()

    black_hole = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = black_hole.sockets[0].getsockname()[1]
    bound = 2.0
    schema = await _schema(infra, ns)
    pool = await db.create_pool(infra.database_url, schema)
    settings: dict[str, Any] = dict(
        claim_timeout_s=bound, poll_interval_s=0.2, publish_timeout_s=1.5 * bound
    )
    a = _relay(infra, ns, schema, "relay-a", **settings)
    b = _relay(infra, ns, schema, "relay-b", **settings)
    a.bootstrap_servers = b.bootstrap_servers = f"127.0.0.1:{port}"
    try:
        async with pool.acquire() as conn:
            await add_to_outbox(conn, [OutboxRecord(ROUTINE, b"k", b"0")])
        async with _running(a):
            await wait_until(_leads(a, "routine", "priority"), what="relay-a leads both lanes")
            async with _running(b):
                deadline = time.monotonic() + 4 * bound  # two publishes time out meanwhile
                while time.monotonic() < deadline:
                    assert a.leading == {"routine", "priority"} and b.leading == set()
                    await asyncio.sleep(0.1)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
    finally:
        await pool.close()
        black_hole.close()
    assert a.claims_gained == {"routine": 1, "priority": 1}
    assert b.claims_gained == {"routine": 0, "priority": 0}


async def test_every_relay_session_ended_at_once_as_in_a_database_restart(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    bound = 2.0
    schema = await _schema(infra, ns)
    pool = await db.create_pool(infra.database_url, schema)
    a = _relay(infra, ns, schema, "relay-a", claim_timeout_s=bound, poll_interval_s=0.1)
    b = _relay(infra, ns, schema, "relay-b", claim_timeout_s=bound, poll_interval_s=0.1)
    written, stop_writing = Written(), asyncio.Event()
    try:
        async with _running(a, b):
            writer = asyncio.create_task(_write(pool, written, stop_writing))
            try:
                await wait_until(lambda: _published_at_least(pool, 100), what="publishing")
                conn = await asyncpg.connect(infra.database_url)
                try:
                    ended = await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name LIKE $1",
                        f"eps-relay % relay-_ {schema}",  # this test's relays alone
                    )
                finally:
                    await conn.close()
                assert ended >= 6  # both lanes' claim and data sessions, and followers' claims
                await asyncio.sleep(2 * bound)
            finally:
                stop_writing.set()
                await writer
            await wait_until(
                lambda: _all_published(pool, len(written.records)), timeout_s=60, what="all"
            )
    finally:
        await pool.close()
    for lane in ("routine", "priority"):
        assert a.claims_gained[lane] + b.claims_gained[lane] >= 2  # led again after the "restart"
    duplicated = await _published_copies(infra, ns, written)
    print(f"\nrecords published twice after every relay session ended: {len(duplicated)}")


async def _published_at_least(pool: asyncpg.Pool, n: int) -> bool:
    done = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    return bool(done >= n)
