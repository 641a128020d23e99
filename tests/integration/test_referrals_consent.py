"""Referrals and consent together on the real broker and database: no work without consent."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from eps_chassis.auth import Role
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_contracts import Event, envelope_for, topics
from eps_contracts.common import RequesterKind
from eps_contracts.consent import ConsentCaseClosed, ConsentStatusChanged, InvolvementConsent
from eps_contracts.referrals import Requester
from eps_contracts.scheduling import NamedEpAssigned
from eps_referrals.bootstrap import SERVICE as REFERRALS
from eps_referrals.domain.model import referral_id_for

from tests.support.builders import referrals as builders
from tests.support.clock import suite_now, suite_today
from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic, wait_until
from tests.support.problems import fields, located, problem
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

EP = "test-ep"  # the subject of bearer(Role.EP)
SENCO = bearer(Role.SENCO, school_urn=builders.SCHOOL)
EP_AUTH = bearer(Role.EP)
SENIOR_EP_AUTH = bearer(Role.SENIOR_EP)
COORDINATOR = bearer(Role.COORDINATOR)


async def publish(infra: Infra, ns: Namespace, event: Event, source: str) -> None:
    envelope = envelope_for(
        event,
        source=source,
        tenant=builders.TENANT,
        actor=f"service:{source.rsplit('/', 1)[1]}",
        time=suite_now(),
    )
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(event.topic.name),
        [envelope.model_dump_json().encode()],
        key=envelope.subject.encode(),
    )


async def fetchval(infra: Infra, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def status_becomes(client: httpx.AsyncClient, referral_id: str, status: str) -> None:
    async def reached() -> bool:
        response = await client.get(f"/referrals/{referral_id}", headers=EP_AUTH)
        return response.status_code == 200 and response.json()["status"] == status

    await wait_until(reached, timeout_s=20, what=f"referral {status}")


async def submit(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/referrals",
        content=builders.referral_requested(**overrides).model_dump_json(),
        headers={**SENCO, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def decide(
    consent: httpx.AsyncClient, referral_id: str, decision: str, **extra: Any
) -> httpx.Response:
    body = {
        "consenter_id": "p-1",
        "scope": "involvement",
        "decision": decision,
        "method": "signed_form",
        "decided_on": suite_today().isoformat(),
        "evidence_ref": "form-1",
        **extra,
    }
    return await consent.post(f"/consent/{referral_id}/decisions", json=body, headers=EP_AUTH)


async def to_active_casework(
    infra: Infra, ns: Namespace, referrals: httpx.AsyncClient, consent: httpx.AsyncClient
) -> str:
    """Named EP known, referral submitted, consent granted, accepted, consultation started."""
    await publish(
        infra,
        ns,
        NamedEpAssigned(school_urn=builders.SCHOOL, ep_id=EP, effective_from=date(2026, 9, 1)),
        "/eps/scheduling",
    )
    await wait_until(
        lambda: _has_row(infra, f"SELECT 1 FROM {ns.schema('referrals')}.named_eps"),
        what="named EP read model",
    )
    referral_id = (await submit(referrals))["referral_id"]
    view = (await referrals.get(f"/referrals/{referral_id}", headers=EP_AUTH)).json()
    assert view["status"] == "awaiting_consent" and view["named_ep_id"] == EP

    async def case_opened() -> bool:
        return (await consent.get(f"/consent/{referral_id}", headers=EP_AUTH)).status_code == 200

    await wait_until(case_opened, timeout_s=20, what="consent case opened")
    refused = await referrals.post(f"/referrals/{referral_id}/accept", headers=EP_AUTH)
    assert refused.status_code == 409 and "awaiting_consent" in refused.text
    granted = await decide(consent, referral_id, "granted")
    assert granted.status_code == 201, granted.text
    assert granted.json()["involvement_valid"] is True
    await status_becomes(referrals, referral_id, "awaiting_triage")
    accepted = await referrals.post(f"/referrals/{referral_id}/accept", headers=EP_AUTH)
    assert accepted.status_code == 200, accepted.text
    started = await referrals.post(
        f"/referrals/{referral_id}/casework", json={"stage": "consultation"}, headers=EP_AUTH
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "consultation"
    return str(referral_id)


async def _has_row(infra: Infra, sql: str) -> bool:
    try:
        return await fetchval(infra, sql) is not None
    except asyncpg.UndefinedTableError:
        return False


async def test_a_referral_reaches_active_casework_only_with_consent(
    infra: Infra, ns: Namespace
) -> None:
    async with (
        running(REFERRALS, infra, ns) as (_, referrals),
        running(CONSENT, infra, ns) as (_, consent),
    ):
        referral_id = await to_active_casework(infra, ns, referrals, consent)
        view = (await referrals.get(f"/referrals/{referral_id}", headers=SENCO)).json()
    steps = [h["event_type"].split(".")[2] for h in view["history"]]
    assert steps == [
        "referral-received",
        "referral-routed",
        "referral-awaiting-triage",
        "referral-accepted",
        "casework-stage-started",
    ]
    audited = await fetchval(
        infra,
        f"SELECT count(*) FROM {ns.schema('referrals')}.audit_log WHERE resource = $1",
        f"referral/{referral_id}",
    )
    assert audited >= 5  # submit, reads, the refused accept, accept, casework


async def test_withdrawing_consent_pauses_casework_until_it_is_granted_again(
    infra: Infra, ns: Namespace
) -> None:
    async with (
        running(REFERRALS, infra, ns) as (_, referrals),
        running(CONSENT, infra, ns) as (_, consent),
    ):
        referral_id = await to_active_casework(infra, ns, referrals, consent)
        withdrawn = await decide(
            consent, referral_id, "withdrawn", method="verbal", evidence_ref=None
        )
        assert withdrawn.status_code == 201, withdrawn.text
        await status_becomes(referrals, referral_id, "paused")
        refused = await referrals.post(
            f"/referrals/{referral_id}/casework", json={"stage": "assessment"}, headers=EP_AUTH
        )
        assert refused.status_code == 409 and "paused" in refused.text
        assert (await decide(consent, referral_id, "granted")).status_code == 201
        await status_becomes(referrals, referral_id, "consultation")
        casework = f"/referrals/{referral_id}/casework"
        skipping = await referrals.post(casework, json={"stage": "joint_plan"}, headers=EP_AUTH)
        assert skipping.status_code == 422 and "skip_reason" in fields(skipping)
        why = "the school's own assessment is recent and agreed by the family"
        skipped = await referrals.post(
            casework, json={"stage": "joint_plan", "skip_reason": why}, headers=EP_AUTH
        )
        assert skipped.status_code == 200, skipped.text
    history = await read_topic(infra.kafka_bootstrap, ns.topic(topics.REFERRALS.name))
    [to_plan] = [
        json.loads(r.value)["data"]
        for r in history
        if json.loads(r.value)["data"].get("stage") == "joint_plan"
    ]
    assert to_plan["skipped"] == ["assessment"] and to_plan["skip_reason"] == why
    published = await read_topic(infra.kafka_bootstrap, ns.topic(topics.CONSENT.name))
    changes = [
        json.loads(r.value)["data"]
        for r in published
        if json.loads(r.value)["type"] == ConsentStatusChanged.event_type
    ]
    assert [(c["involvement"], c["involvement_valid"]) for c in changes] == [
        ("granted", True),
        ("withdrawn", False),
        ("granted", True),
    ]


async def test_consent_known_before_the_referral_arrives_applies_on_arrival(
    infra: Infra, ns: Namespace
) -> None:
    request = builders.referral_requested()
    referral_id = referral_id_for(builders.TENANT, request.request_id)
    async with running(REFERRALS, infra, ns) as (_, referrals):
        await publish(
            infra,
            ns,
            ConsentStatusChanged(
                referral_id=referral_id,
                child_id=referral_id,
                involvement=InvolvementConsent.GRANTED,
                involvement_valid=True,
            ),
            "/eps/consent",
        )
        await wait_until(
            lambda: _has_row(infra, f"SELECT 1 FROM {ns.schema('referrals')}.consent_statuses"),
            what="consent status kept before the referral",
        )
        await publish_raw(
            infra.kafka_bootstrap,
            ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
            [builders.upstream_envelope(request).model_dump_json().encode()],
        )
        await status_becomes(referrals, str(referral_id), "awaiting_triage")
        view = (await referrals.get(f"/referrals/{referral_id}", headers=EP_AUTH)).json()
    assert view["routing"] == "no_named_ep_yet" and view["named_ep_id"] is None


async def test_a_duplicate_submission_is_linked_not_doubled(infra: Infra, ns: Namespace) -> None:
    async with running(REFERRALS, infra, ns) as (_, referrals):
        first = await submit(referrals)
        second = await submit(referrals)  # same child, same SENCO, new request id
        other_child = await submit(referrals, child=builders.child(given_name="Robin"))
    assert first["status"] == "awaiting_consent" and first["duplicate_of"] is None
    assert second["status"] == "duplicate" and second["duplicate_of"] == first["referral_id"]
    assert other_child["duplicate_of"] is None
    received = await fetchval(
        infra,
        f"SELECT count(*) FROM {ns.schema('referrals')}.outbox"
        " WHERE convert_from(value, 'UTF8') LIKE $1",
        "%referral-received%",
    )
    assert received == 2
    linked = await fetchval(
        infra,
        f"SELECT count(*) FROM {ns.schema('referrals')}.outbox"
        " WHERE convert_from(value, 'UTF8') LIKE $1",
        "%duplicate-linked%",
    )
    assert linked == 1


async def test_bad_upstream_payloads_are_dead_lettered_with_the_field(
    infra: Infra, ns: Namespace
) -> None:
    no_evidence = builders.referral_requested(graduated_approach=None)
    no_holder = builders.referral_requested(child=builders.child(parental_responsibility=()))
    bad_consent = json.loads(
        envelope_for(
            ConsentStatusChanged(
                referral_id=no_evidence.request_id,
                child_id=no_evidence.request_id,
                involvement=InvolvementConsent.GRANTED,
                involvement_valid=True,
            ),
            source="/eps/consent",
            tenant=builders.TENANT,
            actor="service:consent",
        ).model_dump_json()
    )
    bad_consent["data"]["involvement_valid"] = "yes"
    async with running(REFERRALS, infra, ns):
        await publish_raw(
            infra.kafka_bootstrap,
            ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
            [
                builders.upstream_envelope(r).model_dump_json().encode()
                for r in (no_evidence, no_holder)
            ],
        )
        await publish_raw(
            infra.kafka_bootstrap,
            ns.topic(topics.CONSENT.name),
            [json.dumps(bad_consent).encode()],
        )
        dlq = ns.topic("eps.dlq.referrals.v1")

        async def three() -> bool:
            return len(await read_topic(infra.kafka_bootstrap, dlq)) == 3

        await wait_until(three, timeout_s=30, what="three dead letters")
    reasons = sorted(
        dict(r.headers)["dlq-reason"].decode() for r in await read_topic(infra.kafka_bootstrap, dlq)
    )
    assert any("data.involvement_valid" in r for r in reasons)
    assert any(r.startswith("rejected: graduated_approach:") for r in reasons)
    assert any(r.startswith("rejected: child.parental_responsibility:") for r in reasons)
    assert await fetchval(infra, f"SELECT count(*) FROM {ns.schema('referrals')}.referrals") == 0


async def test_the_expiry_job_publishes_expired_consent_and_casework_pauses(
    infra: Infra, ns: Namespace
) -> None:
    now = [suite_now()]
    async with (
        running(REFERRALS, infra, ns) as (_, referrals),
        running(CONSENT, infra, ns, clock=lambda: now[0], consent_expiry_check_interval_s=0.2) as (
            _,
            consent,
        ),
    ):
        referral_id = await to_active_casework(infra, ns, referrals, consent)
        expiry = suite_today() + timedelta(days=30)
        regranted = await decide(consent, referral_id, "granted", expires_on=expiry.isoformat())
        assert regranted.json()["valid_until"] == expiry.isoformat()
        now[0] += timedelta(days=31)  # the injected clock moves past the re-consent date
        await status_becomes(referrals, referral_id, "paused")
        case = (await consent.get(f"/consent/{referral_id}", headers=EP_AUTH)).json()
    assert case["state"] == "expired" and case["involvement_valid"] is False


async def test_a_school_unknown_to_the_la_is_refused_over_http_and_waits_when_sent_upstream(
    infra: Infra, ns: Namespace
) -> None:
    """A person is told at once; an upstream request is held (not dead-lettered), visible to
    the principal EP with the reason, and applied once the school reaches the register."""
    unknown = "654321"
    senco_elsewhere = bearer(Role.SENCO, school_urn=unknown)
    principal = bearer(Role.PRINCIPAL_EP)
    elsewhere = Requester(
        kind=RequesterKind.SCHOOL_SENCO, person_id="senco-2", name="Kim Lee", school_urn=unknown
    )
    upstream_unknown = builders.referral_requested(
        requester=elsewhere, child=builders.child(school_urn=unknown)
    )
    schema = ns.schema("referrals")
    referral_id = referral_id_for(builders.TENANT, upstream_unknown.request_id)
    async with running(REFERRALS, infra, ns, held_release_interval_s=0.2) as (
        _,
        referrals,
    ):
        registered = await referrals.put(
            f"/referrals/schools/{builders.SCHOOL}",
            json={"name": "Example Primary"},
            headers=COORDINATOR,
        )
        assert registered.status_code == 200, registered.text
        refused = await referrals.post(
            "/referrals",
            content=upstream_unknown.model_dump_json(),
            headers={**senco_elsewhere, "Content-Type": "application/json"},
        )
        # a school the LA registered, with no named EP yet: accepted, visibly waiting for one
        known = await submit(referrals)
        envelope = builders.upstream_envelope(upstream_unknown)
        await publish_raw(
            infra.kafka_bootstrap,
            ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name),
            [envelope.model_dump_json().encode()],
            key=envelope.subject.encode(),
        )

        async def held() -> list[dict[str, Any]]:
            listed = await referrals.get("/referrals/held-events", headers=principal)
            assert listed.status_code == 200, listed.text
            rows: list[dict[str, Any]] = listed.json()
            return rows

        async def some_held() -> bool:
            return bool(await held())

        await wait_until(some_held, timeout_s=30, what="the request held")
        [waiting] = await held()
        assert (await referrals.get("/referrals/held-events", headers=EP_AUTH)).status_code == 403
        # the LA adds the school: the request is applied, nothing was dead-lettered
        added = await referrals.put(
            f"/referrals/schools/{unknown}", json={"name": "New Academy"}, headers=COORDINATOR
        )
        assert added.status_code == 200, added.text

        async def applied() -> bool:
            return bool(
                await fetchval(
                    infra, f"SELECT count(*) FROM {schema}.referrals WHERE referral_id = $1",
                    referral_id,
                )
            )  # fmt: skip

        await wait_until(applied, timeout_s=30, what="the held request applied")
        assert await held() == []
    assert refused.status_code == 422, refused.text
    assert "child.school_urn" in fields(refused)
    assert "unknown school 654321" in problem(refused)["detail"]
    assert known["status"] == "awaiting_consent" and known["routing"] == "no_named_ep_yet"
    assert waiting["event_id"] == str(envelope.id) and waiting["field"] == "child.school_urn"
    assert "unknown school 654321" in waiting["reason"]
    assert waiting["awaiting"] == f"school:{builders.TENANT}:{unknown}"
    assert "given_name" not in json.dumps(waiting)  # what it is and why, not the child
    assert await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.referrals.v1")) == []
    refused_audit = await fetchval(
        infra,
        f"SELECT outcome FROM {schema}.audit_log WHERE resource = $1",
        f"referral/{referral_id}",
    )
    assert refused_audit == "refused"
    assert await fetchval(
        infra, f"SELECT count(*) FROM {schema}.audit_log WHERE resource = 'held-events'"
    ) >= 2  # fmt: skip


async def test_a_senco_cannot_submit_a_request_by_another_route(
    infra: Infra, ns: Namespace
) -> None:
    as_parent = Requester(kind=RequesterKind.PARENT_CARER, person_id="p-1", name="Alex Taylor")
    async with running(REFERRALS, infra, ns) as (_, referrals):
        response = await referrals.post(
            "/referrals",
            # a parent's route would skip the school's graduated-approach evidence
            content=builders.referral_requested(
                requester=as_parent, graduated_approach=None
            ).model_dump_json(),
            headers={**SENCO, "Content-Type": "application/json"},
        )
    assert response.status_code == 403, response.text
    assert "requester.kind" in fields(response)
    schema = ns.schema("referrals")
    assert await fetchval(infra, f"SELECT count(*) FROM {schema}.referrals") == 0
    assert await fetchval(infra, f"SELECT outcome FROM {schema}.audit_log") == "denied"


async def test_a_declined_referral_closes_its_consent_case(infra: Infra, ns: Namespace) -> None:
    async with (
        running(REFERRALS, infra, ns) as (_, referrals),
        running(CONSENT, infra, ns) as (_, consent),
    ):
        referral_id = (await submit(referrals))["referral_id"]

        async def case_opened() -> bool:
            response = await consent.get(f"/consent/{referral_id}", headers=EP_AUTH)
            return response.status_code == 200

        await wait_until(case_opened, timeout_s=20, what="consent case opened")
        assert (await decide(consent, referral_id, "granted")).status_code == 201
        await status_becomes(referrals, referral_id, "awaiting_triage")
        declined = await referrals.post(
            f"/referrals/{referral_id}/decline",
            json={"reason": "Needs are met by the school's own provision."},
            headers=SENIOR_EP_AUTH,  # no named EP yet: a senior EP triages
        )
        assert declined.status_code == 200, declined.text

        async def case_closed() -> bool:
            response = await consent.get(f"/consent/{referral_id}", headers=EP_AUTH)
            return response.json()["closed_on"] is not None

        await wait_until(case_closed, timeout_s=20, what="consent case closed")
        case = (await consent.get(f"/consent/{referral_id}", headers=EP_AUTH)).json()
        regranted = await decide(consent, referral_id, "granted")
        withdrawn = await decide(
            consent, referral_id, "withdrawn", method="verbal", evidence_ref=None
        )
    assert case["closed_reason"] == "referral declined" and case["involvement_valid"] is True
    assert regranted.status_code == 409 and "finished" in regranted.text
    assert withdrawn.status_code == 201, withdrawn.text  # withdrawal is possible at any time
    assert withdrawn.json()["involvement_valid"] is False
    published = [
        json.loads(r.value)
        for r in await read_topic(infra.kafka_bootstrap, ns.topic(topics.CONSENT.name))
    ]
    closed = [e["data"] for e in published if e["type"] == ConsentCaseClosed.event_type]
    assert [(c["referral_id"], c["reason"]) for c in closed] == [(referral_id, "referral declined")]
    outcomes = await fetchval(
        infra,
        f"SELECT array_agg(outcome ORDER BY id) FROM {ns.schema('consent')}.audit_log"
        " WHERE action = 'record_consent_decision'",
    )
    assert outcomes == ["allowed", "refused", "allowed"]


async def test_the_minimum_evidence_is_la_configuration_changed_over_http(
    infra: Infra, ns: Namespace
) -> None:
    principal = bearer(Role.PRINCIPAL_EP)
    async with running(REFERRALS, infra, ns) as (_, referrals):
        path = "/referrals/configuration/graduated-approach"
        assert (await referrals.get(path, headers=SENCO)).json() == {
            "review_cycles": 2,
            "strategies": 1,
            "months_on_sen_support": 0,
        }
        first = await submit(referrals)  # two review cycles: enough by default
        stricter = {"review_cycles": 3, "strategies": 1, "months_on_sen_support": 0}
        refused = await referrals.put(path, json=stricter, headers=SENCO)
        assert refused.status_code == 403
        negative = await referrals.put(path, json={**stricter, "strategies": -1}, headers=principal)
        assert negative.status_code == 422 and "strategies" in negative.text
        changed = await referrals.put(path, json=stricter, headers=principal)
        assert changed.status_code == 200 and changed.json() == stricter
        response = await referrals.post(
            "/referrals",
            content=builders.referral_requested(
                child=builders.child(given_name="Sam")
            ).model_dump_json(),
            headers={**SENCO, "Content-Type": "application/json"},
        )
    assert first["status"] == "awaiting_consent"
    assert response.status_code == 422 and "review_cycles" in response.text, response.text
    audited = await fetchval(
        infra,
        f"SELECT count(*) FROM {ns.schema('referrals')}.audit_log"
        " WHERE action = 'configure' AND role = 'principal_ep'",
    )
    assert audited == 1


async def test_each_source_has_its_own_entry_that_takes_only_its_requests(
    infra: Infra, ns: Namespace
) -> None:
    parent = Requester(kind=RequesterKind.PARENT_CARER, person_id="p-9", name="Alex Doe")
    request = builders.referral_requested(requester=parent, graduated_approach=None)
    json = {"Content-Type": "application/json"}
    async with running(REFERRALS, infra, ns) as (_, referrals):
        taken = await referrals.post(
            "/referrals/sources/parent_carer",
            content=request.model_dump_json(),
            headers={**EP_AUTH, **json},
        )
        wrong_entry = await referrals.post(
            "/referrals/sources/virtual_school",
            content=builders.referral_requested(requester=parent).model_dump_json(),
            headers={**EP_AUTH, **json},
        )
        unknown = await referrals.post(
            "/referrals/sources/neighbour",
            content=request.model_dump_json(),
            headers={**EP_AUTH, **json},
        )
        senco_as_parent = await referrals.post(
            "/referrals/sources/parent_carer",
            content=builders.referral_requested(requester=parent).model_dump_json(),
            headers={**SENCO, **json},
        )
    assert taken.status_code == 201, taken.text
    assert taken.json()["status"] == "awaiting_consent"
    assert wrong_entry.status_code == 422 and "requester.kind" in wrong_entry.text
    assert unknown.status_code == 422 and "source" in unknown.text
    assert senco_as_parent.status_code == 403 and "requester.kind" in senco_as_parent.text


async def test_consent_periods_are_la_configuration_changed_over_http(
    infra: Infra, ns: Namespace
) -> None:
    from eps_consent.domain.rules import add_months

    principal = bearer(Role.PRINCIPAL_EP)
    path = "/consent/configuration/policy"
    async with (
        running(REFERRALS, infra, ns) as (_, referrals),
        running(CONSENT, infra, ns) as (_, consent),
    ):
        assert (await consent.get(path, headers=EP_AUTH)).json() == {
            "looked_after_reconsent_months": 24,
            "default_reconsent_months": None,  # by default consent lasts until withdrawn
        }
        yearly = {"looked_after_reconsent_months": 12, "default_reconsent_months": 12}
        assert (await consent.put(path, json=yearly, headers=SENCO)).status_code == 403
        zero = await consent.put(
            path, json={**yearly, "default_reconsent_months": 0}, headers=principal
        )
        assert zero.status_code == 422
        assert ("body", "default_reconsent_months") in located(zero)
        changed = await consent.put(path, json=yearly, headers=principal)
        assert changed.status_code == 200 and changed.json() == yearly
        # a grant with no expiry date of its own now lasts the LA's twelve months
        referral_id = await to_active_casework(infra, ns, referrals, consent)
        case = (await consent.get(f"/consent/{referral_id}", headers=EP_AUTH)).json()
    today = suite_today()
    assert case["valid_until"] == add_months(today, 12).isoformat()
    audited = await fetchval(
        infra,
        f"SELECT array_agg(action || ':' || outcome ORDER BY id) FROM {ns.schema('consent')}"
        ".audit_log WHERE resource = 'configuration/policy'",
    )
    assert audited == ["read-configuration:allowed", "configure:allowed"]
