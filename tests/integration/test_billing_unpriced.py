"""Nothing priced is lost for want of data, on the real broker and database: delivered time, a
late cancellation and an SLA that cannot be priced yet (no confirmed tariff, or a school billing
has not heard of) are held unpriced, shown to finance with the reason and counted in a metric,
never dead-lettered, and priced by themselves once the data arrives, in their own billing
period (an adjustment on the next invoice where that period was closed) and draw order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest
from eps_billing.bootstrap import SERVICE
from eps_billing.domain.cancellation import charge_id
from eps_billing.domain.pricing import Agreement, Delivery, price_deliveries
from eps_chassis.auth import Role
from eps_contracts.scheduling import CancellationParty, FundingStream
from prometheus_client.parser import text_string_to_metric_families

from tests.support.builders import billing as builders
from tests.support.builders.billing import (
    LEICESTER,
    OTHER_SCHOOL,
    SCHOOL,
    agreement_events,
    cancellations_drained,
    documents,
    documents_issued,
    drained,
    london,
    publish,
    publish_cancellations,
    register_schools,
    tariff_body,
)
from tests.support.clock import FakeClock
from tests.support.db import query, scalar
from tests.support.infra import Infra
from tests.support.kafka import read_topic, wait_until
from tests.support.problems import fields
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

FINANCE = bearer(Role.FINANCE)
SBM = bearer(Role.SCHOOL_BUSINESS_MANAGER, school_urn=SCHOOL)
NEXT_YEAR = tariff_body(date(2026, 9, 1), date(2027, 8, 31))


def gauge(text: str, item: str, reason: str = "no_tariff") -> float | None:
    for family in text_string_to_metric_families(text):
        if family.name != "eps_billing_unpriced":
            continue
        for sample in family.samples:
            if sample.labels == {"service": "billing", "item": item, "reason": reason}:
                return float(sample.value)
    return None


async def dead_letters(infra: Infra, ns: Namespace) -> list[Any]:
    return await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.billing.v1"))


async def test_traded_time_before_its_tariff_is_held_then_priced_in_its_own_closed_period(
    infra: Infra, ns: Namespace
) -> None:
    """August 2026 has a tariff, September does not yet. September's time waits, shown to
    finance and counted, while August and September close (September on a day of August
    recorded late); the 2026/27 tariff arrives in October and prices September's time in
    September, so it goes on October's invoice as an adjustment, beside October's own time."""
    august = builders.recorded(SCHOOL, 60, date(2026, 8, 20), at=london(2026, 8, 20))
    august_late = builders.recorded(SCHOOL, 120, date(2026, 8, 27), at=london(2026, 9, 16))
    september = builders.recorded(SCHOOL, 240, date(2026, 9, 10), at=london(2026, 9, 10))
    core = builders.recorded(SCHOOL, 120, date(2026, 9, 11), FundingStream.CORE)
    elsewhere = builders.recorded(OTHER_SCHOOL, 60, date(2026, 9, 14), at=london(2026, 9, 14))
    october = builders.recorded(SCHOOL, 180, date(2026, 10, 5), at=london(2026, 10, 5))
    schema = ns.schema("billing")
    clock = FakeClock(london(2026, 9, 15))  # August has closed: its invoice is issued
    async with running(
        SERVICE,
        infra,
        ns,
        clock=clock,
        billing_finalise_interval_s=0.1,
        billing_unpriced_report_interval_s=0.1,
    ) as (_, client):
        await publish(infra, ns, [august, september, core, elsewhere])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="time consumed")
        await documents_issued(infra, ns, 1)
        held = (await client.get("/billing/unpriced", headers=FINANCE)).json()
        assert [(i["item"], i["id"], i["dated"], i["reason_kind"]) for i in held["items"]] == [
            ("delivery", str(september.data.delivery_id), "2026-09-10", "no_tariff"),
            ("delivery", str(elsewhere.data.delivery_id), "2026-09-14", "no_tariff"),
        ]
        assert held["items"][0]["reason"] == (
            "leicester-city has no confirmed tariff in force on 2026-09-10"
        )
        own = (await client.get("/billing/unpriced", headers=SBM)).json()
        assert (own["school_urn"], [i["id"] for i in own["items"]]) == (
            SCHOOL,
            [str(september.data.delivery_id)],
        )
        other = await client.get(f"/billing/unpriced?school_urn={OTHER_SCHOOL}", headers=SBM)
        assert other.status_code == 403
        senco = bearer(Role.SENCO, school_urn=SCHOOL)
        assert (await client.get("/billing/unpriced", headers=senco)).status_code == 403

        async def counted(expected: float) -> bool:
            text = (await client.get("/metrics")).text
            return gauge(text, "delivery") == expected and gauge(text, "agreement") == 0

        await wait_until(lambda: counted(2), timeout_s=15, what="two deliveries counted")

        await publish(infra, ns, [august_late])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="late August consumed")
        clock.now = london(2026, 10, 6)  # September closes, with August's late day
        await documents_issued(infra, ns, 2)
        assert await _finalised(infra, schema, date(2026, 9, 1))
        await publish(infra, ns, [october])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="October consumed")
        created = await client.post("/billing/tariffs", json=NEXT_YEAR, headers=FINANCE)
        assert created.status_code == 201, created.text
        assert created.json()["priced_now"]["deliveries"] == 3
        assert (await client.get("/billing/unpriced", headers=FINANCE)).json()["count"] == 0
        await wait_until(lambda: counted(0), timeout_s=15, what="nothing counted")
        clock.now = london(2026, 11, 6)  # October closes
        await documents_issued(infra, ns, 4)
    rows = await documents(infra, ns)
    lines = [(r[0], r[2], r[3], r[6], r[7], r[10], r[11]) for r in rows]
    assert lines == [
        ("LEICESTER-CITY-INV-0000001", SCHOOL, date(2026, 8, 1), august.data.delivery_id,
         date(2026, 8, 20), 15000, False),
        ("LEICESTER-CITY-INV-0000002", SCHOOL, date(2026, 9, 1), august_late.data.delivery_id,
         date(2026, 8, 27), 30000, True),
        ("LEICESTER-CITY-INV-0000003", SCHOOL, date(2026, 10, 1), september.data.delivery_id,
         date(2026, 9, 10), 55000, True),
        ("LEICESTER-CITY-INV-0000003", SCHOOL, date(2026, 10, 1), october.data.delivery_id,
         date(2026, 10, 5), 40000, False),
        ("LEICESTER-CITY-INV-0000004", OTHER_SCHOOL, date(2026, 10, 1),
         elsewhere.data.delivery_id, date(2026, 9, 14), 15000, True),
    ]  # fmt: skip
    # the September line belongs to September, already closed
    periods = await query(
        infra,
        f"SELECT delivery_id, period_start FROM {schema}.ledger_lines WHERE delivery_id = $1",
        september.data.delivery_id,
    )
    assert [r["period_start"] for r in periods] == [date(2026, 9, 1)]
    # invoiced = the priced value of the time (core time free), nothing dead-lettered
    assert sum(r[10] for r in rows) == 15000 + 30000 + 55000 + 40000 + 15000
    assert await dead_letters(infra, ns) == []


async def _finalised(infra: Infra, schema: str, period_start: date) -> bool:
    found = await scalar(
        infra,
        f"SELECT count(*) FROM {schema}.finalised_periods WHERE period_start = $1",
        period_start,
    )
    return int(found) == 1


async def test_a_late_cancellation_before_its_tariff_is_judged_when_the_tariff_arrives(
    infra: Infra, ns: Namespace
) -> None:
    late_id, by_service_id = uuid.uuid4(), uuid.uuid4()
    late = builders.cancelled(
        SCHOOL, london(2026, 9, 21), 120, london(2026, 9, 15), appointment_id=late_id
    )
    by_service = builders.cancelled(
        SCHOOL,
        london(2026, 9, 22),
        120,
        london(2026, 9, 21),
        appointment_id=by_service_id,
        by=CancellationParty.SERVICE,
    )
    schema = ns.schema("billing")
    clock = FakeClock(london(2026, 9, 23))
    async with running(SERVICE, infra, ns, clock=clock, billing_unpriced_report_interval_s=0.1) as (
        _,
        client,
    ):
        await publish_cancellations(infra, ns, [late, by_service, late])
        await wait_until(lambda: cancellations_drained(infra, ns), timeout_s=30, what="consumed")
        [held] = (await client.get("/billing/unpriced", headers=FINANCE)).json()["items"]
        assert (held["item"], held["id"], held["dated"], held["minutes"]) == (
            "late_cancellation",
            str(late_id),
            "2026-09-21",
            120,
        )
        assert held["reason"] == "leicester-city has no confirmed tariff in force on 2026-09-21"

        async def counted(expected: float) -> bool:
            return gauge((await client.get("/metrics")).text, "late_cancellation") == expected

        await wait_until(lambda: counted(1), timeout_s=15, what="the cancellation counted")
        waive = await client.post(
            f"/billing/cancellation-charges/{late_id}/waiver",
            json={"reason": "bereavement"},
            headers=FINANCE,
        )
        assert waive.status_code == 409 and "appointment_id" in fields(waive)
        created = await client.post("/billing/tariffs", json=NEXT_YEAR, headers=FINANCE)
        assert created.json()["priced_now"]["late_cancellations"] == 1
        await wait_until(lambda: counted(0), timeout_s=15, what="nothing counted")
        # judged now, the same cancellation sent again (a new event) still changes nothing
        again = builders.cancelled(
            SCHOOL, london(2026, 9, 21), 120, london(2026, 9, 16), appointment_id=late_id
        )
        await publish_cancellations(infra, ns, [again])
        await wait_until(lambda: cancellations_drained(infra, ns), timeout_s=30, what="consumed")
    judged = {
        r["appointment_id"]: (r["charged_minutes"], r["charge_id"], r["held_reason"])
        for r in await query(infra, f"SELECT * FROM {schema}.cancellations")
    }
    assert judged == {
        late_id: (120, charge_id(late_id), None),
        by_service_id: (0, None, None),  # the service's cancellation needed no tariff
    }
    [line] = await query(infra, f"SELECT * FROM {schema}.ledger_lines")
    assert (line["delivery_id"], line["delivered_on"], line["pence"]) == (
        charge_id(late_id),
        date(2026, 9, 21),
        30000,
    )
    assert line["description"].startswith("late cancellation: spot 2h00")
    assert await dead_letters(infra, ns) == []


async def test_an_sla_bought_before_its_tariff_is_priced_and_announced_when_it_arrives(
    infra: Infra, ns: Namespace
) -> None:
    """The SLA waits (202, unpriced, no event), the school's time waits too; when the tariff
    arrives the SLA is priced first and the time draws on it in the order scheduling recorded
    it, whatever order it arrived in. An SLA whose days fall outside the tariff's limits keeps
    waiting, with that reason, until finance changes its days."""
    recorded = [
        builders.recorded(SCHOOL, minutes, date(2026, 9, 7 + i), at=london(2026, 9, 7 + i))
        for i, minutes in enumerate((1200, 480, 360))
    ]
    clock = FakeClock(london(2026, 9, 20))
    async with running(SERVICE, infra, ns, clock=clock) as (_, client):
        await register_schools(infra, ns, SCHOOL, OTHER_SCHOOL)
        body = {"school_urn": SCHOOL, "academic_year": 2026, "days": 5}
        bought = await client.post("/billing/agreements", json=body, headers=FINANCE)
        assert bought.status_code == 202, bought.text
        sla = bought.json()
        assert (sla["status"], sla["minutes"], sla["reason_kind"]) == ("unpriced", 0, "no_tariff")
        assert sla["reason"] == "leicester-city has no confirmed tariff in force on 2026-09-01"
        too_many = await client.post(
            "/billing/agreements",
            json={"school_urn": OTHER_SCHOOL, "academic_year": 2026, "days": 40},
            headers=FINANCE,
        )
        assert too_many.status_code == 202, too_many.text
        again = await client.post("/billing/agreements", json=body, headers=FINANCE)
        assert again.status_code == 409 and "academic_year" in fields(again)
        await publish(infra, ns, [recorded[2], recorded[0], recorded[1]])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="time consumed")
        assert await read_topic(infra.kafka_bootstrap, ns.topic("eps.billing.agreements.v1")) == []

        created = await client.post("/billing/tariffs", json=NEXT_YEAR, headers=FINANCE)
        assert created.json()["priced_now"] == {
            "deliveries": 3,
            "late_cancellations": 0,
            "agreements": 1,
        }
        priced = (
            await client.get(f"/billing/agreements/{sla['agreement_id']}", headers=SBM)
        ).json()
        assert (priced["status"], priced["minutes"], priced["drawn_minutes"]) == (
            "priced",
            5 * 360,
            5 * 360,
        )
        waiting = (
            await client.get(
                f"/billing/agreements/{too_many.json()['agreement_id']}", headers=FINANCE
            )
        ).json()
        assert (waiting["status"], waiting["reason_kind"]) == ("unpriced", "days_outside_limits")
        assert "5 to 30 days a year" in waiting["reason"]
        stranger = await client.get(
            f"/billing/agreements/{too_many.json()['agreement_id']}", headers=SBM
        )
        assert stranger.status_code == 403
        changed = await client.put(
            f"/billing/agreements/{too_many.json()['agreement_id']}/days",
            json={"days": 10, "reason": "the school meant ten"},
            headers=FINANCE,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["status"], changed.json()["minutes"]) == ("priced", 10 * 360)
        slas = await agreement_events(infra, ns, 2)
    assert slas[sla["agreement_id"]] == [
        (
            "sla-bought",
            {
                "agreement_id": sla["agreement_id"],
                "school_urn": SCHOOL,
                "academic_year": 2026,
                "valid_from": "2026-09-01",
                "valid_to": "2027-08-31",
                "days": 5,
                "minutes": 5 * 360,
            },
        )
    ]
    assert [(k, d["days"]) for k, d in slas[too_many.json()["agreement_id"]]] == [
        ("sla-bought", 10)
    ]
    deliveries = [
        Delivery(
            e.data.delivery_id,
            SCHOOL,
            e.data.delivered_on,
            e.data.minutes,
            e.data.funding_stream,
            e.time,
        )
        for e in recorded
    ]
    expected, _ = price_deliveries(
        deliveries,
        lambda _: LEICESTER,
        [Agreement(uuid.uuid4(), SCHOOL, date(2026, 9, 1), date(2027, 8, 31), 5 * 360)],
    )
    rows = await query(
        infra,
        f"SELECT delivery_id, sla_minutes, pence FROM {ns.schema('billing')}.priced_deliveries",
    )
    assert {r["delivery_id"]: (r["sla_minutes"], r["pence"]) for r in rows} == {
        p.delivery_id: (p.sla_minutes, p.pence) for p in expected
    }
    # drawn in recorded order: 20 h, 8 h, then 2 h of the last 6 h with 4 h at spot (550)
    assert [(p.sla_minutes, p.pence) for p in expected] == [(1200, 0), (480, 0), (120, 55000)]


async def test_an_sla_for_a_school_billing_has_not_heard_of_waits_for_scheduling_to_register_it(
    infra: Infra, ns: Namespace
) -> None:
    """Time delivered at the school meanwhile is priced (scheduling records time only for
    schools it knows) and re-priced against the SLA once it is priced. An SLA for a mistyped
    URN is cancelled by finance, never having been announced."""
    newcomer, typo = "777777", "777778"
    delivered = builders.recorded(newcomer, 240, date(2025, 10, 6), at=london(2025, 10, 6))
    schema = ns.schema("billing")
    clock = FakeClock(london(2025, 10, 10))
    async with running(SERVICE, infra, ns, clock=clock, billing_unpriced_report_interval_s=0.1) as (
        _,
        client,
    ):
        ids = {}
        for school in (newcomer, typo):
            body = {"school_urn": school, "academic_year": 2025, "days": 5}
            bought = await client.post("/billing/agreements", json=body, headers=FINANCE)
            assert bought.status_code == 202, bought.text
            assert bought.json()["reason_kind"] == "unknown_school"
            ids[school] = bought.json()["agreement_id"]
        await publish(infra, ns, [delivered])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="time consumed")
        assert await scalar(infra, f"SELECT sum(pence) FROM {schema}.ledger_lines") == 55000

        async def counted(expected: float) -> bool:
            text = (await client.get("/metrics")).text
            return gauge(text, "agreement", "unknown_school") == expected

        await wait_until(lambda: counted(2), timeout_s=15, what="two SLAs counted")
        held = (await client.get("/billing/unpriced", headers=FINANCE)).json()
        assert sorted((i["item"], i["school_urn"]) for i in held["items"]) == [
            ("agreement", newcomer),
            ("agreement", typo),
        ]
        await register_schools(infra, ns, newcomer)
        cancelled = await client.post(
            f"/billing/agreements/{ids[typo]}/cancellation",
            json={"reason": "URN mistyped"},
            headers=FINANCE,
        )
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
            "cancelled",
            "URN mistyped",
        )
        await wait_until(lambda: counted(0), timeout_s=15, what="nothing counted")
        balance = (await client.get(f"/billing/schools/{newcomer}/balance", headers=FINANCE)).json()
        slas = await agreement_events(infra, ns, 1)
    [agreement] = balance["agreements"]
    assert (agreement["status"], agreement["minutes"], agreement["drawn_minutes"]) == (
        "priced",
        5 * 360,
        240,
    )
    assert [(k, d["school_urn"]) for k, d in slas[ids[newcomer]]] == [("sla-bought", newcomer)]
    assert ids[typo] not in slas  # never priced, so never announced
    lines = await query(
        infra, f"SELECT pence, sla_minutes FROM {schema}.ledger_lines ORDER BY line_id"
    )
    # charged at spot when delivered, credited when the SLA took it over
    assert [(r["pence"], r["sla_minutes"]) for r in lines] == [(55000, 0), (-55000, 240)]
    assert await dead_letters(infra, ns) == []
    trail = await query(
        infra, f"SELECT action, outcome FROM {schema}.audit_log WHERE action LIKE '%sla'"
    )
    assert sorted((r["action"], r["outcome"]) for r in trail) == [
        ("buy-sla", "allowed"),
        ("buy-sla", "allowed"),
        ("cancel-sla", "allowed"),
    ]


async def test_time_arriving_while_its_tariff_is_created_is_never_left_held(
    infra: Infra, ns: Namespace
) -> None:
    """The tariff's pass over what was held and the consumer pricing new time take the
    authority's pricing lock (exclusive and shared): time priced concurrently either sees the
    tariff or is seen by its pass, never neither."""
    recorded = [
        builders.recorded(f"{300000 + i % 7}", 60, date(2026, 9, 1 + i % 28)) for i in range(600)
    ]
    schema = ns.schema("billing")
    async with running(SERVICE, infra, ns, clock=FakeClock(london(2026, 10, 1))) as (
        _,
        client,
    ):
        await publish(infra, ns, recorded[:100])

        async def some_held() -> bool:
            found = await scalar(
                infra, f"SELECT count(*) FROM {schema}.deliveries WHERE held_reason IS NOT NULL"
            )
            return int(found) > 0

        await wait_until(some_held, timeout_s=30, what="time held")
        publishing = asyncio.create_task(
            publish(infra, ns, recorded[100:])  # still arriving while the tariff is created
        )
        created = await client.post("/billing/tariffs", json=NEXT_YEAR, headers=FINANCE)
        assert created.status_code == 201, created.text
        await publishing
        await wait_until(lambda: drained(infra, ns), timeout_s=60, what="time consumed")
        assert (await client.get("/billing/unpriced", headers=FINANCE)).json()["count"] == 0
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.priced_deliveries") == 600
    assert await scalar(infra, f"SELECT sum(pence) FROM {schema}.ledger_lines") == 600 * 15000
