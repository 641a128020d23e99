"""The demo LA `make run` loads, loaded by its own loader into every service running as a process,
and looked at through the APIs as each of its people would: a SENCO, a school business manager,
an EP, the principal EP, the on-call coordinator and finance each see work in every state it
can be in. Loaded again, nothing is created and every count stays the same."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from demo.api import Api, Target
from demo.la import TENANT, DemoLa, leicester_city
from demo.loader import Loader
from eps_chassis.auth import ensure_local_keys

from tests.support.clock import suite_now, suite_offset, suite_today
from tests.support.services import KEYS_DIR
from tests.support.system import System
from tests.system.journeys import eventually

pytestmark = pytest.mark.integration

EVERY_REFERRAL_STATE = {
    "awaiting_consent", "awaiting_triage", "accepted", "consultation", "assessment",
    "joint_plan", "review", "closed", "declined", "redirected", "paused",
}  # fmt: skip


def target_of(system: System) -> Target:
    private, _ = ensure_local_keys(KEYS_DIR)
    return Target(
        urls={name: p.url for name, p in system.processes.items()},
        private_key=private.read_bytes(),
        kafka_bootstrap=system.infra.kafka_bootstrap,
        tenant=TENANT,
        topic_prefix=system.ns.topic_prefix,
        clock_offset=suite_offset(),
    )


async def load(system: System, la: DemoLa) -> dict[str, int]:
    started = time.monotonic()
    async with Api(target_of(system)) as api:
        loaded = await Loader(api, la).load()
    print(
        f"demo loaded in {time.monotonic() - started:.1f} s: created {loaded.created},"
        f" requests {dict(api.requests)}"
    )
    return loaded.created


async def test_each_user_sees_work_in_every_state_and_loading_again_changes_nothing(
    system: System,
) -> None:
    la = leicester_city(suite_today())
    created = await load(system, la)
    async with Api(target_of(system)) as api:
        last: list[tuple[float, dict[str, Any]]] = []
        seen = await eventually(
            lambda: _settled(api, la, last), "the invoices of closed months issued", timeout_s=90
        )
        again = await load(system, la)
        seen_again = await _what_each_user_sees(api, la)

    assert created["tariffs"] >= 1 and created["SLAs"] == sum(1 for s in la.schools if s.sla_days)
    assert again == {}, again
    assert seen_again == seen

    # a SENCO sees what became of each request they made, at every stage
    assert set(seen["senco: my requests"]) == EVERY_REFERRAL_STATE
    # the principal EP sees every source's referrals, some awaiting consent
    assert set(seen["principal: referrals by source"]) == {
        "school_senco", "parent_carer", "virtual_school", "social_worker", "foster_carer",
        "send_service",
    }  # fmt: skip
    assert seen["principal: awaiting consent by source"] >= 5
    # statutory advice: open, drafted, with an exception, submitted; near and past at-risk
    assert {"assessment_booked", "drafted", "submitted"} <= set(seen["principal: advice"])
    assert seen["principal: at risk"] >= 3 and seen["principal: advice with exception"] == 1
    assert seen["principal: timeliness submitted"] >= 2
    # an EP: their diary (visits booked ahead, traded work done), their statutory advice
    assert {"booked", "completed"} <= set(seen["ep: diary"])
    assert seen["ep: open advice"] >= 1
    # the coordinator: the past incident closed with its timeline, one open, acknowledged;
    # somebody on call now and for the coming weeks
    assert seen["coordinator: past incident"] == "closed"
    # its EP is allocated when one works at this hour (none at 02:00 on a Sunday: it waits)
    assert [
        (level, acknowledged) for level, acknowledged, _ in seen["coordinator: open incidents"]
    ] == [(1, True)]
    assert [n for *_, n in seen["coordinator: open incidents"]] in ([0], [1])
    assert seen["coordinator: closed incident's timeline"] >= 4
    assert seen["coordinator: on call now"] and seen["coordinator: rota gaps"] == 0
    # finance: this year's and last year's tariffs, SLAs, invoices issued, drafts, nothing held
    assert seen["finance: tariffs"] >= 2 and seen["finance: invoices issued"] >= 3
    assert seen["finance: schools with a draft"] >= 3 and seen["finance: unpriced"] == 0
    # a school business manager: their school's invoice and SLA
    assert seen["school business manager: invoices"] >= 1
    assert seen["school business manager: agreements"] == 1


STILL_S = 3.0  # three of billing's finalising rounds here (EPS_BILLING_FINALISE_INTERVAL_S=1)


async def _settled(
    api: Api, la: DemoLa, last: list[tuple[float, dict[str, Any]]]
) -> dict[str, Any] | None:
    """What each user sees once billing has issued the closed months' invoices: at least
    three, and no more for ``STILL_S`` (a delivery priced after one finalising round is
    invoiced at the next, so the count can still grow after it first reaches three)."""
    seen = await _what_each_user_sees(api, la)
    now = time.monotonic()
    if seen["finance: invoices issued"] < 3 or not last or last[0][1] != seen:
        last[:] = [(now, seen)]
        return None
    return seen if now - last[0][0] >= STILL_S else None


async def _what_each_user_sees(api: Api, la: DemoLa) -> dict[str, Any]:
    """Each person's view of the LA, as counts, read through the APIs with their own token."""
    seen: dict[str, Any] = {}
    get = api.call
    principal = api.as_("principal_ep", la.principal.ep_id)

    senco_states: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    awaiting_consent: Counter[str] = Counter()
    for r in la.referrals:
        if r.source == "school_senco":
            senco = api.as_("senco", f"senco-{r.school_urn}", r.school_urn)
            shown = (
                await get("referrals", "GET", f"/referrals/requests/{r.request_id}", senco)
            ).json()
            senco_states[shown["referral"]["status"]] += 1
        shown = (
            await get("referrals", "GET", f"/referrals/requests/{r.request_id}", principal)
        ).json()
        sources[r.source] += 1
        if shown["referral"]["status"] == "awaiting_consent":
            awaiting_consent[r.source] += 1
    seen["senco: my requests"] = dict(senco_states)
    seen["principal: referrals by source"] = dict(sources)
    seen["principal: awaiting consent by source"] = sum(awaiting_consent.values())

    advice = []
    for a in la.advice:
        shown = (
            await get("statutory", "GET", f"/statutory/requests/{a.request_id}", principal)
        ).json()
        advice.append(shown["advice"])
    seen["principal: advice"] = dict(Counter(a["status"] for a in advice))
    at_risk = (await get("statutory", "GET", "/statutory/advice/at-risk", principal)).json()
    seen["principal: at risk"] = len(at_risk)
    open_advice = (await get("statutory", "GET", "/statutory/advice/open", principal)).json()
    seen["principal: advice with exception"] = sum(1 for a in open_advice if a["exception_applied"])
    months = {"from": f"{la.today - timedelta(days=60):%Y-%m}", "to": f"{la.today:%Y-%m}"}
    url = "/statutory/reports/timeliness"
    report = (await get("statutory", "GET", url, principal, params=months)).json()
    seen["principal: timeliness submitted"] = _submitted(report)

    ep_id = next(a["ep_id"] for a in advice if a["ep_id"])
    ep = api.as_(la.ep(ep_id).token_role, ep_id)
    mine = [a for a in open_advice if a["ep_id"] == ep_id]
    seen["ep: open advice"] = len(mine)
    diary: Counter[str] = Counter()
    for ep_of_visit in {v.ep_id for v in la.traded_visits}:
        window = {
            "start": (suite_now() - timedelta(days=80)).isoformat(),
            "end": (suite_now() + timedelta(days=10)).isoformat(),
        }
        headers = api.as_(la.ep(ep_of_visit).token_role, ep_of_visit)
        url = f"/scheduling/eps/{ep_of_visit}/diary"
        for row in (await get("scheduling", "GET", url, headers, params=window)).json():
            diary[row["status"]] += 1
    seen["ep: diary"] = dict(diary)
    del ep

    coordinator = api.as_("coordinator", la.coordinators[0].person_id)
    incidents = (await get("incidents", "GET", "/incidents", coordinator)).json()["incidents"]
    seen["coordinator: open incidents"] = [
        (i["level"], i["acknowledged_by"] is not None, len(i["allocated_eps"])) for i in incidents
    ]
    past = next(i for i in la.incidents if i.closed)  # the one they took by phone
    url = f"/incidents/reports/{past.report_id}"
    view = (await get("incidents", "GET", url, coordinator)).json()["incident"]
    seen["coordinator: past incident"] = view["status"]
    seen["coordinator: closed incident's timeline"] = (
        sum(1 for stamp in ("acknowledged_at", "first_contact_at", "closed_at") if view[stamp])
        + len(view["visits"])
        + (1 if view["follow_up"] else 0)
    )
    rota = (await get("incidents", "GET", "/incidents/rota", coordinator)).json()
    seen["coordinator: on call now"] = rota["primary"]
    seen["coordinator: rota gaps"] = len(rota["gaps"])
    seen["coordinator: rota entries"] = len(rota["entries"])

    finance = api.as_("finance", la.finance.person_id)
    tariffs = (await get("billing", "GET", "/billing/tariffs", finance)).json()
    listed = tariffs["tariffs"] if isinstance(tariffs, dict) else tariffs
    seen["finance: tariffs"] = sum(1 for t in listed if t["status"] == "confirmed")
    issued, drafts = 0, 0
    for urn in sorted({v.school_urn for v in la.traded_visits}):
        documents = (
            await get("billing", "GET", f"/billing/schools/{urn}/documents", finance)
        ).json()
        issued += sum(1 for d in documents if d["kind"] == "invoice")
        draft = (await get("billing", "GET", f"/billing/schools/{urn}/draft", finance)).json()
        drafts += 1 if draft["lines"] else 0
    seen["finance: invoices issued"] = issued
    seen["finance: schools with a draft"] = drafts
    unpriced = (await get("billing", "GET", "/billing/unpriced", finance)).json()
    seen["finance: unpriced"] = unpriced["count"]

    invoiced = next(  # a school buying by the hour: its closed months invoiced
        v.school_urn
        for v in la.traded_visits
        if v.completed
        and v.day < la.today - timedelta(days=40)
        and la.school(v.school_urn).sla_days is None
    )
    with_sla = next(s.urn for s in la.schools if s.sla_days)
    sbm = api.as_("school_business_manager", f"sbm-{invoiced}", invoiced)
    documents = (await get("billing", "GET", f"/billing/schools/{invoiced}/documents", sbm)).json()
    seen["school business manager: invoices"] = len(documents)
    sbm = api.as_("school_business_manager", f"sbm-{with_sla}", with_sla)
    balance = (await get("billing", "GET", f"/billing/schools/{with_sla}/balance", sbm)).json()
    seen["school business manager: agreements"] = len(balance["agreements"])
    return seen


def _submitted(report: dict[str, Any]) -> int:
    months = report.get("months", [])
    return sum(int(m.get("submitted", 0)) for m in months)
