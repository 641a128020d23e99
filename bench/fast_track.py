"""Critical-incident fast track, end to end on the real broker and database.

    uv run python bench/fast_track.py [--incidents 200] [--backlog 50000] [--samples 300]
                                      [--repeats 3] [--processes]

Both services run in the benchmark's event loop and are called over ASGI (``--processes``: each
in its own process, as deployed, called over HTTP). One incident at a time: a coordinator
reports it over HTTP (incidents commits the incident and
``FastTrackAllocationRequested`` in one transaction) -> the outbox relay publishes it -> the real
scheduling service's fast-track consumer allocates EPs and answers through its outbox ->
incidents' own consumer records the allocation. The clock stops when the allocation is in the
incidents database. Measured (a) idle and (b) while ``--backlog`` routine booking requests are
queued on ``eps.scheduling.booking-requests.v1`` and being processed, each beside the raw
two-hop Kafka round trip measured in the same run. Beside each phase, the CPU each part of the
system spent per incident (``bench/cpu.py``: the services, PostgreSQL, the broker), and the raw
trip's per round trip: with one incident at a time the parts mostly work one after another, so
what they spend per incident is close to a floor under the median, whatever the waits.

Targets (each run's and the median of the runs): idle p50 <= 3x the raw round trip p50, idle p99
<= 5x the raw round trip p99, p99 under backlog <= 1.5x idle p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from eps_chassis.auth import Role, ensure_local_keys, issue_token
from eps_chassis.service import ServiceDefinition, ServiceRuntime, create_app, ensure_topics
from eps_chassis.settings import ServiceSettings
from eps_contracts import all_topics, envelope_for
from eps_contracts.incidents import FAST_TRACK_REQUESTS
from eps_contracts.scheduling import (
    BOOKING_REQUESTS,
    FAST_TRACK_ALLOCATIONS,
    AppointmentBookingRequested,
    AppointmentKind,
    FundingStream,
)
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_scheduling.bootstrap import SERVICE as SCHEDULING

from bench import cpu
from bench.baselines import two_hop_round_trip_and_cpu
from bench.harness import REPO, Infra, Report, finish, percentile, provide_infra

TENANT = "leicester-city"  # a local authority the platform knows (others are refused)
SCHOOL = "123456"
EPS = 24  # all-day rota EPs: enough diary for every incident of a phase
WARM_UP = 10
# Records every partition of the fast track's two topics holds before measuring: a few past the
# broker's first index entry (written once 4 KiB, ``index.interval.bytes``, are in a partition;
# these records are about 1 KiB). That append faults in the partition's memory-mapped index, and
# took 40-80 ms on this machine (the broker's request log: its local time, at offsets 5 and 6
# and nowhere else). A deployment's topics are long past it; the benchmark's are new each phase.
SETTLED_RECORDS = 12
ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]
KEYS = REPO / "var" / "bench-keys"


def bearer(role: Role) -> dict[str, str]:
    private, _ = ensure_local_keys(KEYS)
    jwt = issue_token(private.read_bytes(), subject=f"bench-{role}", role=role, tenant=TENANT)
    return {"Authorization": f"Bearer {jwt}"}


@dataclass
class Phase:
    tag: str

    @property
    def prefix(self) -> str:
        return f"{self.tag}."

    def schema(self, service: str) -> str:
        return f"{service}_{self.tag}"


def service_settings(name: str, infra: Infra, phase: Phase) -> ServiceSettings:
    _, public = ensure_local_keys(KEYS)
    return ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=infra.database_url,
        topic_prefix=phase.prefix,
        db_schema=phase.schema(name),
        auth_public_key_file=public,
        log_level="WARNING",
    )


async def other_owners_topics(infra: Infra, phase: Phase) -> None:
    """Two of the six services run here: the topics the others own (and the scheduling
    consumes, such as statutory's booking requests) are created as they would create them."""
    await ensure_topics(infra.kafka_bootstrap, all_topics(), phase.prefix)


@contextlib.asynccontextmanager
async def in_this_process(
    definition: ServiceDefinition, infra: Infra, phase: Phase
) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app and runtime in the benchmark's own event loop, called over ASGI."""
    await other_owners_topics(infra, phase)
    settings = service_settings(definition.name, infra, phase)
    app = create_app(definition, settings)
    runtime: ServiceRuntime = app.state.runtime
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.broker_ready.wait(), 60)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client
    finally:
        await runtime.stop()


@contextlib.asynccontextmanager
async def own_process(
    definition: ServiceDefinition, infra: Infra, phase: Phase
) -> AsyncIterator[httpx.AsyncClient]:
    """The service as deployed: its own process (``python -m eps_<name>``), called over HTTP."""
    await other_owners_topics(infra, phase)
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = service_settings(definition.name, infra, phase).model_copy(
        update={"http_port": port}
    )
    env = {**os.environ, **settings.as_environment()}
    logs = REPO / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{phase.tag}-{definition.name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"eps_{definition.name}", env=env, stdout=log, stderr=log
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 90
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                if process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{definition.name} did not become ready: see {log.name}")
                await asyncio.sleep(0.2)
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def seed(scheduling: httpx.AsyncClient, incidents: httpx.AsyncClient) -> None:
    """EPs on the rota who work any hour, the school and its named EP, the LA's targets."""
    for n in range(EPS):
        ep_id = f"ep-{n:02d}"
        body = {
            "ep_id": ep_id,
            "role": "senior_ep" if n % 6 == 0 else "ep",
            "working_pattern": ALL_DAY,
            "weekly_capacity_minutes": 7 * 24 * 60,
            "base_latitude": 52.60 + n * 0.005,
            "base_longitude": -1.13,
            "on_rota": True,
        }
        response = await scheduling.put(
            f"/scheduling/eps/{ep_id}", json=body, headers=bearer(Role.ADMIN)
        )
        response.raise_for_status()
    school = {
        "latitude": 52.6369,
        "longitude": -1.1398,
        "named_ep_id": "ep-00",
        "effective_from": "2020-09-01",
    }
    response = await scheduling.put(
        f"/scheduling/schools/{SCHOOL}", json=school, headers=bearer(Role.ADMIN)
    )
    response.raise_for_status()
    # this LA blocks 30 minutes per EP for a level-2 first visit (the default is 3 hours)
    level_2 = {
        "eps_needed": 2,
        "on_site": True,
        "senior_lead_required": False,
        "response_minutes": 30,
        "allocate_within_minutes": 120,
        "first_contact_within_minutes": 240,
        "first_contact_same_day": False,
        "first_visit_within_minutes": 1440,
    }
    path, principal = "/incidents/configuration/levels", bearer(Role.PRINCIPAL_EP)
    levels = await incidents.get(path, headers=principal)
    levels.raise_for_status()
    response = await incidents.put(
        path, json={**levels.json(), "level_2": level_2}, headers=principal
    )
    response.raise_for_status()


async def queue_backlog(infra: Infra, phase: Phase, count: int) -> None:
    """Routine booking requests for statutory visits weeks ahead, all queued at once."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    later = datetime.now(UTC) + timedelta(days=30)
    try:
        futures = []
        for i in range(count):
            request = AppointmentBookingRequested(
                request_id=uuid.uuid4(),
                case_ref=f"advice:{uuid.uuid4()}",
                kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                school_urn=SCHOOL,
                duration_minutes=30,
                earliest=later + timedelta(days=i % 200),
                latest=later + timedelta(days=i % 200 + 1),
                funding_stream=FundingStream.STATUTORY,
            )
            envelope = envelope_for(
                request, source="/bench/statutory", tenant=TENANT, actor="service:statutory"
            )
            futures.append(
                await producer.send(
                    phase.prefix + BOOKING_REQUESTS.name,
                    envelope.model_dump_json().encode(),
                    key=envelope.subject.encode(),
                )
            )
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def fewest_fast_track_records(infra: Infra, phase: Phase) -> int:
    """Records in the emptiest partition of the fast track's two topics."""
    topics = [phase.prefix + t.name for t in (FAST_TRACK_REQUESTS, FAST_TRACK_ALLOCATIONS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics(topics)
        tps = [
            TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
        ]
        ends = await consumer.end_offsets(tps)
        return min(ends.values(), default=0)
    finally:
        await consumer.stop()
        await admin.close()


async def settle(infra: Infra, phase: Phase, client: httpx.AsyncClient) -> int:
    """Incidents reported and not measured until every partition of the fast track's topics
    holds ``SETTLED_RECORDS`` (see there): how many."""
    reported = 0
    while await fewest_fast_track_records(infra, phase) < SETTLED_RECORDS:
        if reported >= 500:
            raise RuntimeError("the fast track's partitions did not fill: keys all alike?")
        await measure(infra, phase, client, WARM_UP)
        reported += 2 * WARM_UP
    return reported


async def backlog_lag(infra: Infra, phase: Phase) -> int:
    """Routine requests not yet committed by scheduling's booking-requests consumer."""
    topic = phase.prefix + BOOKING_REQUESTS.name
    group = f"{phase.prefix}scheduling.booking-requests"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        [described] = await admin.describe_topics([topic])  # fresh metadata
        tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            lag += ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def report_body() -> dict[str, Any]:
    """A level-2 incident at the school, reported by telephone ten minutes after it happened."""
    now = datetime.now(UTC)
    return {
        "report_id": str(uuid.uuid4()),
        "school_urn": SCHOOL,
        "kind": "serious_accident",
        "occurred_at": (now - timedelta(minutes=10)).isoformat(),
        "reported_by": "Headteacher",
        "pupils_affected": 12,
        "staff_affected": 2,
        "level": 2,
    }


@dataclass(frozen=True)
class Timed:
    """One incident's report and the moment the benchmark saw its allocation recorded."""

    incident_id: uuid.UUID
    reported_at: datetime
    seen_at: datetime


HOPS = (
    "report over HTTP, until the request is in incidents' outbox",
    "incidents commits; its relay publishes (acks=all) and marks it",
    "scheduling polls and claims it",
    "scheduling allocates (its handler), until the answer is in its outbox",
    "scheduling commits; its relay publishes (acks=all) and marks it",
    "incidents polls and claims it",
    "incidents records the allocation and commits; the benchmark sees it",
)


async def hops(infra: Infra, phase: Phase, timed: list[Timed]) -> list[list[float]]:
    """Milliseconds spent in each hop (``HOPS``) by each incident, from the times both services
    wrote in their outbox and inbox rows (PostgreSQL's clock, the machine's, as the
    benchmark's): where the median goes, hop by hop, and the tail (p99). A relay marks a record
    published once the broker has acknowledged it; the consumer can claim it before the mark is
    written, so a polls-and-claims hop can be slightly negative."""
    conn = await asyncpg.connect(infra.database_url)
    incidents, scheduling = phase.schema("incidents"), phase.schema("scheduling")
    try:
        rows = await conn.fetch(
            f"SELECT convert_from(request.key, 'UTF8')::uuid AS incident_id,"
            f" request.created_at AS requested, request.published_at AS sent,"
            f" claimed.processed_at AS claimed, answer.created_at AS answered,"
            f" answer.published_at AS answer_sent, recorded.processed_at AS recorded"
            f" FROM {incidents}.outbox request"
            f" JOIN {scheduling}.inbox claimed ON claimed.event_id = request.event_id"
            f" JOIN {scheduling}.outbox answer ON answer.key = request.key"
            f"  AND answer.topic LIKE '%fast-track-allocations%'"
            f" JOIN {incidents}.inbox recorded ON recorded.event_id = answer.event_id"
            f" WHERE request.topic LIKE '%fast-track-requests%'"
        )
    finally:
        await conn.close()
    found = {r["incident_id"]: r for r in rows}
    spans = []
    for t in timed:
        r = found[t.incident_id]
        moments = [
            t.reported_at,
            r["requested"],
            r["sent"],
            r["claimed"],
            r["answered"],
            r["answer_sent"],
            r["recorded"],
            t.seen_at,
        ]
        spans.append([(b - a).total_seconds() * 1000 for a, b in pairwise(moments)])
    return spans


async def measure(
    infra: Infra, phase: Phase, client: httpx.AsyncClient, incidents: int
) -> tuple[list[float], int, list[Timed]]:
    """Milliseconds from the report to the allocation recorded, one incident at a time."""
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": phase.schema("incidents")}
    )
    changed = asyncio.Event()
    await conn.add_listener(f"{phase.schema('incidents')}_outbox", lambda *_: changed.set())
    poll = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": phase.schema("incidents")}
    )
    latencies: list[float] = []
    timed: list[Timed] = []
    shortfall = 0
    coordinator = bearer(Role.COORDINATOR)  # a coordinator's client holds its token
    try:
        for n in range(incidents + WARM_UP):
            reported_at = datetime.now(UTC)
            started = time.perf_counter()
            response = await client.post("/incidents", json=report_body(), headers=coordinator)
            response.raise_for_status()
            incident_id = uuid.UUID(response.json()["incident_id"])
            row: Any = None
            deadline = time.monotonic() + 30
            while row is None:
                changed.clear()
                row = await poll.fetchrow(
                    "SELECT (state->>'shortfall')::int AS shortfall FROM incidents"
                    " WHERE tenant = $1 AND incident_id = $2"
                    " AND state->>'allocated_at' IS NOT NULL OR (incident_id = $2 AND"
                    " (state->>'shortfall')::int > 0)",
                    TENANT,
                    incident_id,
                )
                if row is None:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"incident {incident_id} never saw its allocation")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 0.05)
            if n >= WARM_UP:
                latencies.append((time.perf_counter() - started) * 1000)
                timed.append(Timed(incident_id, reported_at, datetime.now(UTC)))
                shortfall += row["shortfall"]
        return latencies, shortfall, timed
    finally:
        await conn.close()
        await poll.close()


async def run_phase(
    infra: Infra, report: Report, name: str, incidents: int, backlog: int, in_process: bool
) -> list[float]:
    phase = Phase(f"benchft{uuid.uuid4().hex[:8]}")
    running = in_this_process if in_process else own_process
    try:
        async with (
            running(SCHEDULING.definition(), infra, phase) as scheduling,
            running(INCIDENTS.definition(), infra, phase) as client,
        ):
            await seed(scheduling, client)
            settled = await settle(infra, phase, client)
            report.notes.append(
                f"{name}: {settled} incidents reported first, not measured, until every partition"
                f" of the fast track's topics held {SETTLED_RECORDS} records"
            )
            if backlog:
                await queue_backlog(infra, phase, backlog)
                await asyncio.sleep(1)  # the routine consumer is under way
                before = await backlog_lag(infra, phase)
            used = cpu.cpu_seconds()
            latencies, shortfall, timed = await measure(infra, phase, client, incidents)
            # one incident at a time: the parts' CPU per incident is close to a floor under the p50
            for part, seconds in cpu.spent(used, cpu.cpu_seconds()).items():
                ms = seconds * 1000 / (incidents + WARM_UP)
                report.add(f"  {name}: CPU per incident, {part}", "ms", ms, higher_is_better=False)
            by_hop = list(zip(*await hops(infra, phase, timed), strict=True))
            for pct in (50, 99):  # the p99 of each hop shows which one the tail comes from
                for hop, spent in zip(HOPS, by_hop, strict=True):
                    report.add(f"  {name}: {hop} p{pct}", "ms", percentile(list(spent), pct),
                               higher_is_better=False)  # fmt: skip
            if backlog:
                after = await backlog_lag(infra, phase)
                report.notes.append(
                    f"{name}: routine requests still queued when measuring started / ended:"
                    f" {before:,} / {after:,} of {backlog:,}"
                )
                if after == 0:
                    report.notes.append(f"{name}: WARNING the backlog drained during the run")
            if shortfall:
                report.notes.append(f"{name}: {shortfall} EPs short over {incidents} incidents")
    finally:
        await drop_schemas(infra, phase)
    return latencies


async def drop_schemas(infra: Infra, phase: Phase) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        for service in ("incidents", "scheduling"):
            await conn.execute(f"DROP SCHEMA IF EXISTS {phase.schema(service)} CASCADE")
    finally:
        await conn.close()


async def run(
    infra: Infra, report: Report, incidents: int, backlog: int, samples: int, in_process: bool
) -> None:
    raw, raw_cpu = await two_hop_round_trip_and_cpu(infra, samples)
    for part, ms in raw_cpu.items():
        report.add(f"  raw two-hop: CPU per round trip, {part}", "ms", ms, higher_is_better=False)
    report.add(
        "raw kafka two-hop round trip p50", "ms", percentile(raw, 50), higher_is_better=False
    )
    report.add(
        "raw kafka two-hop round trip p99", "ms", percentile(raw, 99), higher_is_better=False
    )
    for name, queued in (("idle", 0), (f"{backlog:,} routine queued", backlog)):
        print(f"fast track, {name}: {incidents} incidents ...", flush=True)
        latencies = await run_phase(infra, report, name, incidents, queued, in_process)
        for pct in (50, 99):
            report.add(
                f"fast track {name} p{pct}",
                "ms",
                percentile(latencies, pct),
                baseline=f"raw kafka two-hop round trip p{pct}",
                higher_is_better=False,
            )


def verdicts(report: Report, backlog: int) -> list[str]:
    """The issue's three targets, run by run and as medians of the runs."""

    def runs(name: str) -> list[float]:
        return report.figures[name].runs

    queued = f"fast track {backlog:,} routine queued p99"
    lines = []
    for label, over, under, bound in (
        (
            "idle p50 / raw two-hop p50",
            "fast track idle p50",
            "raw kafka two-hop round trip p50",
            3,
        ),
        (
            "idle p99 / raw two-hop p99",
            "fast track idle p99",
            "raw kafka two-hop round trip p99",
            5,
        ),
        ("p99 under backlog / idle p99", queued, "fast track idle p99", 1.5),
    ):
        ratios = [a / b for a, b in zip(runs(over), runs(under), strict=True)]
        median = report.figures[over].median / report.figures[under].median
        met = sum(r <= bound for r in ratios)
        verdict = "met" if median <= bound else "NOT met"
        lines.append(
            f"{label} = {median:.2f}x (target <= {bound}x): {verdict}"
            f"; run by run {', '.join(f'{r:.2f}x' for r in ratios)} (met in {met} of {len(ratios)})"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run each service in its own process called over HTTP, as deployed, instead of"
        " both in the benchmark's event loop called over ASGI",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.disable(logging.INFO)  # the brokers' per-partition lines
    report = Report()
    with provide_infra() as infra:
        for n in range(args.repeats):
            print(f"run {n + 1}/{args.repeats} ...", flush=True)
            asyncio.run(
                run(infra, report, args.incidents, args.backlog, args.samples, not args.processes)
            )
    report.notes.extend(verdicts(report, args.backlog))
    return finish(report, "bench/fast-track")


if __name__ == "__main__":
    sys.exit(main())
