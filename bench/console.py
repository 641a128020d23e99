"""The incident room, end to end: from a report's HTTP response to the board showing the
allocation in a real browser, and the board's live stream held open by many coordinators.

    uv run python bench/console.py [--incidents 100] [--coordinators 50] [--rounds 10]

Incidents, scheduling and the console each run in their own process, as deployed, on the real
broker and database; the board is open in headless Chromium (Debian's, driven by Playwright).
One incident at a time: a coordinator reports it over HTTP (incidents) -> the fast track
allocates two EPs -> incidents records the allocation -> the console's consumer writes its read
model and NOTIFYs on commit -> the board's SSE stream tells the page -> the page fetches its
rows -> the row shows both EPs. The clock runs from the report's HTTP response to that row
being in the page (Playwright's wait; its own round trip to the browser is a few ms).

Then ``--coordinators`` sessions each hold the board's live stream open while ``--rounds``
incidents are reported: per incident and coordinator, the time from the report's response to
the rows pushed on that coordinator's stream showing both EPs.

Beside them, in the same run: the fast-track round trip (report to allocation recorded in
incidents' database, ``bench/fast_track.py``'s measurement) and the raw Kafka two-hop trip.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import httpx
from eps_chassis.auth import Role, ensure_local_keys
from eps_console.bootstrap import SERVICE as CONSOLE
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_scheduling.bootstrap import SERVICE as SCHEDULING
from playwright.async_api import Page, async_playwright

from bench.baselines import two_hop_round_trip
from bench.fast_track import (
    KEYS,
    TENANT,
    Phase,
    bearer,
    drop_schemas,
    measure,
    own_process,
    report_body,
    seed,
)
from bench.harness import REPO, Infra, Report, percentile, provide_infra

CHROMIUM = os.environ.get("EPS_CHROMIUM", "/usr/bin/chromium")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def eps_of(rows: str, incident: str) -> str:
    """The EPs cell of an incident's row on the board."""
    row = rows.split(f'data-incident="{incident}"', 1)[1]
    return row.split('data-testid="eps">', 1)[1].split("</td>", 1)[0]


@contextlib.asynccontextmanager
async def console_process(
    infra: Infra, phase: Phase, incidents_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The console as deployed, acting through this incidents, with its development sign-in
    (the benchmark's local key)."""
    private, _ = ensure_local_keys(KEYS)
    own = {
        "EPS_CONSOLE_INCIDENTS_URL": incidents_url,
        "EPS_CONSOLE_DEV_SIGN_IN": "true",
        "EPS_CONSOLE_DEV_SIGNING_KEY_FILE": str(private),
    }
    before = {k: os.environ.get(k) for k in own}
    os.environ.update(own)  # the process inherits them beside the chassis's settings
    try:
        async with own_process(CONSOLE.definition(), infra, phase) as console:
            yield console
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def signed_in(client: httpx.AsyncClient, subject: str) -> None:
    """A coordinator's session in ``client``'s cookies, through the development sign-in."""
    form = await client.get("/console/dev/sign-in")
    found = CSRF.search(form.text)
    assert found, "no sign-in form"
    signed = await client.post(
        "/console/dev/sign-in",
        data={
            "csrf_token": found.group(1),
            "role": "coordinator",
            "la": TENANT,
            "subject": subject,
        },
    )
    assert signed.status_code == 303, signed.text


async def in_the_browser(console_url: str, incidents: httpx.AsyncClient, count: int) -> list[float]:
    """Milliseconds from each report's response to its allocation on the open board."""
    latencies: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page: Page = await (await browser.new_context(base_url=console_url)).new_page()
            await page.goto("/console/dev/sign-in")
            await page.check("#role-coordinator")
            await page.fill("#la", TENANT)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/console/board")
            await page.locator("#live-status", has_text="Live").wait_for()
            coordinator = bearer(Role.COORDINATOR)
            for _ in range(count):
                response = await incidents.post(
                    "/incidents", json=report_body(), headers=coordinator
                )
                response.raise_for_status()
                answered = time.perf_counter()
                incident = response.json()["incident_id"]
                eps = page.locator(f"tr[data-incident='{incident}'] [data-testid=eps]")
                await eps.filter(has_text=",").wait_for(timeout=30_000)  # both EPs shown
                latencies.append((time.perf_counter() - answered) * 1000)
        finally:
            await browser.close()
    return latencies


async def held_open(
    console_url: str, incidents: httpx.AsyncClient, coordinators: int, rounds: int
) -> tuple[list[float], int]:
    """``coordinators`` live streams open at once; per incident and coordinator, milliseconds
    from the report's response to their board holding its allocation. Also how many streams
    were open on the console (its gauge of open boards is the stream count)."""
    clients = [httpx.AsyncClient(base_url=console_url, timeout=60) for _ in range(coordinators)]
    for n, client in enumerate(clients):
        await signed_in(client, f"coord-{n}")
    current: dict[str, Any] = {"incident": None, "answered": 0.0}
    latencies: list[float] = []
    ready = asyncio.Semaphore(0)
    seen: set[int] = set()  # the coordinators whose board has the current incident

    async def coordinator(n: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/console/live?board=true") as stream:
            event, data = "", list[str]()
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event, data = line.split(":", 1)[1].strip(), []
                elif line.startswith("data:"):
                    data.append(line[5:])
                elif not line and event == "listening":
                    ready.release()
                elif not line and event == "board" and n not in seen:
                    rows, incident = "\n".join(data), current["incident"]
                    if incident and incident in rows and "," in eps_of(rows, incident):
                        latencies.append((time.perf_counter() - current["answered"]) * 1000)
                        seen.add(n)

    tasks = [asyncio.create_task(coordinator(n, c)) for n, c in enumerate(clients)]
    try:
        for _ in range(coordinators):
            async with asyncio.timeout(60):
                await ready.acquire()
        coordinator_token = bearer(Role.COORDINATOR)
        for _ in range(rounds):
            seen.clear()
            response = await incidents.post(
                "/incidents", json=report_body(), headers=coordinator_token
            )
            response.raise_for_status()
            current["answered"] = time.perf_counter()
            current["incident"] = response.json()["incident_id"]
            deadline = time.monotonic() + 30
            while len(seen) < coordinators and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        return latencies, len(clients)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.aclose()


async def run(
    infra: Infra, report: Report, incidents: int, coordinators: int, rounds: int, samples: int
) -> None:
    raw = await two_hop_round_trip(infra, samples)
    for pct in (50, 99):
        report.add(
            f"raw kafka two-hop round trip p{pct}",
            "ms",
            percentile(raw, pct),
            higher_is_better=False,
        )
    phase = Phase(f"benchcon{uuid.uuid4().hex[:8]}")
    try:
        async with (
            own_process(SCHEDULING.definition(), infra, phase) as scheduling,
            own_process(INCIDENTS.definition(), infra, phase) as incidents_client,
            console_process(infra, phase, str(incidents_client.base_url)) as console,
        ):
            await seed(scheduling, incidents_client)
            url = str(console.base_url)
            print(f"report -> board in the browser: {incidents} incidents ...", flush=True)
            board = await in_the_browser(url, incidents_client, incidents)
            print(f"{coordinators} live boards, {rounds} incidents ...", flush=True)
            held, streams = await held_open(url, incidents_client, coordinators, rounds)
            print(f"fast track round trip: {incidents} incidents ...", flush=True)
            fast_track, _, _ = await measure(infra, phase, incidents_client, incidents)
    finally:
        await drop_schemas(infra, phase)
        await drop_console_schema(infra, phase)
    measured = (
        ("fast track round trip", fast_track, "raw kafka two-hop round trip"),
        ("report -> board in browser", board, "fast track round trip"),
        (f"{coordinators} live boards: report -> board", held, "fast track round trip"),
    )
    for pct in (50, 99):
        for name, values, baseline in measured:
            report.add(
                f"{name} p{pct}",
                "ms",
                percentile(values, pct),
                baseline=f"{baseline} p{pct}",
                higher_is_better=False,
            )
    expected = coordinators * rounds
    report.notes.append(
        f"{streams} streams held open; {len(held)} of {expected} (coordinator, incident) boards"
        f" showed the allocation within 30 s; board in the browser: {len(board)} incidents"
        " (the board grows by one open incident each)"
    )


async def drop_console_schema(infra: Infra, phase: Phase) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {phase.schema('console')} CASCADE")
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--coordinators", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.disable(logging.INFO)
    report = Report()
    with provide_infra() as infra:
        asyncio.run(
            run(infra, report, args.incidents, args.coordinators, args.rounds, args.samples)
        )
    print(report.render())
    print(f"saved to {report.save(REPO / 'var' / 'bench' / 'console')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
