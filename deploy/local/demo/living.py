"""The demo LA kept living (`make run LIVE=1`): through the day new referrals arrive from the
usual sources, now and then a school reports a critical incident (the coordinator on call is
paged through the notifications service and its stand-ins), and EPs complete the visits whose
time has come. Everything goes through the same doors as the loader."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from rich.console import Console

from demo.api import Api, DemoError
from demo.la import LONDON, SOURCES, DemoLa, Incident, Referral, demo_id
from demo.loader import Loader, report_of

REFERRAL_EVERY_S = 90.0  # about forty a working day, as a city service's busiest weeks
INCIDENT_EVERY_S = 15 * 60.0
COMPLETIONS_EVERY_S = 60.0
ANSWER_AFTER = timedelta(minutes=5)  # the coordinator on call acknowledges, paged or not
CLOSE_AFTER = timedelta(hours=2)  # from when it happened


async def live(api: Api, la: DemoLa, stop: threading.Event, console: Console) -> None:
    """Until ``stop`` is set: each kind of life on its own beat."""
    rng = random.Random()
    loader = Loader(api, la).already_loaded()
    reported: list[Incident] = []  # by this run, open: each closed after CLOSE_AFTER
    beats = (
        (REFERRAL_EVERY_S, lambda n: _new_referral(loader, la, rng, n)),
        (INCIDENT_EVERY_S, lambda n: _incident(api, la, rng, n, reported)),
        (COMPLETIONS_EVERY_S, lambda n: _close_handled(loader, reported)),
        (COMPLETIONS_EVERY_S, lambda n: _complete_due(loader, la)),
        (COMPLETIONS_EVERY_S, lambda n: _acknowledge_paged(api)),
    )
    async with asyncio.TaskGroup() as group:
        for every, act in beats:
            group.create_task(_beat(every, act, stop, console))


Act = Callable[[int], Awaitable[str | None]]


async def _beat(every: float, act: Act, stop: threading.Event, console: Console) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            said = await act(n)
            if said:
                console.print(f"[dim]living:[/] {said}")
        except (DemoError, OSError) as e:  # a service restarting: try again on the next beat
            console.print(f"[yellow]living: {e}[/]")
        waited = 0.0
        while waited < every and not stop.is_set():
            await asyncio.sleep(0.5)
            waited += 0.5


async def _new_referral(loader: Loader, la: DemoLa, rng: random.Random, n: int) -> str:
    template = rng.choice(la.referrals)
    now = loader.api.target.now()
    referral = replace(
        template,
        number=1000 + n,
        request_id=demo_id(la.tenant, "live-referral", now.isoformat()),
        source=rng.choice(SOURCES),
        target="awaiting_consent",
        school_urn=rng.choice(la.schools).urn,
        requested_on=now.astimezone(LONDON).date(),
        appointment_on=None,
        via_upstream=False,
    )
    referral = replace(
        referral,
        looked_after=referral.source in ("virtual_school", "social_worker", "foster_carer"),
    )
    await loader._walk_referral(referral)
    return f"a referral from {_said(referral)} for a child at {referral.school_urn}"


def _said(r: Referral) -> str:
    return r.source.replace("_", " ")


async def _incident(
    api: Api, la: DemoLa, rng: random.Random, n: int, reported: list[Incident]
) -> str | None:
    if n == 1:
        return None  # the first beat is at start: let the loaded LA be seen calm first
    now = api.target.now()
    school = rng.choice(la.schools)
    incident = Incident(
        report_id=demo_id(la.tenant, "live-incident", now.isoformat()),
        school_urn=school.urn,
        kind=rng.choice(("sudden_death_of_staff", "fire", "violence_or_assault")),
        level=2,
        occurred_at=now - timedelta(minutes=rng.randint(10, 50)),
        reported_by="Headteacher, through the LA's out-of-hours line",
        pupils_affected=rng.randint(5, 120),
        staff_affected=rng.randint(1, 10),
        description="Reported to the LA's out-of-hours line.",
        closed=False,
        via_upstream=True,
    )
    await api.publish(
        report_of(incident),
        system="out-of-hours",
        read_by="incidents",
        event_id=demo_id(la.tenant, "event", incident.report_id),
    )
    reported.append(incident)
    return f"a critical incident (level 2) at {school.name}: the coordinator on call is paged"


async def _close_handled(loader: Loader, reported: list[Incident]) -> str | None:
    """Incidents reported a while ago, seen through: first contact, a visit, follow-up, closed
    (the board keeps what is live, not a day's history)."""
    now = loader.api.target.now()
    due = [i for i in reported if now - i.occurred_at >= CLOSE_AFTER]
    for incident in due:
        await loader.walk_incident(replace(incident, closed=True))
        reported.remove(incident)
    return f"{len(due)} incident(s) closed" if due else None


async def _acknowledge_paged(api: Api) -> str | None:
    """The coordinator on call acknowledges what they were paged about a few minutes ago (the
    pages still waiting are withdrawn; one left longer would have escalated)."""
    now = api.target.now()
    rota = await api.call("incidents", "GET", "/incidents/rota", api.as_("admin", "eps-office"))
    on_call = rota.json()["primary"]
    if on_call is None:
        return None
    coordinator = api.as_("coordinator", on_call)
    listed = (await api.call("incidents", "GET", "/incidents", coordinator)).json()["incidents"]
    answered = 0
    for incident in listed:
        reported = datetime.fromisoformat(incident["reported_at"])
        if incident["acknowledged_by"] is None and now - reported >= ANSWER_AFTER:
            url = f"/incidents/{incident['incident_id']}/acknowledge"
            response = await api.call("incidents", "POST", url, coordinator, ok=(200, 403, 409))
            answered += response.status_code == 200
    return f"{on_call} acknowledged {answered} incident(s)" if answered else None


async def _complete_due(loader: Loader, la: DemoLa) -> str | None:
    """Each EP's visits that have ended, completed with the time they took."""
    now = loader.api.target.now()
    window = {"start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()}
    done = 0
    for ep in la.eps:
        headers = loader.ep(ep.ep_id)
        rows = (
            await loader.api.call(
                "scheduling", "GET", f"/scheduling/eps/{ep.ep_id}/diary", headers, params=window
            )
        ).json()
        for row in rows:
            ended = row["status"] == "booked" and row["ends_at"] <= now.isoformat()
            if ended and row["kind"] != "critical_incident_response":
                minutes = _minutes(row["starts_at"], row["ends_at"])
                url = f"/scheduling/appointments/{row['appointment_id']}/complete"
                await loader.api.call(
                    "scheduling",
                    "POST",
                    url,
                    headers,
                    json={"delivered_minutes": minutes},
                    ok=(200, 409, 422),
                )
                done += 1
    return f"{done} visits completed" if done else None


def _minutes(start: str, end: str) -> int:
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return max(1, int(delta.total_seconds() // 60))
