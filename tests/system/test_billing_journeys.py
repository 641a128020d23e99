"""Journeys that end in billing, walked with all six services running as separate processes:
time delivered to a child's referral priced on a finalised invoice and its export; time that
arrives before its tariff priced when the tariff is added; an SLA bought in billing booked
against in scheduling with no other step. Each acts for a local authority of its own."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role

from tests.support.builders.billing import LEICESTER_RULES
from tests.support.clock import LONDON, suite_now, suite_today
from tests.support.problems import fields
from tests.support.system import La, System
from tests.system.journeys import (
    academic_year,
    book,
    eventually,
    london_at,
    minutes_left_today,
    ok,
    referral_in_casework,
    register_ep,
    register_school,
    started_quarter,
)

pytestmark = pytest.mark.integration


def tariff_for_this_year() -> dict[str, Any]:
    """Leicester City's 2025/26 rules, for the academic year the suite clock is in."""
    year = academic_year(suite_today())
    return {
        "effective_from": date(year, 9, 1).isoformat(),
        "effective_to": date(year + 1, 8, 31).isoformat(),
        **LEICESTER_RULES,
    }


async def add_tariff(billing: httpx.AsyncClient, finance: dict[str, str]) -> dict[str, Any]:
    created: dict[str, Any] = ok(
        await billing.post("/billing/tariffs", json=tariff_for_this_year(), headers=finance), 201
    )
    return created


async def traded_school(
    scheduling: httpx.AsyncClient, la: La, school: str, ep_id: str, *, direct_minutes: int = 0
) -> None:
    """A school with its named EP; ``direct_minutes`` of traded time bought outside billing."""
    await register_ep(scheduling, la, ep_id)
    await register_school(scheduling, la, school, ep_id)
    if direct_minutes:
        body = {
            "purchase_id": str(uuid.uuid4()),
            "academic_year": academic_year(suite_today()),
            "minutes": direct_minutes,
        }
        url = f"/scheduling/schools/{school}/traded-time"
        ok(await scheduling.post(url, json=body, headers=la.as_(Role.ADMIN)), 201)


async def deliver_an_hour_today(
    scheduling: httpx.AsyncClient, la: La, school: str, ep_id: str, **extra: Any
) -> dict[str, Any]:
    """Traded work that started this quarter hour, completed with an hour delivered."""
    start = started_quarter()
    appointment = await book(
        scheduling,
        la,
        {
            "kind": "consultation",
            "funding_stream": "traded",
            "starts_at": start.isoformat(),
            "duration_minutes": min(60, minutes_left_today(start)),
            "ep_id": ep_id,
            "school_urn": school,
            **extra,
        },
        ep_id=ep_id,
    )
    url = f"/scheduling/appointments/{appointment['appointment_id']}/complete"
    ep = la.as_(Role.EP, subject=ep_id)
    delivered: dict[str, Any] = ok(
        await scheduling.post(url, json={"delivered_minutes": 60}, headers=ep)
    )
    return delivered


async def test_a_traded_delivery_before_its_tariff_waits_unpriced_and_is_priced_when_added(
    system: System,
) -> None:
    la, school, ep_id = La.new("tariff"), "200001", "ep-tariff"
    finance = la.as_(Role.FINANCE, subject="fin-1")
    async with system.client("scheduling") as scheduling, system.client("billing") as billing:
        await traded_school(scheduling, la, school, ep_id, direct_minutes=600)
        delivery = await deliver_an_hour_today(scheduling, la, school, ep_id)

        async def unpriced() -> list[dict[str, Any]]:
            listed = ok(await billing.get("/billing/unpriced", headers=finance))
            return [i for i in listed["items"] if i["id"] == delivery["delivery_id"]]

        [waiting] = await eventually(unpriced, "the delivery held unpriced")
        created = await add_tariff(billing, finance)

        async def priced() -> list[dict[str, Any]]:
            draft = ok(await billing.get(f"/billing/schools/{school}/draft", headers=finance))
            return [x for x in draft["lines"] if x["delivery_id"] == delivery["delivery_id"]]

        [line] = await eventually(priced, "the delivery priced")
        still = await unpriced()
    assert "tariff" in str(waiting).lower()
    assert created["status"] == "confirmed"
    assert line["pence"] == 15000 and line["delivered_on"] == suite_today().isoformat()
    assert still == []
    dead = await system.dead_letters("billing", tenant=la.tenant)
    assert dead == []


async def test_an_sla_bought_in_billing_is_booked_against_in_scheduling_with_no_other_step(
    system: System,
) -> None:
    la, school, ep_id = La.new("sla"), "200002", "ep-sla"
    finance = la.as_(Role.FINANCE, subject="fin-1")
    year = academic_year(suite_today())
    async with system.client("scheduling") as scheduling, system.client("billing") as billing:
        await traded_school(scheduling, la, school, ep_id)
        ok(
            await billing.post("/billing/tariffs", json=tariff_for_this_year(), headers=finance),
            201,
        )
        body = {"school_urn": school, "academic_year": year, "days": 5}
        bought = await billing.post("/billing/agreements", json=body, headers=finance)
        assert bought.status_code in (201, 202), bought.text  # 202: the school not known yet
        visit_day = suite_today() + timedelta(days=3)
        appointment = await eventually(
            lambda: _traded_booking(scheduling, la, school, ep_id, visit_day),
            "a traded booking against the SLA",
        )
        allowance = ok(
            await scheduling.get(
                f"/scheduling/schools/{school}/allowances/{academic_year(visit_day)}",
                headers=la.as_(Role.SCHOOL_BUSINESS_MANAGER, school_urn=school),
            )
        )
    assert appointment["funding_stream"] == "traded"
    assert allowance["traded_minutes"] == 5 * 360
    assert [t["source"] for t in allowance["traded_time"]] == ["billing_sla"]
    assert allowance["traded_time"][0]["purchase_id"] == bought.json()["agreement_id"]


async def _traded_booking(
    scheduling: httpx.AsyncClient, la: La, school: str, ep_id: str, day: date
) -> dict[str, Any] | None:
    response = await scheduling.post(
        "/scheduling/appointments",
        json={
            "kind": "consultation",
            "funding_stream": "traded",
            "starts_at": london_at(day, 10).isoformat(),
            "duration_minutes": 180,
            "ep_id": ep_id,
            "school_urn": school,
        },
        headers=la.as_(Role.EP, subject=ep_id),
    )
    if response.status_code == 422 and "funding_stream" in fields(response):
        return None  # the SLA has not reached scheduling yet
    result: dict[str, Any] = ok(response, 201)
    return result


async def test_a_sencos_referral_ends_as_a_priced_line_on_a_finalised_invoice_and_its_export(
    system: System,
) -> None:
    """Referral, consent, casework, a traded booking delivered today, priced; then time passes
    for billing until the period closes: the invoice is issued with today's line, and the
    finance export carries it."""
    la, school, ep_id = La.new("invoice"), "200003", "ep-invoice"
    finance = la.as_(Role.FINANCE, subject="fin-1")
    async with (
        system.client("scheduling") as scheduling,
        system.client("referrals") as referrals,
        system.client("consent") as consent,
        system.client("billing") as billing,
    ):
        await traded_school(scheduling, la, school, ep_id, direct_minutes=600)
        ok(
            await billing.post("/billing/tariffs", json=tariff_for_this_year(), headers=finance),
            201,
        )
        referral_id = await referral_in_casework(
            la, referrals, consent, school_urn=school, ep_id=ep_id
        )
        delivery = await deliver_an_hour_today(
            scheduling, la, school, ep_id, referral_id=referral_id
        )

        async def on_the_draft() -> list[dict[str, Any]]:
            draft = ok(await billing.get(f"/billing/schools/{school}/draft", headers=finance))
            return [x for x in draft["lines"] if x["delivery_id"] == delivery["delivery_id"]]

        await eventually(on_the_draft, "the delivery priced on the draft")
    today = suite_today()
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    closes = datetime.combine(month_end + timedelta(days=1 + 5), time(0), LONDON)
    ahead = closes - suite_now() + timedelta(hours=12)
    system.restart("billing", clock_ahead=ahead)  # time passes for billing: the month closes
    try:
        async with system.client("billing") as billing:

            async def issued() -> list[dict[str, Any]]:
                documents = ok(
                    await billing.get(f"/billing/schools/{school}/documents", headers=finance)
                )
                return [d for d in documents if d["kind"] == "invoice"]

            [summary] = await eventually(issued, "the month's invoice issued")
            invoice = ok(
                await billing.get(f"/billing/documents/{summary['document_id']}", headers=finance)
            )
            issued_on = date.fromisoformat(invoice["issued_on"])
            export = await billing.get(
                "/billing/exports/documents.csv",
                params={"issued_from": issued_on.isoformat(), "issued_to": issued_on.isoformat()},
                headers=finance,
            )
    finally:
        system.restart("billing")
    [line] = [x for x in invoice["lines"] if x["delivery_id"] == delivery["delivery_id"]]
    assert line["pence"] == 15000 and line["delivered_on"] == today.isoformat()
    assert invoice["total_pence"] == 15000 and invoice["period_end"] == month_end.isoformat()
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    [row] = [r for r in rows if r["delivery_id"] == delivery["delivery_id"]]
    assert row["delivered_on"] == today.isoformat() and row["amount_gbp"] == "150.00"
    assert row["document_number"] == invoice["number"]
