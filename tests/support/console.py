"""The console in tests: signing in through its development sign-in, as a browser would."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from eps_chassis.auth import Role, ensure_local_keys
from eps_chassis.service import ServiceRuntime
from eps_console.adapters.incidents_api import IncidentsApi
from eps_console.adapters.web import Console, use_console
from eps_console.bootstrap import SERVICE as CONSOLE
from eps_console.settings import ConsoleSettings
from eps_incidents.bootstrap import SERVICE as INCIDENTS_SERVICE

from tests.support.infra import Infra
from tests.support.services import KEYS_DIR, Namespace, running

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def development_sign_in() -> dict[str, Any]:
    """The console's settings for its development sign-in, with the suite's signing key."""
    private, _ = ensure_local_keys(KEYS_DIR)
    return {"console_dev_sign_in": True, "console_dev_signing_key_file": private}


@contextlib.asynccontextmanager
async def console_and_incidents(
    infra: Infra, ns: Namespace
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Incidents, and the console acting through it with its development sign-in: the
    incidents client (bearer tokens) and the console's (a browser's cookies)."""
    async with (
        running(INCIDENTS_SERVICE, infra, ns) as (_, incidents),
        running(CONSOLE, infra, ns, **development_sign_in()) as (console, client),
    ):
        acting_through(console, incidents)
        yield incidents, client


def acting_through(console: ServiceRuntime[Any], incidents: httpx.AsyncClient) -> None:
    """The console calls the in-process incidents service through ``incidents``'s transport."""
    settings = console.settings
    assert isinstance(settings, ConsoleSettings)
    state = Console.of(settings, console.definition.db_schema)
    state.incidents = IncidentsApi(incidents)
    use_console(console, state)


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, role: Role, *, tenant: str, subject: str) -> str:
    """Sign ``client`` in (its cookie jar keeps the session); the session's CSRF token."""
    form = await client.get("/console/dev/sign-in")
    assert form.status_code == 200, form.text
    signed = await client.post(
        "/console/dev/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "role": role.value,
            "la": tenant,
            "subject": subject,
        },
    )
    assert signed.status_code == 303, signed.text
    home = await client.get("/console", follow_redirects=True)
    return csrf_of(home.text)


async def eps_ready_for_the_school(
    scheduling: httpx.AsyncClient, admin: dict[str, str], eps: tuple[str, ...], school: str
) -> None:
    """EPs free at any hour (so a test runs whatever the hour) near ``school``, whose named
    EP is the first of them."""
    for ep in eps:
        body = {
            "ep_id": ep,
            "role": "ep",
            "working_pattern": [
                {"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)
            ],
            "weekly_capacity_minutes": 7 * 24 * 60,
            "base_latitude": 52.64,
            "base_longitude": -1.14,
            "on_rota": True,
        }
        put = await scheduling.put(f"/scheduling/eps/{ep}", json=body, headers=admin)
        assert put.status_code == 200, put.text
    where = {
        "latitude": 52.6369,
        "longitude": -1.1398,
        "named_ep_id": eps[0],
        "effective_from": "2026-09-01",
    }
    put = await scheduling.put(f"/scheduling/schools/{school}", json=where, headers=admin)
    assert put.status_code == 200, put.text
