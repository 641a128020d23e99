"""Tariffs are the authority's data, kept over HTTP on the real broker and database: created,
reviewed, replaced (re-pricing what they priced), refused where they overlap, carried forward
to the next year as a draft that prices nothing until it is confirmed; every access audited."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eps_billing.bootstrap import SERVICE
from eps_chassis.auth import Role

from tests.support.builders import billing as builders
from tests.support.builders.billing import (
    SCHOOL,
    agreement_events,
    documents,
    documents_issued,
    drained,
    london,
    publish,
    register_schools,
    tariff_body,
)
from tests.support.clock import FakeClock
from tests.support.db import query, scalar
from tests.support.infra import Infra
from tests.support.kafka import wait_until
from tests.support.problems import fields, located, problem
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

FINANCE = bearer(Role.FINANCE)
ADMIN = bearer(Role.ADMIN)
SBM = bearer(Role.SCHOOL_BUSINESS_MANAGER, school_urn=SCHOOL)


async def audited(infra: Infra, ns: Namespace) -> list[tuple[str, str, str]]:
    rows = await query(
        infra,
        f"SELECT action, resource, outcome FROM {ns.schema('billing')}.audit_log ORDER BY id",
    )
    return [(r["action"], r["resource"], r["outcome"]) for r in rows]


async def test_finance_creates_reviews_and_replaces_a_tariff_and_overlaps_are_refused_by_date(
    infra: Infra, ns: Namespace
) -> None:
    clock = FakeClock(london(2026, 3, 2))
    async with running(SERVICE, infra, ns, clock=clock) as (_, client):
        [seeded] = (await client.get("/billing/tariffs", headers=FINANCE)).json()
        assert (seeded["status"], seeded["effective_from"], seeded["effective_to"]) == (
            "confirmed",
            "2025-09-01",
            "2026-08-31",
        )
        assert seeded["created_by"] == "migration" and seeded["sla"]["day_pence"] == 65000

        # Cornwall-style days of 6.5 hours, for the next year
        body = tariff_body(
            date(2026, 9, 1),
            date(2027, 8, 31),
            sla={**seeded["sla"], "day_minutes": 390, "day_pence": 68000},
            spot_rounding={"increment_minutes": 15, "mode": "nearest"},
        )
        created = await client.post("/billing/tariffs", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        tariff = created.json()
        assert (tariff["status"], tariff["revision"], tariff["created_by"]) == (
            "confirmed",
            1,
            "user:test-admin",
        )
        assert tariff["confirmed_at"] == clock.now.isoformat()
        assert tariff["sla"]["day_minutes"] == 390 and tariff["spot_rounding"]["mode"] == "nearest"
        assert tariff["priced_now"] == {"deliveries": 0, "late_cancellations": 0, "agreements": 0}

        for first, last, field in (
            (date(2026, 6, 1), date(2027, 5, 31), "effective_from"),  # starts inside 2025/26
            (date(2027, 8, 1), date(2028, 7, 31), "effective_from"),  # inside the new one
            (date(2024, 9, 1), date(2025, 9, 1), "effective_to"),  # ends inside 2025/26
        ):
            overlap = await client.post(
                "/billing/tariffs", json=tariff_body(first, last), headers=FINANCE
            )
            assert overlap.status_code == 409, overlap.text
            assert field in fields(overlap)
        for changes, field in (
            ({"sla": {**seeded["sla"], "min_days": 31}}, "sla.max_days"),
            ({"billing_period_months": 5}, "billing_period_months"),
            ({"effective_to": "2024-08-31"}, "effective_to"),
        ):
            invalid = await client.post(
                "/billing/tariffs",
                json=tariff_body(date(2024, 9, 1), date(2025, 8, 31), **changes),
                headers=FINANCE,
            )
            assert invalid.status_code == 422, invalid.text
            assert field in fields(invalid)
        unreadable = await client.post(
            "/billing/tariffs",
            json=tariff_body(date(2024, 9, 1), date(2025, 8, 31), grace_days="5"),
            headers=FINANCE,
        )
        assert unreadable.status_code == 422
        assert ("body", "grace_days") in located(unreadable)
        assert (await client.post("/billing/tariffs", json=body, headers=SBM)).status_code == 403
        assert (await client.get("/billing/tariffs", headers=SBM)).status_code == 403
        assert (await client.get("/billing/tariffs")).status_code == 401

        tariff_id = tariff["tariff_id"]
        clock.advance(days=1)
        replaced = await client.put(
            f"/billing/tariffs/{tariff_id}",
            json={**body, "grace_days": 10, "status": "draft"},  # the status stays confirmed
            headers=FINANCE,
        )
        assert replaced.status_code == 200, replaced.text
        assert (replaced.json()["revision"], replaced.json()["grace_days"]) == (2, 10)
        assert replaced.json()["status"] == "confirmed"
        read = (await client.get(f"/billing/tariffs/{tariff_id}", headers=FINANCE)).json()
        assert [
            (h["action"], h["revision"], h["rules"]["grace_days"]) for h in read["history"]
        ] == [
            ("created", 1, 5),
            ("replaced", 2, 10),
        ]
        moved_into = await client.put(
            f"/billing/tariffs/{seeded['tariff_id']}",
            json=tariff_body(date(2025, 9, 1), date(2026, 9, 30)),
            headers=FINANCE,
        )
        assert moved_into.status_code == 409
        assert "effective_to" in fields(moved_into)
        missing = await client.get(
            "/billing/tariffs/00000000-0000-0000-0000-000000000000", headers=FINANCE
        )
        assert missing.status_code == 404
        listed = (await client.get("/billing/tariffs", headers=FINANCE)).json()
        assert [t["effective_from"] for t in listed] == ["2025-09-01", "2026-09-01"]
        confirmed = await client.get("/billing/tariffs?status=draft", headers=FINANCE)
        assert confirmed.json() == []
    trail = await audited(infra, ns)
    assert ("create-tariff", f"tariff/{tariff_id}", "allowed") in trail
    assert [t for t in trail if t[0] == "create-tariff" and t[2] == "refused"] == [
        ("create-tariff", "tariffs", "refused")
    ] * 6
    assert ("replace-tariff", f"tariff/{tariff_id}", "allowed") in trail
    assert ("replace-tariff", f"tariff/{seeded['tariff_id']}", "refused") in trail
    assert ("read-tariff", f"tariff/{tariff_id}", "allowed") in trail
    assert ("read-tariff", "tariff/00000000-0000-0000-0000-000000000000", "not_found") in trail
    assert [t for t in trail if t[0] == "read-tariffs"] == [
        ("read-tariffs", "tariffs", "allowed")
    ] * 3


async def test_a_year_carried_forward_is_a_draft_that_prices_nothing_until_confirmed(
    infra: Infra, ns: Namespace
) -> None:
    september = [
        builders.recorded(SCHOOL, 60, date(2026, 9, 7 + i), at=london(2026, 9, 7 + i))
        for i in range(2)
    ]
    schema = ns.schema("billing")
    clock = FakeClock(london(2026, 9, 10))
    async with running(SERVICE, infra, ns, clock=clock) as (_, client):
        await register_schools(infra, ns, SCHOOL)
        await publish(infra, ns, september)
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="September consumed")
        [current] = (await client.get("/billing/tariffs", headers=FINANCE)).json()
        carried = await client.post(
            f"/billing/tariffs/{current['tariff_id']}/carry-forward", headers=FINANCE
        )
        assert carried.status_code == 201, carried.text
        draft = carried.json()
        assert (draft["status"], draft["effective_from"], draft["effective_to"]) == (
            "draft",
            "2026-09-01",
            "2027-08-31",
        )
        assert draft["carried_forward_from"] == current["tariff_id"]
        assert draft["confirmed_at"] is None
        assert draft["sla"] == current["sla"] and draft["spot_units"] == current["spot_units"]
        # a draft prices nothing: the time stays held
        held = (await client.get("/billing/unpriced", headers=FINANCE)).json()
        assert held["count"] == 2
        again = await client.post(
            f"/billing/tariffs/{current['tariff_id']}/carry-forward", headers=FINANCE
        )
        assert again.status_code == 409 and "effective_from" in fields(again)
        assert await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines") == 0

        confirmed = await client.post(
            f"/billing/tariffs/{draft['tariff_id']}/confirm", headers=FINANCE
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "confirmed"
        assert confirmed.json()["confirmed_by"] == "user:test-finance"
        assert confirmed.json()["priced_now"]["deliveries"] == 2
        assert (await client.get("/billing/unpriced", headers=FINANCE)).json()["count"] == 0
        twice = await client.post(f"/billing/tariffs/{draft['tariff_id']}/confirm", headers=FINANCE)
        assert twice.status_code == 200 and twice.json()["priced_now"]["deliveries"] == 0
        history = (
            await client.get(f"/billing/tariffs/{draft['tariff_id']}", headers=FINANCE)
        ).json()["history"]
    assert [h["action"] for h in history] == ["carried-forward", "confirmed"]
    assert await scalar(infra, f"SELECT sum(pence) FROM {schema}.ledger_lines") == 2 * 15000
    trail = await audited(infra, ns)
    assert ("carry-forward-tariff", f"tariff/{current['tariff_id']}", "allowed") in trail
    assert ("carry-forward-tariff", f"tariff/{current['tariff_id']}", "refused") in trail
    assert [t for t in trail if t[0] == "confirm-tariff"] == [
        ("confirm-tariff", f"tariff/{draft['tariff_id']}", "allowed")
    ] * 2


async def test_replacing_a_tariff_reprices_what_it_priced_on_the_next_documents(
    infra: Infra, ns: Namespace
) -> None:
    """October is invoiced at £150 an hour; the tariff is then corrected to £160 an hour and a
    longer SLA day. The hour's difference is an adjustment on November's invoice (October's
    stays as issued), the SLA's minutes follow the new day and are announced, and the
    replacement may not give up October, which it priced."""
    hour = builders.recorded(SCHOOL, 60, date(2025, 10, 6), at=london(2025, 10, 6))
    clock = FakeClock(london(2025, 11, 1))
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1) as (
        _,
        client,
    ):
        await register_schools(infra, ns, "222222")
        body = {"school_urn": "222222", "academic_year": 2025, "days": 5}
        bought = await client.post("/billing/agreements", json=body, headers=FINANCE)
        assert bought.status_code == 201, bought.text
        await publish(infra, ns, [hour])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="October consumed")
        clock.now = london(2025, 11, 6)  # October closes
        await documents_issued(infra, ns, 1)
        [tariff] = (await client.get("/billing/tariffs", headers=FINANCE)).json()
        rules: dict[str, Any] = tariff  # as read: what is not a rule is ignored
        units = [{**u, "pence": 16000} if u["name"] == "hour" else u for u in tariff["spot_units"]]
        shrunk = await client.put(
            f"/billing/tariffs/{tariff['tariff_id']}",
            json={**rules, "effective_from": "2025-11-01"},
            headers=FINANCE,
        )
        assert shrunk.status_code == 409, shrunk.text
        assert "effective_from" in fields(shrunk)
        assert "1 deliveries" in problem(shrunk)["detail"]
        replaced = await client.put(
            f"/billing/tariffs/{tariff['tariff_id']}",
            json={**rules, "spot_units": units, "sla": {**rules["sla"], "day_minutes": 390}},
            headers=FINANCE,
        )
        assert replaced.status_code == 200, replaced.text
        clock.now = london(2025, 12, 6)  # November closes
        await documents_issued(infra, ns, 2)
        slas = await agreement_events(infra, ns, 2)
    rows = await documents(infra, ns)
    assert [(r[0], r[3], r[10], r[11]) for r in rows] == [
        ("LEICESTER-CITY-INV-0000001", date(2025, 10, 1), 15000, False),
        ("LEICESTER-CITY-INV-0000002", date(2025, 11, 1), 1000, True),
    ]
    assert rows[1][8].startswith("adjustment: spot 1h00")
    [(bought_kind, first), (changed_kind, now)] = next(iter(slas.values()))
    assert (bought_kind, first["minutes"]) == ("sla-bought", 5 * 360)
    assert (changed_kind, now["minutes"], now["days"]) == ("sla-changed", 5 * 390, 5)
    assert now["reason"] == "the tariff for 2025/26 was replaced: a day is 6h30"
