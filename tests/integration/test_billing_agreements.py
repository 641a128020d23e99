"""SLAs changed and cancelled by finance, on the real broker and database: every change of what a
school may book is announced on eps.billing.agreements.v1 with the agreement's whole state
(bought, days changed, time carried over moved, cancelled), in the transaction that made it, and
the year's delivered time is re-priced with the usual ledger lines."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest
from eps_billing.bootstrap import SERVICE
from eps_chassis.auth import Role

from tests.support.builders import billing as builders
from tests.support.builders.billing import (
    LEICESTER,
    SCHOOL,
    agreement_events,
    drained,
    london,
    next_years_tariff,
    publish,
    register_schools,
)
from tests.support.clock import FakeClock
from tests.support.db import query
from tests.support.infra import Infra
from tests.support.kafka import wait_until
from tests.support.problems import fields, problem
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

FINANCE = bearer(Role.FINANCE)
SBM = bearer(Role.SCHOOL_BUSINESS_MANAGER, school_urn=SCHOOL)


async def test_buying_changing_carrying_over_and_cancelling_an_sla_are_each_announced(
    infra: Infra, ns: Namespace
) -> None:
    """Leicester carries unused time over. 8 days in 2025/26 and 5 in 2026/27; 40 hours drawn
    in October 2025 (20 hours at a time) leave 8 hours to carry. Fewer days than the time drawn
    are refused; 7 days are fine; cancelling 2025/26 re-prices its 40 hours at spot and
    carries nothing over."""
    october = [
        builders.recorded(SCHOOL, 1200, date(2025, 10, 6 + i), at=london(2025, 10, 6 + i))
        for i in range(2)
    ]
    schema = ns.schema("billing")
    clock = FakeClock(london(2025, 11, 1))
    async with running(SERVICE, infra, ns, clock=clock) as (_, client):
        await next_years_tariff(client, FINANCE)
        await register_schools(infra, ns, SCHOOL)

        async def buy(year: int, days: int) -> dict[str, Any]:
            body = {"school_urn": SCHOOL, "academic_year": year, "days": days}
            bought = await client.post("/billing/agreements", json=body, headers=FINANCE)
            assert bought.status_code == 201, bought.text
            return dict(bought.json())

        this_year, next_year = await buy(2025, 8), await buy(2026, 5)
        assert next_year["minutes"] == 5 * 360 + 8 * 360  # this year's 8 days carried
        for delivery in october:  # one at a time: each moves the carry-over once
            await publish(infra, ns, [delivery])
            await wait_until(lambda: drained(infra, ns), timeout_s=30, what="October consumed")

        async def change(days: int, who: dict[str, str] = FINANCE) -> Any:
            return await client.put(
                f"/billing/agreements/{this_year['agreement_id']}/days",
                json={"days": days, "reason": "budget revised"},
                headers=who,
            )

        below = await change(6)  # 36 h < 40 h drawn
        assert below.status_code == 422 and "days" in fields(below)
        assert "already been drawn" in problem(below)["detail"]
        outside = await change(31)
        assert outside.status_code == 422 and "5 to 30 days" in problem(outside)["detail"]
        assert (await change(7, SBM)).status_code == 403
        changed = await change(7)
        assert changed.status_code == 200, changed.text
        assert (changed.json()["days"], changed.json()["minutes"]) == (7, 7 * 360)
        assert (await change(7)).status_code == 200  # the same days again: nothing changes

        async def cancel() -> Any:
            return await client.post(
                f"/billing/agreements/{this_year['agreement_id']}/cancellation",
                json={"reason": "the school withdrew"},
                headers=FINANCE,
            )

        cancelled = await cancel()
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["status"], cancelled.json()["minutes"]) == ("cancelled", 0)
        assert (await cancel()).status_code == 200  # again: nothing changes
        refused = await change(8)
        assert refused.status_code == 409 and "agreement_id" in fields(refused)
        balance = (await client.get(f"/billing/schools/{SCHOOL}/balance", headers=SBM)).json()
        slas = await agreement_events(infra, ns, 8)
    assert [(a["status"], a["minutes"], a["carried_minutes"]) for a in balance["agreements"]] == [
        ("cancelled", 0, 0),
        ("priced", 5 * 360, 0),
    ]

    def state(data: dict[str, Any]) -> tuple[int, int]:
        return data["days"], data["minutes"]

    assert [(k, state(d)) for k, d in slas[this_year["agreement_id"]]] == [
        ("sla-bought", (8, 8 * 360)),
        ("sla-changed", (7, 7 * 360)),
        ("sla-cancelled", (7, 0)),
    ]
    assert [(k, state(d)) for k, d in slas[next_year["agreement_id"]]] == [
        ("sla-bought", (5, 13 * 360)),  # 5 days and 8 carried over
        ("sla-changed", (5, 5 * 360 + 1680)),  # 20 h drawn in October: 28 h left to carry
        ("sla-changed", (5, 5 * 360 + 480)),  # 40 h drawn: 8 h left
        ("sla-changed", (5, 5 * 360 + 120)),  # 7 days: 2 h left
        ("sla-changed", (5, 5 * 360)),  # cancelled: nothing carried
    ]
    reasons = [d.get("reason") for _, d in slas[this_year["agreement_id"]]]
    assert reasons == [None, "days changed from 8 to 7: budget revised", "the school withdrew"]
    carried = [d["reason"] for k, d in slas[next_year["agreement_id"]] if k == "sla-changed"]
    assert carried == [
        "time carried over from 2025/26 changed from 48h00 to 28h00",
        "time carried over from 2025/26 changed from 28h00 to 8h00",
        "time carried over from 2025/26 changed from 8h00 to 2h00",
        "time carried over from 2025/26 changed from 2h00 to 0h00",
    ]
    # the 40 hours: from the SLA, then at spot once it was cancelled
    lines = await query(
        infra,
        f"SELECT delivery_id, sum(pence) AS pence, sum(sla_minutes) AS sla"
        f" FROM {schema}.ledger_lines GROUP BY delivery_id",
    )
    assert (
        sorted((r["pence"], r["sla"]) for r in lines) == [(LEICESTER.spot_cover(1200).pence, 0)] * 2
    )
    trail = await query(
        infra,
        f"SELECT action, outcome FROM {schema}.audit_log WHERE action IN"
        " ('buy-sla', 'change-sla', 'cancel-sla') ORDER BY id",
    )
    assert [(r["action"], r["outcome"]) for r in trail] == [
        ("buy-sla", "allowed"),
        ("buy-sla", "allowed"),
        ("change-sla", "refused"),
        ("change-sla", "refused"),
        ("change-sla", "allowed"),
        ("change-sla", "allowed"),
        ("cancel-sla", "allowed"),
        ("cancel-sla", "allowed"),
        ("change-sla", "refused"),
    ]


async def test_slas_bought_before_the_announcements_existed_are_announced_once(
    infra: Infra, ns: Namespace
) -> None:
    """An SLA recorded before this version (as the migration leaves it: priced, never
    announced) reaches scheduling through the announce-agreements job, once."""
    schema = ns.schema("billing")
    agreement_id = uuid.uuid4()
    clock = FakeClock(london(2025, 10, 1))
    async with running(SERVICE, infra, ns, clock=clock, billing_announce_interval_s=0.1):
        await query(
            infra,
            f"INSERT INTO {schema}.agreements (agreement_id, tenant, school_urn, valid_from,"
            " valid_to, days, day_pence, day_minutes, minutes)"
            " VALUES ($1, 'leicester-city', $2, '2025-09-01', '2026-08-31', 6, 65000, 360, 2160)",
            agreement_id,
            SCHOOL,
        )
        slas = await agreement_events(infra, ns, 1)
        await asyncio.sleep(0.5)  # several more runs of the job: nothing more to say
        again = await agreement_events(infra, ns, 1)
    assert slas == again
    [(kind, data)] = slas[str(agreement_id)]
    assert (kind, data["days"], data["minutes"], data["academic_year"]) == (
        "sla-bought",
        6,
        2160,
        2025,
    )
