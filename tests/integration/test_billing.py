"""Billing on the real broker and database: delivered time priced once, exact documents.

Duplicates, out-of-order corrections and voids, a correction after invoicing (a credit note on
the next period, never an edit), a replay into an empty database giving the same documents line
by line, the HTTP API's roles and school scoping, a consumer killed mid-stream, and late
cancellations charged once on the next invoice.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from eps_billing.bootstrap import SERVICE
from eps_billing.domain.cancellation import charge_id
from eps_billing.domain.pricing import (
    Agreement,
    Change,
    Delivery,
    price_deliveries,
    price_with_carry_over,
)
from eps_billing.entrypoints import events
from eps_chassis.auth import Role
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.db import CHASSIS_MIGRATIONS, create_pool, migrate
from eps_chassis.sealing import Sealer
from eps_chassis.service import ensure_topics
from eps_chassis.settings import ServiceSettings
from eps_chassis.shards import Shards
from eps_chassis.unit_of_work import PostgresUnitOfWork
from eps_contracts.billing import INVOICES
from eps_contracts.scheduling import (
    DELIVERED_TIME,
    CancellationParty,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    FundingStream,
)
from faststream.kafka import KafkaBroker

from tests.support.builders import billing as builders
from tests.support.builders.billing import (
    LEICESTER,
    OTHER_SCHOOL,
    SCHOOL,
    cancellations_drained,
    count_is,
    documents,
    documents_issued,
    drained,
    london,
    next_years_tariff,
    publish,
    publish_cancellations,
    register_schools,
)
from tests.support.clock import FakeClock
from tests.support.db import query, scalar
from tests.support.dead_letters import original_value, original_value_of_row
from tests.support.infra import REPO, Infra
from tests.support.kafka import publish_raw, read_topic, wait_until
from tests.support.problems import fields, located, problem
from tests.support.services import Namespace, bearer, create_topics, running, settings_for

pytestmark = pytest.mark.integration


def scenario() -> tuple[list[Any], list[Any], uuid.UUID]:
    """Phase one (October 2025) and phase two (a correction after October is invoiced)."""
    d1, d2, d3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = builders.recorded(
        SCHOOL, 240, date(2025, 10, 6), delivery_id=d1, at=london(2025, 10, 6)
    )
    phase_one = [
        first,
        first,  # the same event delivered twice
        builders.recorded(  # re-sent by scheduling with a new event id: still one delivery
            SCHOOL, 240, date(2025, 10, 6), delivery_id=d1, at=london(2025, 10, 6)
        ),
        # d2's correction and d3's void arrive before the deliveries they change
        builders.corrected(d2, 300, at=london(2025, 10, 9)),
        builders.recorded(SCHOOL, 120, date(2025, 10, 8), delivery_id=d2, at=london(2025, 10, 8)),
        builders.voided(d3, at=london(2025, 10, 10)),
        builders.recorded(SCHOOL, 60, date(2025, 10, 9), delivery_id=d3, at=london(2025, 10, 9)),
        builders.recorded(SCHOOL, 360, date(2025, 10, 7), FundingStream.STATUTORY),
        builders.recorded(OTHER_SCHOOL, 60, date(2025, 10, 31), at=london(2025, 10, 31)),
    ]
    phase_two = [builders.corrected(d1, 60, at=london(2025, 11, 10))]
    return phase_one, phase_two, d1


async def run_scenario(
    infra: Infra, ns: Namespace, phase_one: list[Any], phase_two: list[Any]
) -> None:
    clock = FakeClock(london(2025, 11, 1))  # October's draft still open (grace: 5 days)
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1):
        await publish(infra, ns, phase_one)
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="phase one consumed")
        clock.now = london(2025, 11, 6)  # October closes
        await documents_issued(infra, ns, 2)
        await publish(infra, ns, phase_two)
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="phase two consumed")
        clock.now = london(2025, 12, 6)  # November closes
        await documents_issued(infra, ns, 3)


async def test_delivered_time_is_invoiced_once_and_corrections_become_credit_notes(
    infra: Infra, ns: Namespace
) -> None:
    phase_one, phase_two, d1 = scenario()
    await run_scenario(infra, ns, phase_one, phase_two)
    schema = ns.schema("billing")
    docs = await documents(infra, ns)
    by_number: dict[str, list[tuple[Any, ...]]] = {}
    for row in docs:
        by_number.setdefault(row[0], []).append(row)
    # October: school 123456 owes d1 (4 h = half day + hour, 550) and d2 (corrected to 5 h = a
    # day, 700); d3 was voided before it arrived; statutory time is free. Numbers are gapless,
    # in school order.
    assert sorted(by_number) == [
        "LEICESTER-CITY-CN-0000001",
        "LEICESTER-CITY-INV-0000001",
        "LEICESTER-CITY-INV-0000002",
    ]
    october = by_number["LEICESTER-CITY-INV-0000001"]
    assert {(r[2], r[4]) for r in october} == {(SCHOOL, 125000)}
    assert sorted(r[10] for r in october) == [55000, 70000]
    [other] = by_number["LEICESTER-CITY-INV-0000002"]
    assert (other[2], other[4]) == (OTHER_SCHOOL, 15000)
    # the correction after invoicing: a credit note in November's run, October left as issued
    [credit] = by_number["LEICESTER-CITY-CN-0000001"]
    assert (credit[2], credit[3], credit[4]) == (SCHOOL, date(2025, 11, 1), -40000)
    assert (credit[6], credit[7], credit[10], credit[11]) == (d1, date(2025, 10, 6), -40000, True)
    # invoiced minus credited = value of the delivered time as it now stands (1 h + 5 h)
    assert sum(r[10] for r in docs if r[2] == SCHOOL) == 15000 + 70000
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.deliveries") == 5
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines") == 4
    assert (
        await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines WHERE settled_on IS NULL")
        == 0
    )
    published = await read_topic(infra.kafka_bootstrap, ns.topic(INVOICES.name))
    kinds = sorted(json.loads(r.value)["type"] for r in published)
    assert kinds == [
        "eps.billing.credit-note-issued.v1",
        "eps.billing.invoice-issued.v1",
        "eps.billing.invoice-issued.v1",
    ]
    credit_event = next(json.loads(r.value) for r in published if b"credit-note" in r.value)
    assert credit_event["data"]["total_pence"] == 40000
    assert credit_event["subject"] == SCHOOL


async def test_replaying_every_event_into_an_empty_database_gives_the_same_documents(
    infra: Infra, ns: Namespace
) -> None:
    phase_one, phase_two, _ = scenario()
    await run_scenario(infra, ns, phase_one, phase_two)
    replay = Namespace.new()
    shuffled = list(reversed(phase_one)) + phase_one[:3]  # another order, more duplicates
    await run_scenario(infra, replay, shuffled, phase_two + phase_two)
    original = await documents(infra, ns)
    assert original and await documents(infra, replay) == original


async def test_finance_and_school_business_managers_see_what_their_role_allows(
    infra: Infra, ns: Namespace
) -> None:
    finance = bearer(Role.FINANCE)
    sbm = bearer(Role.SCHOOL_BUSINESS_MANAGER, school_urn=SCHOOL)
    senco = bearer(Role.SENCO, school_urn=SCHOOL)
    clock = FakeClock(london(2025, 11, 1))
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1) as (
        _,
        client,
    ):
        await register_schools(infra, ns, SCHOOL)
        body = {"school_urn": SCHOOL, "academic_year": 2025, "days": 4}
        refused = await client.post("/billing/agreements", json=body, headers=finance)
        assert refused.status_code == 422
        assert "days" in fields(refused)
        assert "5 to 30 days a year" in problem(refused)["detail"]
        bad = await client.post("/billing/agreements", json={**body, "days": "5"}, headers=finance)
        assert bad.status_code == 422 and ("body", "days") in located(bad)
        assert (await client.post("/billing/agreements", json=body, headers=sbm)).status_code == 403
        assert (await client.post("/billing/agreements", json=body)).status_code == 401
        bought = await client.post("/billing/agreements", json={**body, "days": 5}, headers=finance)
        assert bought.status_code == 201, bought.text
        again = await client.post("/billing/agreements", json={**body, "days": 6}, headers=finance)
        assert again.status_code == 409
        # 30 h of SLA: 4 h, 24 h, then 6 h of which 2 h from the SLA and 4 h at spot (550)
        await publish(
            infra,
            ns,
            [
                builders.recorded(SCHOOL, 240, date(2025, 10, 6), at=london(2025, 10, 6)),
                builders.recorded(SCHOOL, 1440, date(2025, 10, 7), at=london(2025, 10, 7)),
                builders.recorded(SCHOOL, 360, date(2025, 10, 8), at=london(2025, 10, 8)),
            ],
        )
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="deliveries consumed")
        balance = await client.get(f"/billing/schools/{SCHOOL}/balance", headers=sbm)
        assert balance.status_code == 200
        [agreement] = balance.json()["agreements"]
        assert (agreement["minutes"], agreement["remaining_minutes"]) == (30 * 60, 0)
        draft = (await client.get(f"/billing/schools/{SCHOOL}/draft", headers=sbm)).json()
        assert draft["total_pence"] == 55000
        other = await client.get(f"/billing/schools/{OTHER_SCHOOL}/balance", headers=sbm)
        assert other.status_code == 403
        malformed = await client.get("/billing/schools/12ab/balance", headers=finance)
        assert malformed.status_code == 422 and located(malformed) == [("path", "school_urn")]
        assert (
            await client.get(f"/billing/schools/{SCHOOL}/draft", headers=senco)
        ).status_code == 403
        clock.now = london(2025, 11, 6)
        schema = ns.schema("billing")
        await documents_issued(infra, ns, 1)
        listed = (await client.get(f"/billing/schools/{SCHOOL}/documents", headers=sbm)).json()
        assert [(d["number"], d["total"]) for d in listed] == [
            ("LEICESTER-CITY-INV-0000001", "550.00")
        ]
        doc = await client.get(f"/billing/documents/{listed[0]['document_id']}", headers=sbm)
        assert doc.status_code == 200
        assert [(ln["sla_minutes"], ln["amount"]) for ln in doc.json()["lines"]] == [
            (240, "0.00"),
            (1440, "0.00"),
            (120, "550.00"),
        ]
        stranger = bearer(Role.SCHOOL_BUSINESS_MANAGER, school_urn="999999")
        denied = await client.get(
            f"/billing/documents/{listed[0]['document_id']}", headers=stranger
        )
        assert denied.status_code == 403
        other_la = bearer(Role.FINANCE, tenant="nottingham-city")
        hidden = await client.get(
            f"/billing/documents/{listed[0]['document_id']}", headers=other_la
        )
        assert hidden.status_code == 404
        export = await client.get(
            "/billing/exports/documents.csv",
            params={"issued_from": "2025-11-01", "issued_to": "2025-11-30"},
            headers=finance,
        )
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert [(r["document_number"], r["amount_pence"], r["amount_gbp"]) for r in rows] == [
            ("LEICESTER-CITY-INV-0000001", "0", "0.00"),
            ("LEICESTER-CITY-INV-0000001", "0", "0.00"),
            ("LEICESTER-CITY-INV-0000001", "55000", "550.00"),
        ]
        assert (
            await client.get(
                "/billing/exports/documents.csv",
                params={"issued_from": "2025-11-01", "issued_to": "2025-11-30"},
                headers=sbm,
            )
        ).status_code == 403
    audit = await query(infra, f"SELECT action, outcome FROM {schema}.audit_log")
    assert ("buy-sla", "allowed") in {tuple(r) for r in audit}
    assert ("read-balance", "denied") in {tuple(r) for r in audit}
    assert ("export", "allowed") in {tuple(r) for r in audit}


@pytest.mark.parametrize(
    ("seed", "days", "sharded"), [(11, 5, False), (12, 8, False), (13, 30, False), (14, 8, True)]
)
async def test_sla_draw_down_under_shuffled_events_equals_pricing_everything_afresh(
    infra: Infra,
    ns: Namespace,
    seed: int,
    days: int,
    sharded: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service re-prices only what a batch can affect; the result must be the same as
    pricing every delivery from scratch in draw order, whatever order the events came in.
    ``sharded``: every batch split in two shards side by side, as a backlog is (corrections of
    deliveries not seen yet in a shard of their own)."""
    if sharded:
        monkeypatch.setattr(
            events.delivered_time, "shards", Shards(count=2, key=events.same_sla, at_least=1)
        )
    rnd = random.Random(seed)
    start = london(2025, 10, 1)
    recorded, changes = [], []
    for i in range(80):
        at = start + timedelta(hours=i)
        envelope = builders.recorded(
            SCHOOL,
            rnd.randrange(30, 480, 15),
            date(2025, 10, 1) + timedelta(days=rnd.randrange(60)),
            rnd.choice([FundingStream.TRADED] * 3 + [FundingStream.CORE]),
            at=at,
        )
        recorded.append(envelope)
        if rnd.random() < 0.3:
            later = at + timedelta(days=rnd.randrange(1, 20))
            changes.append(
                builders.voided(envelope.data.delivery_id, at=later)
                if rnd.random() < 0.3
                else builders.corrected(
                    envelope.data.delivery_id, rnd.randrange(30, 480, 15), at=later
                )
            )
    shuffled = recorded + changes
    rnd.shuffle(shuffled)
    finance = bearer(Role.FINANCE)
    schema = ns.schema("billing")
    async with running(SERVICE, infra, ns, clock=FakeClock(london(2025, 10, 2))) as (
        _,
        client,
    ):
        await register_schools(infra, ns, SCHOOL)
        body = {"school_urn": SCHOOL, "academic_year": 2025, "days": days}
        bought = await client.post("/billing/agreements", json=body, headers=finance)
        assert bought.status_code == 201, bought.text
        for part in range(4):  # several polls, so both the append and re-price paths run
            await publish(infra, ns, shuffled[part * 30 : (part + 1) * 30])
            await wait_until(lambda: drained(infra, ns), timeout_s=30, what="slice consumed")
    drawn = await assert_priced_afresh(infra, schema, recorded, changes, days * 360)
    assert 0 < drawn <= days * 360


async def assert_priced_afresh(
    infra: Infra, schema: str, recorded: list[Any], changes: list[Any], sla_minutes: int
) -> int:
    """Every delivery's price, what the ledger charges it and the SLA's balance are those of
    pricing every delivery as it finally stands, at once; returns the minutes drawn."""
    states = {
        e.data.delivery_id: Delivery(
            e.data.delivery_id,
            SCHOOL,
            e.data.delivered_on,
            e.data.minutes,
            e.data.funding_stream,
            e.time,
        )
        for e in recorded
    }
    for c in changes:
        corrected = c.data if isinstance(c.data, DeliveredTimeCorrected) else None  # or voided
        change = Change(
            c.id if corrected is None else corrected.correction_id,
            c.time,
            None if corrected is None else corrected.minutes,
            None if corrected is None else corrected.funding_stream,
            corrected is None,
        )
        states[c.data.delivery_id] = states[c.data.delivery_id].with_changes([change])
    sla = Agreement(uuid.uuid4(), SCHOOL, date(2025, 9, 1), date(2026, 8, 31), sla_minutes)
    expected, drawn = price_deliveries(states.values(), lambda _: LEICESTER, [sla])
    rows = await query(
        infra, f"SELECT delivery_id, sla_minutes, pence FROM {schema}.priced_deliveries"
    )
    assert {r["delivery_id"]: (r["sla_minutes"], r["pence"]) for r in rows} == {
        p.delivery_id: (p.sla_minutes, p.pence) for p in expected
    }
    ledger = await query(
        infra,
        f"SELECT delivery_id, sum(pence) AS pence FROM {schema}.ledger_lines GROUP BY delivery_id",
    )
    assert {r["delivery_id"]: r["pence"] for r in ledger if r["pence"]} == {
        p.delivery_id: p.pence for p in expected if p.pence
    }
    assert (
        await scalar(infra, f"SELECT drawn_minutes FROM {schema}.agreements")
        == drawn[sla.agreement_id]
    )
    return drawn[sla.agreement_id]


async def test_minutes_given_back_before_an_sla_ran_out_are_drawn_by_the_next_deliveries_only(
    infra: Infra, ns: Namespace
) -> None:
    """Ten deliveries of five hours against a thirty-hour SLA: the sixth draws its last minute
    and the four after it are charged at spot prices. A void and a correction before it give
    back nine hours: the seventh and eighth draw them, the ninth and tenth stay as they were
    (re-pricing reads past the sixth only as far as the minutes given back reach)."""
    start = london(2025, 10, 1)
    recorded = [  # in one draw order: recorded an hour apart
        builders.recorded(
            SCHOOL,
            300,
            date(2025, 10, 1) + timedelta(days=i),
            FundingStream.TRADED,
            at=start + timedelta(hours=i),
        )
        for i in range(10)
    ]
    later = start + timedelta(days=3)
    changes = [
        builders.voided(recorded[1].data.delivery_id, at=later),
        builders.corrected(recorded[2].data.delivery_id, 60, at=later),
    ]
    finance = bearer(Role.FINANCE)
    schema = ns.schema("billing")
    async with running(SERVICE, infra, ns, clock=FakeClock(london(2025, 10, 2))) as (
        _,
        client,
    ):
        await register_schools(infra, ns, SCHOOL)
        body = {"school_urn": SCHOOL, "academic_year": 2025, "days": 5}
        bought = await client.post("/billing/agreements", json=body, headers=finance)
        assert bought.status_code == 201, bought.text
        for part in (recorded, changes):  # the second batch finds the SLA used up
            await publish(infra, ns, part)
            await wait_until(lambda: drained(infra, ns), timeout_s=30, what="batch consumed")
    assert await assert_priced_afresh(infra, schema, recorded, changes, 1800) == 1800
    rows = await query(infra, f"SELECT delivery_id, sla_minutes FROM {schema}.priced_deliveries")
    drawn = {r["delivery_id"]: r["sla_minutes"] for r in rows}
    assert [drawn[e.data.delivery_id] for e in recorded] == [
        300,
        0,
        60,
        300,
        300,
        300,
        300,
        240,
        0,
        0,
    ]


async def test_time_that_cannot_be_priced_is_held_not_dead_lettered_and_the_rest_priced(
    infra: Infra, ns: Namespace
) -> None:
    """The dead-letter topic is for invalid events only: time with no tariff is kept, held
    unpriced with the reason (see test_billing_unpriced.py for its pricing once one arrives)."""
    unpriced = builders.recorded(SCHOOL, 60, date(2025, 10, 6), tenant="knowsley")  # no tariff
    too_early = builders.recorded(SCHOOL, 60, date(2024, 10, 6))  # before the 2025/26 tariff
    good = [builders.recorded(SCHOOL, 60, date(2025, 10, 6 + i)) for i in range(3)]
    invalid = b'{"type": "eps.scheduling.delivered-time-recorded.v1", "data": {}}'
    schema = ns.schema("billing")
    finance = bearer(Role.FINANCE)
    knowsley = bearer(Role.FINANCE, tenant="knowsley")
    clock = FakeClock(london(2025, 10, 20))
    async with running(SERVICE, infra, ns, clock=clock) as (_, client):
        await publish(infra, ns, [good[0], unpriced, good[1], too_early, good[2]])
        await publish_raw(infra.kafka_bootstrap, ns.topic(DELIVERED_TIME.name), [invalid])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="events consumed")
        dlq = ns.topic("eps.dlq.billing.v1")

        async def one_dead_letter() -> bool:
            return len(await read_topic(infra.kafka_bootstrap, dlq)) == 1

        await wait_until(one_dead_letter, timeout_s=15, what="the invalid event dead-lettered")
        held = (await client.get("/billing/unpriced", headers=finance)).json()
        held_elsewhere = (await client.get("/billing/unpriced", headers=knowsley)).json()
    [dead] = await read_topic(infra.kafka_bootstrap, dlq)
    assert await original_value(dead, ns.data_keys) == invalid
    assert [(i["id"], i["dated"], i["reason"]) for i in held["items"]] == [
        (
            str(too_early.data.delivery_id),
            "2024-10-06",
            "leicester-city has no confirmed tariff in force on 2024-10-06",
        )
    ]
    assert [(i["id"], i["reason"]) for i in held_elsewhere["items"]] == [
        (str(unpriced.data.delivery_id), "knowsley has no confirmed tariff in force on 2025-10-06")
    ]
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.deliveries") == 5
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.priced_deliveries") == 3
    assert await scalar(infra, f"SELECT sum(pence) FROM {schema}.ledger_lines") == 3 * 15000


async def test_a_delivery_sent_again_is_priced_once_and_one_of_another_authority_refused(
    infra: Infra, ns: Namespace
) -> None:
    """A delivery's id names one delivery across authorities: sent again by its own authority it
    changes nothing; sent as another authority's, that event is dead-lettered naming the
    delivery, and the other authority holds nothing."""
    first = builders.recorded(SCHOOL, 60, date(2025, 10, 6))
    again = builders.recorded(SCHOOL, 60, date(2025, 10, 6), delivery_id=first.data.delivery_id)
    theirs = builders.recorded(
        SCHOOL, 90, date(2025, 10, 7), delivery_id=first.data.delivery_id, tenant="knowsley"
    )
    schema = ns.schema("billing")
    async with running(SERVICE, infra, ns, clock=FakeClock(london(2025, 10, 20))):
        await publish(infra, ns, [first])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="the delivery priced")
        await publish(infra, ns, [again, theirs])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="both consumed")
        dlq = ns.topic("eps.dlq.billing.v1")

        async def one_dead_letter() -> bool:
            return len(await read_topic(infra.kafka_bootstrap, dlq)) == 1

        await wait_until(one_dead_letter, timeout_s=15, what="the other authority's refused")
    [dead] = await read_topic(infra.kafka_bootstrap, dlq)
    reason = dict(dead.headers)["dlq-reason"].decode()
    assert f"delivery {first.data.delivery_id} belongs to another local authority" in reason
    assert (
        await scalar(infra, f"SELECT count(*) FROM {schema}.deliveries WHERE tenant = 'knowsley'")
        == 0
    )
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.deliveries") == 1
    assert await scalar(infra, f"SELECT sum(pence) FROM {schema}.ledger_lines") == 15000


async def test_unused_sla_time_carries_over_only_where_the_tariff_says_so(
    infra: Infra, ns: Namespace
) -> None:
    finance = bearer(Role.FINANCE)
    notts = bearer(Role.FINANCE, tenant="nottingham-city")
    async with running(SERVICE, infra, ns, clock=FakeClock(london(2026, 8, 1))) as (_, client):
        # the next year's tariffs are data: each authority carries its year forward and confirms;
        # each has its own school (a school belongs to one authority)
        authorities = (
            (finance, "leicester-city", SCHOOL, 5),
            (notts, "nottingham-city", OTHER_SCHOOL, 3),
        )
        for headers, tenant, school, _ in authorities:
            await next_years_tariff(client, headers)
            await register_schools(infra, ns, school, tenant=tenant)
        for headers, _, school, days in authorities:
            for year in (2025, 2026):
                body = {"school_urn": school, "academic_year": year, "days": days}
                response = await client.post("/billing/agreements", json=body, headers=headers)
                assert response.status_code == 201, response.text
        leicester = (await client.get(f"/billing/schools/{SCHOOL}/balance", headers=finance)).json()
        nottingham = (
            await client.get(f"/billing/schools/{OTHER_SCHOOL}/balance", headers=notts)
        ).json()
    assert [a["carried_minutes"] for a in leicester["agreements"]] == [0, 5 * 360]
    assert [a["minutes"] for a in leicester["agreements"]] == [5 * 360, 10 * 360]
    assert [a["carried_minutes"] for a in nottingham["agreements"]] == [0, 0]
    assert [a["minutes"] for a in nottingham["agreements"]] == [3 * 360, 3 * 360]


async def test_old_year_time_recorded_late_takes_back_the_minutes_carried_into_the_next_year(
    infra: Infra, ns: Namespace
) -> None:
    """Leicester carries unused SLA time over. A school that bought 5 days in 2025/26 and 5 in
    2026/27 and used 10 days in September 2026 has used the carried 5; a day delivered in
    August 2026 but recorded afterwards takes one back, so September pays a day at spot. The
    result is the same whichever order the events arrive in (two schools, two orders)."""
    finance = bearer(Role.FINANCE)
    schema = ns.schema("billing")
    first, second = SCHOOL, OTHER_SCHOOL
    september = {
        school: [
            builders.recorded(school, 1200, date(2026, 9, 14 + i), at=london(2026, 9, 14 + i))
            for i in range(3)
        ]
        for school in (first, second)
    }
    august = {
        school: builders.recorded(school, 360, date(2026, 8, 20), at=london(2026, 9, 18))
        for school in (first, second)
    }
    async with running(SERVICE, infra, ns, clock=FakeClock(london(2026, 8, 25))) as (
        _,
        client,
    ):
        await next_years_tariff(client, finance)
        await register_schools(infra, ns, first, second)
        for school in (first, second):
            for year in (2025, 2026):
                body = {"school_urn": school, "academic_year": year, "days": 5}
                response = await client.post("/billing/agreements", json=body, headers=finance)
                assert response.status_code == 201, response.text
        bought = await client.get(f"/billing/schools/{first}/balance", headers=finance)
        assert [a["carried_minutes"] for a in bought.json()["agreements"]] == [0, 5 * 360]
        # first school: September, then the late August day; second school: the other way
        await publish(infra, ns, [*september[first], august[second]])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="first events")
        await publish(infra, ns, [august[first], *september[second]])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="second events")
        balances = {
            school: (
                await client.get(f"/billing/schools/{school}/balance", headers=finance)
            ).json()["agreements"]
            for school in (first, second)
        }
    for school in (first, second):
        assert [
            (a["minutes"], a["carried_minutes"], a["remaining_minutes"]) for a in balances[school]
        ] == [(5 * 360, 0, 4 * 360), (9 * 360, 4 * 360, 0)]
        envelopes = [*september[school], august[school]]
        years = [
            Agreement(uuid.uuid4(), school, date(y, 9, 1), date(y + 1, 8, 31), 5 * 360)
            for y in (2025, 2026)
        ]
        expected, _ = price_with_carry_over(
            [
                Delivery(
                    e.data.delivery_id,
                    school,
                    e.data.delivered_on,
                    e.data.minutes,
                    e.data.funding_stream,
                    e.time,
                )
                for e in envelopes
            ],
            lambda _: LEICESTER,
            years,
        )
        ids = [e.data.delivery_id for e in envelopes]
        rows = await query(
            infra,
            f"SELECT delivery_id, sla_minutes, pence FROM {schema}.priced_deliveries"
            " WHERE delivery_id = ANY($1::uuid[])",
            ids,
        )
        assert {r["delivery_id"]: (r["sla_minutes"], r["pence"]) for r in rows} == {
            p.delivery_id: (p.sla_minutes, p.pence) for p in expected
        }
        # the day taken back is charged once, at spot: 700 on the last September delivery
        charged = await scalar(
            infra,
            f"SELECT sum(pence) FROM {schema}.ledger_lines WHERE school_urn = $1",
            school,
        )
        assert charged == 70000


async def test_time_of_an_invoiced_period_that_arrives_late_is_an_adjustment_next_time(
    infra: Infra, ns: Namespace
) -> None:
    clock = FakeClock(london(2025, 11, 1))
    on_time = builders.recorded(SCHOOL, 60, date(2025, 10, 6), at=london(2025, 10, 6))
    late = builders.recorded(SCHOOL, 240, date(2025, 10, 20), at=london(2025, 11, 10))
    november = builders.recorded(SCHOOL, 180, date(2025, 11, 12), at=london(2025, 11, 12))
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1):
        await publish(infra, ns, [on_time])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="October consumed")
        clock.now = london(2025, 11, 6)  # October closes
        await documents_issued(infra, ns, 1)
        await publish(infra, ns, [late, november])
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="late time consumed")
        clock.now = london(2025, 12, 6)  # November closes
        await documents_issued(infra, ns, 2)
    docs = await documents(infra, ns)
    october = [r for r in docs if r[0] == "LEICESTER-CITY-INV-0000001"]
    assert [(r[6], r[10], r[11]) for r in october] == [(on_time.data.delivery_id, 15000, False)]
    later = [r for r in docs if r[0] == "LEICESTER-CITY-INV-0000002"]
    assert {r[3] for r in later} == {date(2025, 11, 1)}  # November's invoice
    assert [(r[6], r[7], r[10], r[11], r[8].startswith("adjustment: ")) for r in later] == [
        (late.data.delivery_id, date(2025, 10, 20), 55000, True, True),
        (november.data.delivery_id, date(2025, 11, 12), 40000, False, False),
    ]


async def test_a_consumer_killed_mid_batch_prices_every_delivery_exactly_once(
    infra: Infra, ns: Namespace
) -> None:
    """Killed twice: mid-stream, and the moment the first shard of a backlog has committed
    (9,000 events or more, polled up to 6,000 at a time and priced in two shards side by side
    from 4,000), while its batch's other shard is priced (in trial runs about 2,300 more were
    priced when it was killed: one shard of a batch of 4,600)."""
    total = 12_000
    envelopes = [
        builders.recorded(f"{100000 + i % 40}", 60 + (i % 5) * 60, date(2025, 10, 1 + i % 28))
        for i in range(total)
    ]
    spot = {60: 15000, 120: 30000, 180: 40000, 240: 55000, 300: 70000}
    expected = sum(spot[e.data.minutes] for e in envelopes)
    settings = settings_for(infra, ns, "billing", ServiceSettings)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url,
        "EPS_TOPIC_PREFIX": settings.topic_prefix,
        "EPS_DB_SCHEMA": ns.schema("billing"),
        "EPS_AUTH_PUBLIC_KEY_FILE": str(settings.auth_public_key_file),
        "EPS_HTTP_PORT": "0",
        "EPS_LOG_LEVEL": "WARNING",
    }
    schema = ns.schema("billing")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "eps_billing"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    await create_topics(infra, ns)  # as scheduling would: billing consumes its topics
    priced = f"SELECT count(*) FROM {schema}.priced_deliveries"
    process = start()
    try:

        async def some_priced() -> bool:
            try:
                return int(await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines")) > 0
            except asyncpg.UndefinedTableError:
                return False

        await publish(infra, ns, envelopes[:200])
        await wait_until(some_priced, timeout_s=60, what="the first prices")
        await publish(infra, ns, envelopes[200:3000])
        process.send_signal(signal.SIGKILL)  # mid-stream
        process.wait(timeout=10)
        await publish(infra, ns, envelopes[3000:])  # while it is down: a backlog
        before = int(await scalar(infra, priced))
        assert before < 3000, "killed too late to prove anything"
        process = start()
        deadline = time.monotonic() + 60
        while int(await scalar(infra, priced)) <= before:  # polled closely: killed at once
            assert time.monotonic() < deadline, "timed out waiting for the backlog's first shard"
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)  # while the batch's other shard is priced
        process.wait(timeout=10)
        killed_at = int(await scalar(infra, priced))
        assert killed_at < total, "killed too late to prove anything"
        process = start()
        await wait_until(
            lambda: count_is(infra, priced, total), timeout_s=60, what="every delivery priced"
        )
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="offsets committed")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines") == total
    assert await scalar(infra, f"SELECT sum(pence) FROM {schema}.ledger_lines") == expected
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.inbox") == total


async def test_a_batch_handler_that_keeps_failing_dead_letters_only_the_event_at_fault(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    """The chassis's batch facility, as billing uses it: a poison event is found by running the
    batch event by event in savepoints; the others are applied, each once."""
    schema = ns.schema("batchcheck")
    (tmp_path / "0001_effects.sql").write_text(
        "CREATE TABLE effects (delivery_id uuid PRIMARY KEY, minutes int NOT NULL)"
    )
    await migrate(infra.database_url, schema, [CHASSIS_MIGRATIONS, tmp_path])
    consumer = EventConsumer(name="batch-check", topics=[DELIVERED_TIME], batch_size=100)
    calls: list[int] = []

    @consumer.on_batch(DeliveredTimeRecorded)
    async def apply(envelopes: Sequence[Any], uow: PostgresUnitOfWork) -> None:
        calls.append(len(envelopes))
        await uow.conn.executemany(
            "INSERT INTO effects VALUES ($1, $2)",
            [(e.data.delivery_id, e.data.minutes) for e in envelopes],
        )
        if any(e.data.minutes == 13 for e in envelopes):
            raise ValueError("thirteen minutes break this handler")

    batch = [builders.recorded(SCHOOL, m, date(2025, 10, 6)) for m in (60, 13, 90, 120)]
    await ensure_topics(infra.kafka_bootstrap, [DELIVERED_TIME], ns.topic_prefix)
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(DELIVERED_TIME.name),
        [builders.raw(e) for e in batch],
        key=b"one-partition",
    )
    pool = await create_pool(infra.database_url, schema, 1, 2)
    broker = KafkaBroker(infra.kafka_bootstrap, log_level=logging.DEBUG)
    consumer.subscribe(
        broker,
        ConsumerRuntime(
            pool=pool,
            service="batchcheck",
            source="/test",
            topic_prefix=ns.topic_prefix,
            sealer=Sealer(ns.data_keys),
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        ),
    )
    try:
        await broker.start()

        async def applied() -> bool:
            return int(await pool.fetchval("SELECT count(*) FROM effects")) == 3

        await wait_until(applied, timeout_s=30, what="the three good events applied")
        minutes = sorted(r["minutes"] for r in await pool.fetch("SELECT minutes FROM effects"))
        dead = await pool.fetch("SELECT topic, value, headers FROM outbox")
    finally:
        await broker.stop()
        await pool.close()
    assert minutes == [60, 90, 120]
    [letter] = dead
    assert letter["topic"] == "eps.dlq.batchcheck.v1"
    assert await original_value_of_row(letter, ns.data_keys) == builders.raw(batch[1])
    reason = dict(json.loads(letter["headers"]))["dlq-reason"]
    assert bytes.fromhex(reason).decode() == (
        "handler error: ValueError('thirteen minutes break this handler')"
    )
    assert calls[:3] == [4, 4, 4] and 1 in calls  # three whole tries, then one by one


async def test_a_late_cancellation_of_spot_time_is_invoiced_once_and_an_early_one_is_free(
    infra: Infra, ns: Namespace
) -> None:
    two_hours = 120
    late_id, early_id, by_service_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    late_start = london(2025, 10, 20)  # cancelled 6 days before: under 14 days' notice
    late = builders.cancelled(
        SCHOOL, late_start, two_hours, london(2025, 10, 14), appointment_id=late_id
    )
    first_wave = [
        late,
        late,  # the same event delivered twice
        # the same cancellation sent again with a new event id: the appointment is charged once
        builders.cancelled(
            SCHOOL, late_start, two_hours, london(2025, 10, 15), appointment_id=late_id
        ),
        # 29 days' notice: free
        builders.cancelled(
            SCHOOL, london(2025, 10, 30), two_hours, london(2025, 10, 1), appointment_id=early_id
        ),
        # late, but the service called it off (e.g. displaced by a critical incident): free
        builders.cancelled(
            SCHOOL,
            london(2025, 10, 21),
            two_hours,
            london(2025, 10, 20),
            appointment_id=by_service_id,
            by=CancellationParty.SERVICE,
        ),
        # late core time: never charged
        builders.cancelled(
            SCHOOL, london(2025, 10, 22), two_hours, london(2025, 10, 21), FundingStream.CORE
        ),
        # from a producer that did not send the appointment's details: ignored, not dead-lettered
        builders.cancelled_by_an_old_producer(uuid.uuid4()),
    ]
    schema = ns.schema("billing")
    clock = FakeClock(london(2025, 11, 1))  # October's draft still open
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1):
        await publish_cancellations(infra, ns, first_wave)
        await wait_until(lambda: cancellations_drained(infra, ns), timeout_s=30, what="consumed")
        clock.now = london(2025, 11, 6)  # October closes
        await documents_issued(infra, ns, 1)
        await publish_cancellations(infra, ns, [late])  # redelivered after it was invoiced
        await wait_until(lambda: cancellations_drained(infra, ns), timeout_s=30, what="consumed")
    # nothing waits for the next invoice: the redelivery changed nothing
    assert (
        await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines WHERE settled_on IS NULL")
        == 0
    )
    [line] = await documents(infra, ns)
    number, kind, school, period_start, total, _, delivery_id, on, description, sla, pence, adj = (
        line
    )
    assert (number, kind, school, period_start) == (
        "LEICESTER-CITY-INV-0000001",
        "invoice",
        SCHOOL,
        date(2025, 10, 1),
    )
    # two hours at spot prices (£150 an hour), dated on the appointment's day
    assert (total, pence, sla, adj) == (30000, 30000, 0, False)
    assert (delivery_id, on) == (charge_id(late_id), date(2025, 10, 20))
    assert description.startswith("late cancellation: spot 2h00")
    judged = {
        r["appointment_id"]: (r["charged_minutes"], r["charge_id"])
        for r in await query(infra, f"SELECT * FROM {schema}.cancellations")
    }
    assert judged[late_id] == (two_hours, charge_id(late_id))
    assert judged[early_id] == (0, None) and judged[by_service_id] == (0, None)
    assert len(judged) == 4  # the old producer's event left no trace
    assert await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines") == 1
    assert await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.billing.v1")) == []


async def test_finance_waives_a_cancellation_charge_once_before_or_after_it_is_invoiced(
    infra: Infra, ns: Namespace
) -> None:
    two_hours = 120
    waived_early, waived_late = uuid.uuid4(), uuid.uuid4()
    late_cancellations = [  # both six days before: under 14 days' notice, charged
        builders.cancelled(
            SCHOOL, london(2025, 10, 20), two_hours, london(2025, 10, 14), appointment_id=aid
        )
        for aid in (waived_early, waived_late)
    ]
    finance = bearer(Role.FINANCE)
    school = bearer(Role.SCHOOL_BUSINESS_MANAGER, school_urn=SCHOOL)
    schema = ns.schema("billing")
    clock = FakeClock(london(2025, 11, 1))  # October's draft still open
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1) as (
        _,
        client,
    ):

        async def waive(appointment_id: uuid.UUID, who: dict[str, str] = finance) -> Any:
            return await client.post(
                f"/billing/cancellation-charges/{appointment_id}/waiver",
                json={"reason": "family bereavement"},
                headers=who,
            )

        await publish_cancellations(infra, ns, late_cancellations)
        await wait_until(lambda: cancellations_drained(infra, ns), timeout_s=30, what="consumed")
        first = await waive(waived_early)
        assert first.status_code == 200, first.text
        assert first.json()["charge_id"] == str(charge_id(waived_early))
        assert (await waive(waived_early)).status_code == 200  # again: changes nothing
        assert (await waive(waived_early, school)).status_code == 403
        assert (await waive(uuid.uuid4())).status_code == 404  # never charged
        unexplained = await client.post(
            f"/billing/cancellation-charges/{waived_late}/waiver", json={}, headers=finance
        )
        assert located(unexplained) == [("body", "reason")]
        clock.now = london(2025, 11, 6)  # October closes with the other charge only
        await documents_issued(infra, ns, 1)
        assert (await waive(waived_late)).status_code == 200
        clock.now = london(2025, 12, 6)  # November closes: the waiver is credited
        await documents_issued(infra, ns, 2)
    rows = await documents(infra, ns)
    by_number = {r[0]: r for r in rows}
    assert sorted(by_number) == ["LEICESTER-CITY-CN-0000001", "LEICESTER-CITY-INV-0000001"]
    invoice = by_number["LEICESTER-CITY-INV-0000001"]
    credit = by_number["LEICESTER-CITY-CN-0000001"]
    assert (invoice[4], invoice[6]) == (30000, charge_id(waived_late))
    assert (credit[3], credit[4], credit[6]) == (date(2025, 11, 1), -30000, charge_id(waived_late))
    assert credit[8] == "adjustment: late cancellation: not charged" and credit[11]
    # the charge waived before invoicing left no line on any document, nor waiting for one
    assert charge_id(waived_early) not in {r[6] for r in rows}
    assert (
        await scalar(infra, f"SELECT count(*) FROM {schema}.ledger_lines WHERE settled_on IS NULL")
        == 0
    )
    audited = await query(
        infra, f"SELECT outcome FROM {schema}.audit_log WHERE action = 'waive-charge'"
    )
    assert sorted(r["outcome"] for r in audited) == ["allowed"] * 3 + ["not_found"]
