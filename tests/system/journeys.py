"""Steps the journeys share: what an LA's staff do over HTTP to set up and move work along.

Every step goes through a service's public HTTP API as a person with a role would (or through
an upstream topic as an LA's own system would); nothing here writes to a service's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import httpx
from eps_chassis.auth import Role
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import Requester

from tests.support.builders import referrals as builders
from tests.support.clock import LONDON, suite_now, suite_today
from tests.support.kafka import wait_until
from tests.support.problems import fields
from tests.support.system import La

T = TypeVar("T")

ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]
WEEKDAYS = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)]


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 30.0
) -> T:
    """Wait until ``probe`` gives something (not None, not empty, not False); return it."""
    found: list[T] = []

    async def done() -> bool:
        value = await probe()
        if value:
            found[:] = [value]
            return True
        return False

    await wait_until(done, timeout_s=timeout_s, what=what)
    return found[0]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


async def register_ep(
    scheduling: httpx.AsyncClient,
    la: La,
    ep_id: str,
    *,
    role: str = "ep",
    pattern: list[dict[str, Any]] = ALL_DAY,
    on_rota: bool = True,
) -> None:
    body = {
        "ep_id": ep_id,
        "role": role,
        "working_pattern": pattern,
        "weekly_capacity_minutes": 7 * 24 * 60,
        "base_latitude": 52.64,
        "base_longitude": -1.14,
        "on_rota": on_rota,
    }
    ok(await scheduling.put(f"/scheduling/eps/{ep_id}", json=body, headers=la.as_(Role.ADMIN)))


async def register_school(
    scheduling: httpx.AsyncClient, la: La, school_urn: str, named_ep_id: str
) -> None:
    body = {
        "latitude": 52.6369,
        "longitude": -1.1398,
        "named_ep_id": named_ep_id,
        "effective_from": (suite_today() - timedelta(days=365)).isoformat(),
    }
    response = await scheduling.put(
        f"/scheduling/schools/{school_urn}", json=body, headers=la.as_(Role.ADMIN)
    )
    ok(response)


def academic_year(day: date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def london_at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


def started_quarter() -> datetime:
    """The quarter hour now is in, by the suite clock: an appointment from then has started,
    on today's London date."""
    now = suite_now().astimezone(LONDON)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def minutes_left_today(start: datetime) -> int:
    local = start.astimezone(LONDON)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), LONDON)
    return int((midnight - local).total_seconds() // 60)


async def referral_in_casework(
    la: La,
    referrals: httpx.AsyncClient,
    consent: httpx.AsyncClient,
    *,
    school_urn: str,
    ep_id: str,
) -> str:
    """A SENCO's referral, with consent recorded by the EP, accepted and in consultation."""
    senco = la.as_(Role.SENCO, school_urn=school_urn)
    ep = la.as_(Role.EP, subject=ep_id)
    request = builders.referral_requested(
        request_id=uuid.uuid4(),
        requested_on=suite_today(),
        requester=Requester(
            kind=RequesterKind.SCHOOL_SENCO,
            person_id="senco-1",
            name="Jo Patel",
            school_urn=school_urn,
        ),
        child=builders.child(school_urn=school_urn),
    )
    submitted = ok(
        await referrals.post(
            "/referrals/sources/school_senco",
            content=request.model_dump_json(),
            headers={**senco, "Content-Type": "application/json"},
        ),
        201,
    )
    referral_id = str(submitted["referral_id"])

    async def routed() -> bool:
        view = ok(await referrals.get(f"/referrals/{referral_id}", headers=ep))
        return bool(view["named_ep_id"] == ep_id)

    await eventually(routed, "the referral routed to the school's named EP")

    async def case_open() -> bool:
        return (await consent.get(f"/consent/{referral_id}", headers=ep)).status_code == 200

    await eventually(case_open, "the consent case opened")
    decision = {
        "consenter_id": "p-1",
        "scope": "involvement",
        "decision": "granted",
        "method": "signed_form",
        "decided_on": suite_today().isoformat(),
        "evidence_ref": "form-1",
    }
    ok(await consent.post(f"/consent/{referral_id}/decisions", json=decision, headers=ep), 201)

    async def awaiting_triage() -> bool:
        view = ok(await referrals.get(f"/referrals/{referral_id}", headers=ep))
        return bool(view["status"] == "awaiting_triage")

    await eventually(awaiting_triage, "consent reaching the referral")
    ok(await referrals.post(f"/referrals/{referral_id}/accept", headers=ep))
    stage = {"stage": "consultation"}
    ok(await referrals.post(f"/referrals/{referral_id}/casework", json=stage, headers=ep))
    return referral_id


async def book(
    scheduling: httpx.AsyncClient, la: La, body: dict[str, Any], *, ep_id: str
) -> dict[str, Any]:
    """Book as the EP; a booking for a child waits for consent to reach scheduling first."""
    headers = la.as_(Role.EP, subject=ep_id)

    async def booked() -> dict[str, Any] | None:
        response = await scheduling.post("/scheduling/appointments", json=body, headers=headers)
        if response.status_code == 422 and "referral_id" in fields(response):
            return None  # consent has not reached scheduling yet
        result: dict[str, Any] = ok(response, 201)
        return result

    return await eventually(booked, "the appointment booked")


async def on_call(
    incidents: httpx.AsyncClient, la: La, coordinator_id: str, principal_ep_id: str
) -> None:
    """The LA's escalation policy (15 minutes, then the principal EP) and ``coordinator_id``
    on call from an hour ago for a day."""
    manager = la.as_(Role.PRINCIPAL_EP, subject=principal_ep_id)
    policy = {
        "acknowledge_within_minutes": 15,
        "principal_ep_id": principal_ep_id,
        "rota_gap_lookahead_hours": 48,
    }
    ok(await incidents.put("/incidents/configuration/policy", json=policy, headers=manager))
    entry = {
        "coordinator_id": coordinator_id,
        "position": "primary",
        "starts_at": (suite_now() - timedelta(hours=1)).isoformat(),
        "ends_at": (suite_now() + timedelta(hours=24)).isoformat(),
    }
    ok(await incidents.post("/incidents/rota/entries", json=entry, headers=manager), 201)


def phoned_in_report(
    school_urn: str, *, kind: str = "sudden_death_of_pupil", minutes_ago: int = 30
) -> dict[str, Any]:
    """A level-2 incident as a headteacher reports it by phone (``POST /incidents``)."""
    return {
        "report_id": str(uuid.uuid4()),
        "school_urn": school_urn,
        "kind": kind,
        "occurred_at": (suite_now() - timedelta(minutes=minutes_ago)).isoformat(),
        "reported_by": "Headteacher, by phone",
        "pupils_affected": 30,
        "staff_affected": 3,
        "level": 2,
    }
