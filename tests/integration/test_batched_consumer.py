"""The consumer's batch path: a polled batch applied by a set-based batch handler has the same
effect as its events applied one at a time by a per-event handler, on the real database: the
effect rows, the dead letters (reason and original bytes) and the outbox, whatever the order of
duplicates (in the batch and already seen), refusals and poison records; and applied as shards
side by side (``shards``), the same again."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from eps_chassis import db, held_events, pipelining
from eps_chassis.consumer import (
    BatchEventNotYetKnown,
    BatchEventRejected,
    ConsumerRuntime,
    EventConsumer,
)
from eps_chassis.data_keys import InMemoryDataKeys
from eps_chassis.errors import EventRejected, reference
from eps_chassis.releases import apply_held_events
from eps_chassis.sealing import Sealer
from eps_chassis.shards import Shards
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts import Envelope, dead_letter_topic, topics
from eps_contracts.referrals import ReferralReceived
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.builders import referrals as builders
from tests.support.dead_letters import original_value_of_row
from tests.support.infra import Infra
from tests.support.services import Namespace

pytestmark = pytest.mark.integration

REFUSING_SCHOOL = "999999"  # both handlers refuse an event naming it
REFUSAL = "school_urn: this school takes no referrals"
SERVICE = "property"
SEALER = Sealer(InMemoryDataKeys())  # dead letters are sealed; the test opens them
EFFECTS = "CREATE TABLE effects (referral_id uuid PRIMARY KEY, received_on date NOT NULL)"


def referral(refused: bool) -> Envelope[ReferralReceived]:
    return builders.received_envelope(REFUSING_SCHOOL if refused else builders.SCHOOL)


def poison(kind: str) -> bytes:
    """Bytes no consumer can apply: not JSON, an envelope breaking its contract, or one of a
    local authority the platform does not know."""
    if kind == "not json":
        return b"\x00 not json"
    body = json.loads(referral(refused=False).model_dump_json())
    if kind == "broken field":
        body["data"]["received_on"] = "the second of November"
    else:
        body["tenant"] = "leicester-cty"
    return json.dumps(body).encode()


def record(value: bytes, offset: int) -> ConsumerRecord:
    return ConsumerRecord(
        topics.REFERRALS.name, 0, offset, 0, 0, b"k", value, None, 1, len(value), []
    )


async def by_referral(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> list[Any]:
    return [e.data.referral_id for e in events]


EVERY_BATCH_IN_SHARDS = Shards(count=2, key=by_referral, at_least=1)


def batched_consumer(shards: Shards | None = None) -> EventConsumer:
    """Set-based: one insert for the batch's effects, one event published per effect."""
    consumer = EventConsumer(name="effects", topics=[topics.REFERRALS], shards=shards)

    @consumer.on_batch(ReferralReceived)
    async def apply_all(
        events: Sequence[Envelope[ReferralReceived]], uow: PostgresUnitOfWork
    ) -> None:
        for event in events:
            if event.data.school_urn == REFUSING_SCHOOL:
                raise BatchEventRejected(event.id, REFUSAL)
        await uow.conn.execute(
            "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::date[])",
            [e.data.referral_id for e in events],
            [e.data.received_on for e in events],
        )
        for event in events:
            uow.caused_by(event).publish(event.data)

    return consumer


def one_at_a_time_consumer() -> EventConsumer:
    """The same effect, a statement per event."""
    consumer = EventConsumer(name="effects", topics=[topics.REFERRALS])

    @consumer.on(ReferralReceived)
    async def apply_one(event: Envelope[ReferralReceived], uow: PostgresUnitOfWork) -> None:
        if event.data.school_urn == REFUSING_SCHOOL:
            raise EventRejected(REFUSAL)
        await uow.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.data.referral_id, event.data.received_on
        )
        uow.publish(event.data)

    return consumer


@dataclass(frozen=True)
class Effect:
    effects: list[tuple[Any, ...]]
    dead_letters: list[tuple[str, bytes]]  # reason, original bytes
    published: list[tuple[str, str, str]]  # topic, cause, data


async def effect_of(
    pool: asyncpg.Pool, consumer: EventConsumer, polls: Sequence[Sequence[ConsumerRecord]]
) -> Effect:
    await pool.execute("TRUNCATE effects, inbox, outbox, held_events")
    consumer.bind(ConsumerRuntime(pool=pool, service=SERVICE, source="/test", sealer=SEALER))
    for poll in polls:
        assert await consumer.process(poll)
    rows = await pool.fetch("SELECT topic, value, headers FROM outbox ORDER BY id")
    dlq = dead_letter_topic(SERVICE).name
    dead_letters = []
    published = []
    for row in rows:
        if row["topic"] == dlq:
            reason = dict(json.loads(row["headers"]))["dlq-reason"]
            original = await original_value_of_row(row, SEALER.keys)
            dead_letters.append((bytes.fromhex(reason).decode(), original))
        else:
            envelope = json.loads(row["value"])
            data = json.dumps(envelope["data"], sort_keys=True)
            published.append((row["topic"], envelope["causationid"], data))
    effects = [tuple(r) for r in await pool.fetch("SELECT * FROM effects ORDER BY referral_id")]
    return Effect(effects, sorted(dead_letters), sorted(published))


@pytest.fixture
async def schema(infra: Infra, ns: Namespace, tmp_path: Path) -> str:
    name = ns.schema("batches")
    (tmp_path / "0001_effects.sql").write_text(EFFECTS)
    await db.migrate(infra.database_url, name, [db.CHASSIS_MIGRATIONS, tmp_path])
    return name


Item = tuple[str, int]  # ("event", which) or ("poison", which kind)
POISONS = ("not json", "broken field", "unknown authority")


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[bool], list[Item], list[int]]:
    """Some events (each refused or not), the records polled (events, several times over, and
    poison records, in any order), and where the polls are cut."""
    refusals = draw(st.lists(st.booleans(), min_size=1, max_size=6))
    item = st.one_of(
        st.tuples(st.just("event"), st.integers(0, len(refusals) - 1)),
        st.tuples(st.just("poison"), st.integers(0, len(POISONS) - 1)),
    )
    items = draw(st.lists(item, min_size=1, max_size=16))
    cuts = draw(st.lists(st.integers(1, max(1, len(items) - 1)), max_size=3, unique=True))
    return refusals, items, sorted(cuts)


async def same_effect(
    infra: Infra,
    schema: str,
    refusals: list[bool],
    items: list[Item],
    cuts: list[int],
    shards: Shards | None = None,
) -> None:
    events = [referral(refused) for refused in refusals]
    values = [
        events[n].model_dump_json().encode() if kind == "event" else poison(POISONS[n])
        for kind, n in items
    ]
    records = [record(value, offset) for offset, value in enumerate(values)]
    bounds = [0, *(c for c in cuts if c < len(records)), len(records)]
    polls = [records[a:b] for a, b in itertools.pairwise(bounds) if a < b]
    pool = await db.create_pool(infra.database_url, schema, 1, 2)
    try:
        batched = await effect_of(pool, batched_consumer(shards), polls)
        alone = await effect_of(pool, one_at_a_time_consumer(), [[r] for r in records])
    finally:
        await pool.close()
    assert batched == alone
    applied = {n for kind, n in items if kind == "event" and not refusals[n]}
    assert len(alone.effects) == len(applied)  # each event once, however often it came
    refused = {n for kind, n in items if kind == "event" and refusals[n]}
    poisoned = sum(kind == "poison" for kind, _ in items)
    assert len(alone.dead_letters) == len(refused) + poisoned


@pytest.mark.parametrize(
    "shards", [None, EVERY_BATCH_IN_SHARDS], ids=["one transaction", "shards side by side"]
)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches())
def test_a_batch_has_the_effect_of_its_events_one_at_a_time(
    infra: Infra,
    schema: str,
    shards: Shards | None,
    polled: tuple[list[bool], list[Item], list[int]],
) -> None:
    asyncio.run(same_effect(infra, schema, *polled, shards=shards))


async def test_a_batch_whose_shard_fails_is_applied_again_and_each_event_applied_once(
    infra: Infra, schema: str
) -> None:
    """One shard commits, the other fails (the database drops it): the batch is applied again,
    the committed shard's events are duplicates then, and the failed shard's are applied."""
    events = [referral(refused=False) for _ in range(12)]
    calls: list[set[Any]] = []
    consumer = EventConsumer(
        name="effects", topics=[topics.REFERRALS], shards=EVERY_BATCH_IN_SHARDS
    )

    @consumer.on_batch(ReferralReceived)
    async def apply_all(
        batch: Sequence[Envelope[ReferralReceived]], uow: PostgresUnitOfWork
    ) -> None:
        ids = {e.data.referral_id for e in batch}
        calls.append(ids)
        await uow.conn.execute(
            "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::date[])",
            [e.data.referral_id for e in batch],
            [e.data.received_on for e in batch],
        )
        if events[0].data.referral_id in ids and len(calls) <= 2:  # after its effect: undone
            raise asyncpg.exceptions.ConnectionDoesNotExistError("the connection dropped")

    pool = await db.create_pool(infra.database_url, schema, 1, 3)
    try:
        await pool.execute("TRUNCATE effects, inbox, outbox, held_events")
        consumer.bind(
            ConsumerRuntime(
                pool=pool, service=SERVICE, source="/test", sealer=SEALER, backoff_max_s=0.01
            )
        )
        records = [record(e.model_dump_json().encode(), n) for n, e in enumerate(events)]
        assert await consumer.process(records)
        effects = await pool.fetchval("SELECT count(*) FROM effects")
        claimed = await pool.fetchval("SELECT count(*) FROM inbox")
    finally:
        await pool.close()
    assert len(calls) == 3  # both shards, then only the one that failed
    failed, other = (calls[0], calls[1]) if events[0].data.referral_id in calls[0] else calls[1::-1]
    assert (
        calls[2] == failed
        and not failed & other
        and failed | other == {e.data.referral_id for e in events}
    )
    assert effects == claimed == len(events)  # each once: the effects' key refuses a second


UNKNOWN_SCHOOL = "555555"


def holding_consumer() -> EventConsumer:
    """Set-based, holding an event whose school it does not know yet; a later event of the same
    referral replaces the effect of an earlier one, so the order they were applied in shows."""
    consumer = EventConsumer(name="holding", topics=[topics.REFERRALS])

    @consumer.on_batch(ReferralReceived)
    async def apply_all(
        events: Sequence[Envelope[ReferralReceived]], uow: PostgresUnitOfWork
    ) -> None:
        known = {r["school_urn"] for r in await uow.conn.fetch("SELECT * FROM known_schools")}
        for event in events:
            if event.data.school_urn not in known | {builders.SCHOOL}:
                raise BatchEventNotYetKnown(
                    event.id,
                    "school not known yet",
                    awaiting=reference("school", event.tenant, event.data.school_urn),
                    field="school_urn",
                )
        await uow.conn.execute(
            "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::date[])"
            " ON CONFLICT (referral_id) DO UPDATE SET received_on = excluded.received_on",
            [e.data.referral_id for e in events],
            [e.data.received_on for e in events],
        )

    return consumer


async def test_a_batch_holds_the_event_it_cannot_apply_yet_and_what_follows_it(
    infra: Infra, schema: str
) -> None:
    waiting = builders.received_envelope(UNKNOWN_SCHOOL)
    later = waiting.model_copy(
        update={
            "id": uuid.uuid4(),
            "data": waiting.data.model_copy(
                update={"school_urn": builders.SCHOOL, "received_on": date(2026, 11, 3)}
            ),
        }
    )
    others = [builders.received_envelope(), builders.received_envelope()]
    polled = [others[0], waiting, others[1], later]
    pool = await db.create_pool(infra.database_url, schema, 1, 2)
    try:
        await pool.execute("CREATE TABLE known_schools (school_urn text PRIMARY KEY)")
        consumer = holding_consumer()
        runtime = ConsumerRuntime(pool=pool, service=SERVICE, source="/test", sealer=SEALER)
        consumer.bind(runtime)
        records = [record(e.model_dump_json().encode(), n) for n, e in enumerate(polled)]
        assert await consumer.process(records)
        effects = {r["referral_id"] for r in await pool.fetch("SELECT * FROM effects")}
        assert effects == {e.data.referral_id for e in others}
        held = await pool.fetch("SELECT event_id, reason, behind FROM held_events ORDER BY held_at")
        assert [(r["event_id"], r["behind"]) for r in held] == [
            (waiting.id, None),
            (later.id, waiting.id),
        ]
        assert held[0]["reason"] == "waiting: school_urn: school not known yet"

        async with pool.acquire() as conn, conn.transaction():  # the school becomes known
            await conn.execute("INSERT INTO known_schools VALUES ($1)", UNKNOWN_SCHOOL)
            await held_events.release(conn, reference("school", waiting.tenant, UNKNOWN_SCHOOL))
        assert await apply_held_events([consumer], runtime) == 2
        assert await pool.fetchval("SELECT count(*) FROM held_events") == 0
        received_on = await pool.fetchval(
            "SELECT received_on FROM effects WHERE referral_id = $1", waiting.data.referral_id
        )
        assert received_on == date(2026, 11, 3)  # the held one first, then the one behind it
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # nothing dead-lettered
    finally:
        await pool.close()


async def test_a_batch_not_applied_in_time_is_read_again_with_the_one_behind_it_on_the_broker(
    infra: Infra, ns: Namespace, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails for longer than a batch is retried in place, while the poll loop goes
    on polling the batches behind it (``pipelining``): every event is still applied, once, and
    the group's offsets reach the end."""
    from eps_chassis.service import ensure_topics
    from faststream.kafka import KafkaBroker

    from tests.support.kafka import consumer_lag, publish_raw, wait_until

    failing = True
    attempts = 0
    rewound: list[int] = []
    rewind = pipelining.rewind

    def counted(kafka: Any, records: Sequence[ConsumerRecord]) -> None:
        rewound.append(len(records))
        rewind(kafka, records)

    monkeypatch.setattr(pipelining, "rewind", counted)
    consumer = EventConsumer(name="effects", topics=[topics.REFERRALS], batch_size=5)

    @consumer.on_batch(ReferralReceived)
    async def apply_all(
        events: Sequence[Envelope[ReferralReceived]], uow: PostgresUnitOfWork
    ) -> None:
        nonlocal attempts
        attempts += 1
        if failing:
            raise ConnectionRefusedError("the database is away")  # transient: retried
        await uow.conn.execute(
            "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::date[])",
            [e.data.referral_id for e in events],
            [e.data.received_on for e in events],
        )

    topic = ns.topic(topics.REFERRALS.name)
    await ensure_topics(infra.kafka_bootstrap, [topics.REFERRALS], ns.topic_prefix)
    events = [referral(refused=False) for _ in range(40)]
    await publish_raw(
        infra.kafka_bootstrap,
        topic,
        [e.model_dump_json().encode() for e in events],
        keys=[e.subject.encode() for e in events],
    )
    pool = await db.create_pool(infra.database_url, schema, 1, 4)
    runtime = ConsumerRuntime(
        pool=pool,
        service=SERVICE,
        source="/test",
        topic_prefix=ns.topic_prefix,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        retry_in_place_s=0.3,
        max_attempts=10_000,
    )
    broker = KafkaBroker(infra.kafka_bootstrap, log_level=10)
    consumer.subscribe(broker, runtime)
    await broker.start()
    try:
        await wait_until(lambda: _more_than(lambda: attempts, 20), what="batches failing")
        await asyncio.sleep(1.0)  # several give-ups, each with a batch polled behind it
        failing = False

        async def all_applied() -> bool:
            return await pool.fetchval("SELECT count(*) FROM effects") == len(events)

        await wait_until(all_applied, timeout_s=60, what="every event applied")
        group = consumer.group_id(runtime)

        async def committed() -> bool:
            return await consumer_lag(infra.kafka_bootstrap, group, topic) == 0

        await wait_until(committed, timeout_s=30, what="the offsets at the end")
        claimed = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'effects'")
    finally:
        await consumer.close()
        await broker.stop()
        await pool.close()
    assert rewound  # batches were given up and read again, with the batch polled behind them
    assert claimed == len(events)  # each event's effect once (effects' key would refuse twice)


async def _more_than(count: Any, floor: int) -> bool:
    return bool(count() > floor)
