"""Billing benchmark: delivered-time events priced per second, beside the raw baselines.

    uv run python bench/billing.py [--events 200000] [--repeats 1] [--schools 400]

In one run, on the same broker and database: the raw aiokafka consume rate of the very topic
billing reads (same records, fresh group), the raw asyncpg single-row commit rate, and billing's
delivered-time consumer draining that topic with every guarantee on (decode and validate each
envelope, inbox claim, pricing with set-based SQL, ledger lines, SLA balances, one transaction
per polled batch, offsets committed after it). For reference, the chassis consumer with a
one-row effect (bench/chassis_bench.py) is measured too, and so is the ceiling set by reading
the contract alone: billing's consumer decoding and validating every envelope of the same
records in memory, with no broker and no database. No consumer that validates what it reads
can go faster than that line.
The mix: 90% recordings (a quarter of the schools with an SLA, the rest at spot prices), 7%
corrections and 3% voids, some of which arrive before the delivery they change.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import sys
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer
from eps_billing.bootstrap import SERVICE
from eps_billing.domain.commands import BuyServiceLevelAgreement, RecordSchool
from eps_billing.entrypoints.events import delivered_time
from eps_billing.service_layer import handlers
from eps_billing.service_layer.unit_of_work import PostgresBillingUnitOfWork
from eps_chassis.collector import settle_long_lived
from eps_chassis.consumer import ConsumerRuntime
from eps_chassis.context import MessageContext
from eps_chassis.db import CHASSIS_MIGRATIONS, create_pool, migrate
from eps_chassis.replay import replay
from eps_chassis.unit_of_work import UnitOfWorkFactory
from eps_contracts.scheduling import DELIVERED_TIME, DeliveredTimeRecorded, FundingStream
from faststream.kafka import KafkaBroker

from bench.baselines import commit_rate, consume, create_topic
from bench.chassis_bench import consumer_throughput, decode_rate, drain_rate
from bench.harness import Infra, Report, finish, provide_infra
from tests.support.builders import billing as builders

BILLING = "billing: delivered time priced (exactly-once)"
STREAMS = [FundingStream.TRADED] * 6 + [
    FundingStream.CORE,
    FundingStream.STATUTORY,
    FundingStream.CRITICAL_INCIDENT,
]


def workload(count: int, schools: int, seed: int = 7) -> list[Any]:
    """The events, as envelopes (see the module docstring for the mix)."""
    rnd = random.Random(seed)
    start = datetime(2025, 9, 1, 8, tzinfo=UTC)
    recorded: list[uuid.UUID] = []
    out: list[Any] = []
    for i in range(count):
        at = start + timedelta(seconds=60 * i)
        roll = rnd.random()
        if roll < 0.07 and recorded:
            out.append(builders.corrected(rnd.choice(recorded), rnd.randrange(30, 480, 15), at=at))
        elif roll < 0.10 and recorded:
            out.append(builders.voided(rnd.choice(recorded), at=at))
        else:
            envelope = builders.recorded(
                f"{200000 + rnd.randrange(schools)}",
                rnd.randrange(30, 480, 15),
                date(2025, 9, 1) + timedelta(days=rnd.randrange(300)),
                rnd.choice(STREAMS),
                at=at,
            )
            recorded.append(envelope.data.delivery_id)
            out.append(envelope)
    # about one change in ten overtakes its delivery (arrives first)
    for i in range(1, len(out)):
        if not isinstance(out[i].data, DeliveredTimeRecorded) and rnd.random() < 0.1:
            j = max(0, i - rnd.randrange(1, 200))
            out[i], out[j] = out[j], out[i]
    return out


def serialised(envelopes: list[Any]) -> tuple[list[bytes], list[bytes]]:
    """Keys and values only: holding 200,000 pydantic objects in the process under test would
    make every garbage collection walk them and slow the consumer down for nothing."""
    return [e.subject.encode() for e in envelopes], [builders.raw(e) for e in envelopes]


async def publish(infra: Infra, topic: str, records: tuple[list[bytes], list[bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = []
        for key, value in zip(*records, strict=True):
            futures.append(await producer.send(topic, value, key=key))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def contract_ceiling(records: tuple[list[bytes], list[bytes]]) -> float:
    """Envelopes decoded and validated per second by billing's consumer, in memory only."""
    return decode_rate(delivered_time, DELIVERED_TIME, records[1])


async def prepared_schema(infra: Infra, schools: int, sla_share: float) -> tuple[str, Any]:
    """A migrated billing schema holding what people enter over HTTP (SLAs bought); its pool."""
    schema = f"bench_billing_{uuid.uuid4().hex[:8]}"
    migrations = SERVICE.definition().migrations
    await migrate(infra.database_url, schema, [CHASSIS_MIGRATIONS, migrations])
    pool = await create_pool(infra.database_url, schema, 1, 4)
    uow = UnitOfWorkFactory(pool, "/bench", unit_of_work=PostgresBillingUnitOfWork)
    context = MessageContext(tenant=builders.TENANT, actor="service:bench")
    for n in range(int(schools * sla_share)):
        school = f"{200000 + n}"
        async with uow(context) as unit:  # as scheduling's NamedEpAssigned would register it
            await handlers.record_school(RecordSchool(school, datetime.now(UTC)), unit)
            command = BuyServiceLevelAgreement(school, 2025, 5 + n % 26, "user:bench")
            await handlers.buy_service_level_agreement(command, unit)
    return schema, pool


async def billed(pool: Any) -> dict[str, int]:
    """What billing made of the events: equal for the live run and its replay. (How many
    ledger lines a delivery has depends on whether its correction came in the same polled batch
    as the delivery or a later one; what each delivery nets to does not.)"""
    net = (
        "SELECT count(*), coalesce(sum(n), 0)::bigint FROM (SELECT sum(pence) AS n"
        " FROM ledger_lines GROUP BY delivery_id, period_start HAVING sum(pence) <> 0"
        " OR sum(sla_minutes) <> 0) net"
    )
    charged, pence = await pool.fetchrow(net)
    return {
        "deliveries": await pool.fetchval("SELECT count(*) FROM deliveries"),
        "priced": await pool.fetchval("SELECT count(*) FROM priced_deliveries"),
        "deliveries charged": charged,
        "ledger pence": pence,
        "sla minutes drawn": await pool.fetchval("SELECT sum(drawn_minutes) FROM agreements"),
    }


async def drop_schema(infra: Infra, schema: str) -> None:
    conn_pool = await create_pool(infra.database_url, "public", 1, 1)
    await conn_pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn_pool.close()


async def billing_rate(
    infra: Infra, prefix: str, total: int, schools: int, sla_share: float
) -> tuple[float, dict[str, int]]:
    schema, pool = await prepared_schema(infra, schools, sla_share)
    broker = KafkaBroker(infra.kafka_bootstrap, log_level=logging.DEBUG)
    delivered_time.subscribe(
        broker,
        ConsumerRuntime(
            pool=pool,
            service="bench",
            source="/bench",
            topic_prefix=prefix,
            unit_of_work=PostgresBillingUnitOfWork,
        ),
    )
    settle_long_lived()  # as the service does once started
    try:
        await broker.start()
        rate = await drain_rate(pool, "SELECT count(*) FROM inbox", total)
        return rate, await billed(pool)
    finally:
        await delivered_time.close()  # as the service does before its Kafka consumers stop
        await broker.stop()
        await pool.close()
        await drop_schema(infra, schema)


async def replay_rate(
    infra: Infra, prefix: str, schools: int, sla_share: float
) -> tuple[float, dict[str, int]]:
    """The replay command's rate (eps_chassis.replay) over the same topic, into a schema holding
    the same SLAs (what a replay restores from a backup first: they never passed the log)."""
    schema, pool = await prepared_schema(infra, schools, sla_share)
    settings = SERVICE.settings(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=infra.database_url,
        topic_prefix=prefix,
        db_schema=schema,
    )
    try:
        done = await replay(SERVICE.define(settings), settings, schema, prepared=True)
        return done.rate, await billed(pool)
    finally:
        await pool.close()
        await drop_schema(infra, schema)


async def one_run(
    infra: Infra,
    report: Report,
    records: tuple[list[bytes], list[bytes]],
    schools: int,
    sla_share: float,
) -> None:
    prefix = f"benchbill{uuid.uuid4().hex[:8]}."
    topic = prefix + DELIVERED_TIME.name
    await create_topic(infra, topic, DELIVERED_TIME.partitions)
    total = len(records[0])
    await publish(infra, topic, records)
    report.add("raw kafka consume", "rec/s", await consume(infra, topic, total))
    report.add("raw asyncpg single-row commits", "commit/s", await commit_rate(infra))
    report.add(
        "ceiling: decode + validate the contracts only (in memory)",
        "ev/s",
        contract_ceiling(records),
        baseline="raw kafka consume",
    )
    with tempfile.TemporaryDirectory() as tmp:
        trivial = await consumer_throughput(infra, min(total, 50_000), Path(tmp))
    report.add(
        "chassis consumer, one-row effect, batched (reference)",
        "ev/s",
        trivial,
        baseline="raw kafka consume",
    )
    gc.collect()
    rate, facts = await billing_rate(infra, prefix, total, schools, sla_share)
    report.add(BILLING, "ev/s", rate, baseline="raw kafka consume")
    report.notes.append("  billing run: " + ", ".join(f"{k} {v:,}" for k, v in facts.items()))
    gc.collect()
    rebuilt, replayed = await replay_rate(infra, prefix, schools, sla_share)
    report.add("billing: replay from the log (make replay)", "ev/s", rebuilt, baseline=BILLING)
    if replayed != facts:
        raise SystemExit(f"the replay billed otherwise: {replayed} != {facts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--schools", type=int, default=400)
    parser.add_argument("--sla-share", type=float, default=0.25)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"building {args.events:,} delivered-time events ...", flush=True)
    records = serialised(workload(args.events, args.schools))
    gc.collect()
    report = Report()
    with provide_infra() as infra:
        for run in range(args.repeats):
            print(f"run {run + 1}/{args.repeats} ...", flush=True)
            asyncio.run(one_run(infra, report, records, args.schools, args.sla_share))
    billing = report.figures[BILLING].median
    commits = report.figures["raw asyncpg single-row commits"].median
    report.notes.append(
        f"  billing vs raw single-row commits: {billing / commits:.1f}x"
        " (one transaction per polled batch, not per event)"
    )
    report.notes.append(
        f"  target: at least 15,000 ev/s (1.5x Lago's published Postgres-only rate); measured"
        f" {billing:,.0f} ev/s -> {'met' if billing >= 15_000 else 'NOT met'}"
    )
    return finish(report, "bench/billing")


if __name__ == "__main__":
    sys.exit(main())
