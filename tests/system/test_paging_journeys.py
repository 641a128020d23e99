"""Paging as deployed: every service its own process, the far ends (GOV.UK Notify's and an SMTP
relay's stand-ins) a process of their own, and the journey walked through HTTP only: a
coordinator paged by SMS for an incident reported by phone and the EPs scheduling allocates
told by email (the LA's SMTP relay) where and when to go, each once, all of it recorded."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role

from tests.support.system import La, System
from tests.system.journeys import (
    eventually,
    ok,
    on_call,
    phoned_in_report,
    register_ep,
    register_school,
)

pytestmark = pytest.mark.integration

COORDINATOR_MOBILE = "+447700900101"


async def sent_to(system: System, destination: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        sent: list[dict[str, Any]] = ok(await client.get(system.sent_url))["sent"]
    return [m for m in sent if m["to"] in (destination, [destination])]


async def test_the_coordinator_is_paged_and_the_eps_going_are_told_where_and_when(
    system: System,
) -> None:
    la, school = La.new("paging"), "100011"
    coordinator = la.as_(Role.COORDINATOR, subject="coord-7")
    manager = la.as_(Role.PRINCIPAL_EP, subject="pep-7")
    eps = {"ep-p1": "ep-p1@example.org", "ep-p2": "ep-p2@example.org"}
    async with (
        system.client("scheduling") as scheduling,
        system.client("incidents") as incidents,
        system.client("notifications") as notifications,
    ):
        for ep_id in eps:
            await register_ep(scheduling, la, ep_id)
        await register_school(scheduling, la, school, "ep-p1")
        await on_call(incidents, la, "coord-7", "pep-7")
        contacts = {
            "contacts": [
                {"person_id": "coord-7", "mobile": COORDINATOR_MOBILE},
                *({"person_id": p, "email": e, "email_via": "smtp"} for p, e in eps.items()),
            ]
        }
        url = "/notifications/configuration/contacts"
        ok(await notifications.put(url, json=contacts, headers=manager))
        report = phoned_in_report(school, kind="serious_accident")
        reported = ok(await incidents.post("/incidents", json=report, headers=coordinator), 201)
        incident_id = reported["incident_id"]

        async def paged() -> list[dict[str, Any]]:
            return await sent_to(system, COORDINATOR_MOBILE)

        [sms] = await eventually(paged, "the coordinator paged by SMS")
        assert f"at school {school}" in sms["body"] and "level 2 (serious accident)" in sms["body"]
        assert sms["body"].endswith(f"Ref {uuid.UUID(incident_id).hex[:8]}.")

        async def allocated() -> list[dict[str, Any]] | None:
            view = ok(await incidents.get(f"/incidents/{incident_id}", headers=coordinator))
            eps_going: list[dict[str, Any]] = view["allocated_eps"]
            return eps_going or None

        going = await eventually(allocated, "EPs allocated")
        for ep in going:

            async def told(address: str = eps[ep["ep_id"]]) -> list[dict[str, Any]]:
                return await sent_to(system, address)

            [email] = await eventually(told, f"{ep['ep_id']} told")
            assert f"school {school}" in email["body"] and "Be there by" in email["body"]
        ok(await incidents.post(f"/incidents/{incident_id}/acknowledge", headers=coordinator))

        async def recorded() -> list[dict[str, Any]] | None:
            listed = ok(
                await notifications.get(
                    f"/notifications/incidents/{incident_id}", headers=coordinator
                )
            )["notifications"]
            return listed if all(n["status"] != "pending" for n in listed) else None

        listed = await eventually(recorded, "every message sent or settled")
        assert {(n["recipient"], n["channel"]) for n in listed} == {
            ("coord-7", "sms"),
            *((ep["ep_id"], "email") for ep in going),
        }
        await asyncio.sleep(1)  # more send rounds: still once
        assert len(await sent_to(system, COORDINATOR_MOBILE)) == 1
