"""The cost of sealing a child's personal fields on the wire (``eps_chassis.sealing``), measured
on the real database, each path beside the same events without it, in the same run:

    uv run python bench/sealing.py [--events 5000] [--repeats 3]

- producing: referrals' ``ReferralReceived`` written to the outbox by the unit of work, in
  transactions of 500: v2 (the child's date of birth and looked-after status ``Unsealed``,
  sealed by the unit of work on flush) against v1 (the same values in plain fields). The keys
  come from a cache in memory, warm (a child's second event) or cold (every event a new child:
  the key is made, which under ``make run`` is one request to the keys service, not counted
  here: see the note);
- consuming: the chassis consumer (decode, inbox, handler, effect row, one transaction per
  polled batch of 500) applying the same events, its handler opening the sealed field against
  reading the plain one.

Each ratio is to the same events without sealing (``baseline``), measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from aiokafka import ConsumerRecord
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.context import MessageContext
from eps_chassis.data_keys import CachedDataKeys, InMemoryDataKeys
from eps_chassis.db import CHASSIS_MIGRATIONS, create_pool, migrate
from eps_chassis.sealing import Sealer
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts import Envelope, Event, envelope_for, topics
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import ChildForConsent, ReferralReceived, ReferralReceivedV1
from eps_contracts.sealed import Unsealed

from bench.harness import Infra, Report, finish, repeated

TENANT = "leicester-city"
BATCH = 500
EFFECTS = "CREATE TABLE effects (child_id uuid PRIMARY KEY, date_of_birth date NOT NULL)"
BORN = date(2016, 5, 4)


def events(count: int, sealed: bool) -> list[Event]:
    """``count`` referrals received, each of a child of its own."""
    made: list[Event] = []
    for _ in range(count):
        child = uuid.uuid4()
        common: dict[str, Any] = dict(
            referral_id=uuid.uuid4(),
            request_id=uuid.uuid4(),
            received_on=date(2026, 11, 2),
            requester_kind=RequesterKind.SCHOOL_SENCO,
            school_urn="123456",
            child_id=child,
            parental_responsibility_holder_ids=("p-1",),
        )
        if sealed:
            facts = ChildForConsent(date_of_birth=BORN, looked_after=False)
            made.append(ReferralReceived(child=Unsealed(facts, child), **common))
        else:
            made.append(ReferralReceivedV1(child_date_of_birth=BORN, looked_after=False, **common))
    return made


async def produce(pool: asyncpg.Pool, batch: list[Event], sealer: Sealer) -> float:
    """Events per second written to the outbox, ``BATCH`` per transaction."""
    started = time.perf_counter()
    for start in range(0, len(batch), BATCH):
        async with pool.acquire() as conn, conn.transaction():
            uow = PostgresUnitOfWork(
                conn, MessageContext(TENANT, "service:bench"), "/eps/bench", sealer=sealer
            )
            for event in batch[start : start + BATCH]:
                uow.publish(event)
            await uow.flush()
    elapsed = time.perf_counter() - started
    await pool.execute("TRUNCATE outbox")
    return len(batch) / elapsed


def consumer() -> EventConsumer:
    applying = EventConsumer(name="bench", topics=[topics.REFERRALS], batch_size=BATCH)

    @applying.on(ReferralReceived)
    async def opened(event: Envelope[ReferralReceived], uow: PostgresUnitOfWork) -> None:
        child: ChildForConsent | None = await uow.sealer.open_field(event, "child")
        assert child is not None
        await uow.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.data.child_id, child.date_of_birth
        )

    @applying.on(ReferralReceivedV1)
    async def plain(event: Envelope[ReferralReceivedV1], uow: PostgresUnitOfWork) -> None:
        data = event.data
        await uow.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", data.child_id, data.child_date_of_birth
        )

    return applying


async def records(batch: list[Event], sealer: Sealer) -> list[ConsumerRecord]:
    """The events as the relay would publish them (sealed by the same sealer)."""
    out = []
    for offset, event in enumerate(batch):
        data = await sealer.seal_event(event, TENANT)
        envelope = envelope_for(
            data, source="/eps/referrals", tenant=TENANT, actor="service:referrals"
        )
        value = envelope.model_dump_json().encode()
        out.append(
            ConsumerRecord(topics.REFERRALS.name, 0, offset, 0, 0, b"k", value, None, 1, 1, [])
        )
    return out


async def consume(pool: asyncpg.Pool, polled: list[ConsumerRecord], sealer: Sealer) -> float:
    """Events per second applied by the chassis consumer, ``BATCH`` per poll."""
    applying = consumer()
    applying.bind(ConsumerRuntime(pool=pool, service="bench", source="/bench", sealer=sealer))
    started = time.perf_counter()
    for start in range(0, len(polled), BATCH):
        assert await applying.process(polled[start : start + BATCH])
    elapsed = time.perf_counter() - started
    applied = await pool.fetchval("SELECT count(*) FROM effects")
    assert applied == len(polled), f"{applied} of {len(polled)} applied"
    await pool.execute("TRUNCATE effects, inbox, outbox")
    return len(polled) / elapsed


def bench(report: Report, count: int) -> Callable[[Infra, Path], Coroutine[Any, Any, None]]:
    async def run(infra: Infra, tmp: Path) -> None:
        schema = f"bench_sealing_{uuid.uuid4().hex[:8]}"
        (tmp / "0001_effects.sql").write_text(EFFECTS)
        await migrate(infra.database_url, schema, [CHASSIS_MIGRATIONS, tmp])
        pool = await create_pool(infra.database_url, schema, 2, 4)
        try:
            owner = InMemoryDataKeys()
            sealer = Sealer(CachedDataKeys(owner, ttl_s=3600))
            plain, sealed = events(count, sealed=False), events(count, sealed=True)
            # the same children again: their keys are cached (a child's later events)
            again = [e.model_copy() for e in sealed]
            report.add("produce: plain fields (v1)", "ev/s", await produce(pool, plain, sealer))
            report.add(
                "produce: sealed, cold keys (a new child each)",
                "ev/s",
                await produce(pool, sealed, sealer),
                baseline="produce: plain fields (v1)",
            )
            report.add(
                "produce: sealed, keys cached",
                "ev/s",
                await produce(pool, again, sealer),
                baseline="produce: plain fields (v1)",
            )
            plain_records = await records(plain, sealer)
            sealed_records = await records(sealed, sealer)
            report.add(
                "consume: plain fields (v1)", "ev/s", await consume(pool, plain_records, sealer)
            )
            report.add(
                "consume: opening the sealed field, keys cached",
                "ev/s",
                await consume(pool, sealed_records, sealer),
                baseline="consume: plain fields (v1)",
            )
            fresh = Sealer(CachedDataKeys(owner, ttl_s=3600))  # a consumer that just started
            report.add(
                "consume: opening the sealed field, cold keys",
                "ev/s",
                await consume(pool, sealed_records, fresh),
                baseline="consume: plain fields (v1)",
            )
        finally:
            await pool.close()
            conn = await asyncpg.connect(infra.database_url)
            try:
                await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            finally:
                await conn.close()

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = Report()
    repeated(args.repeats, bench(report, args.events))
    report.notes.append(
        f"  {args.events} events a run, {BATCH} per transaction (produce) and per poll (consume);"
        " keys from memory: a cold key under make run is also one request to the keys service"
        f" (os.cpu_count()={os.cpu_count()})"
    )
    return finish(report, "bench-sealing")


if __name__ == "__main__":
    sys.exit(main())
