"""Data protection on the real broker and database: a subject access request answered from every
service (everything about the child, nothing about another), rectification reaching every
holder, and erasure on the day a child's retention ends (Europe/London), suspended by a legal
hold, confirmed by every holder."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from eps_billing.bootstrap import SERVICE as BILLING
from eps_chassis.auth import Role, ensure_local_keys
from eps_chassis.service import Service, ServiceRuntime
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_contracts import Event, envelope_for
from eps_contracts.keys import CHILD_KEYS
from eps_contracts.privacy import SUBJECT_ACCESS
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_keys.bootstrap import SERVICE as KEYS_SERVICE
from eps_notifications.bootstrap import SERVICE as NOTIFICATIONS
from eps_privacy import metrics
from eps_privacy.adapters import holders
from eps_privacy.bootstrap import SERVICE as PRIVACY
from eps_privacy.entrypoints.jobs import REMIND, RETENTION
from eps_referrals.bootstrap import SERVICE as REFERRALS
from eps_scheduling.bootstrap import SERVICE as SCHEDULING
from eps_statutory.bootstrap import SERVICE as STATUTORY

from tests.support.builders import referrals as referral_builders
from tests.support.builders import statutory as statutory_builders
from tests.support.clock import FakeClock, suite_now
from tests.support.db import query, scalar
from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic_when, wait_until
from tests.support.keys import data_keys_of, keys_settings
from tests.support.problems import fields, problem
from tests.support.services import KEYS_DIR, Namespace, bearer, running

pytestmark = pytest.mark.integration

OFFICER = bearer(Role.DATA_PROTECTION, subject="dpo-1")
SENCO = bearer(Role.SENCO, school_urn=referral_builders.SCHOOL)
EP = bearer(Role.EP, subject="ep-reader")
HOLDERS = ("consent", "referrals", "scheduling", "statutory")
NONE_HELD = ("billing", "incidents", "notifications")
SERVICES: dict[str, Service[Any]] = {
    "referrals": REFERRALS,
    "consent": CONSENT,
    "scheduling": SCHEDULING,
    "statutory": STATUTORY,
    "billing": BILLING,
    "incidents": INCIDENTS,
    "notifications": NOTIFICATIONS,
}


@contextlib.asynccontextmanager
async def platform(
    infra: Infra,
    ns: Namespace,
    names: tuple[str, ...],
    privacy_clock: FakeClock | None = None,
    keys: httpx.AsyncClient | None = None,
) -> AsyncIterator[tuple[dict[str, httpx.AsyncClient], ServiceRuntime[Any], httpx.AsyncClient]]:
    """The services named and the privacy service, which asks them in-process; with ``keys``
    (a keys service's client), every one gets the children's data keys from it."""

    def keyed(name: str) -> dict[str, Any]:
        return {} if keys is None else {"data_keys": data_keys_of(keys, name)}

    async with contextlib.AsyncExitStack() as stack:
        stack.callback(holders.TRANSPORTS.clear)
        clients = {}
        for name in names:
            _, client = await stack.enter_async_context(
                running(SERVICES[name], infra, ns, **keyed(name))
            )
            clients[name] = client
            holders.TRANSPORTS[name] = client._transport  # the same in-process app
        shredding: dict[str, Any] = {}
        if keys is not None:
            holders.TRANSPORTS["keys"] = keys._transport
            shredding = {
                "keys_signing_key_file": ensure_local_keys(KEYS_DIR)[0],
                "privacy_shred_interval_s": 0.2,
            }
        privacy_runtime, privacy = await stack.enter_async_context(
            running(
                PRIVACY, infra, ns, clock=privacy_clock,
                privacy_services={name: "http://unused" for name in names},
                privacy_retention_interval_s=3600.0, privacy_reminder_interval_s=3600.0,
                **keyed("privacy"), **shredding,
            )
        )  # fmt: skip
        yield clients, privacy_runtime, privacy


async def publish(infra: Infra, ns: Namespace, event: Event) -> None:
    envelope = envelope_for(
        event, source="/la/sen", tenant=referral_builders.TENANT, actor="upstream:sen-system",
        time=suite_now(),
    )  # fmt: skip
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(event.topic.name),
        [envelope.model_dump_json().encode()],
        key=envelope.subject.encode(),
    )


async def refer(referrals: httpx.AsyncClient, given: str, family: str, born: date) -> Any:
    """A referral by the school's SENCO for a child; the referral as shown."""
    request = referral_builders.referral_requested(
        child=referral_builders.child(given_name=given, family_name=family, date_of_birth=born)
    )
    response = await referrals.post(
        "/referrals",
        content=request.model_dump_json(),
        headers={**SENCO, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    shown = await referrals.get(f"/referrals/{response.json()['referral_id']}", headers=EP)
    assert shown.status_code == 200, shown.text
    return shown.json()


async def rows(infra: Infra, ns: Namespace, service: str, sql: str, *args: object) -> int:
    count: int = await scalar(infra, sql.replace("{schema}", ns.schema(service)), *args)
    return count


async def everywhere_about(infra: Infra, ns: Namespace, child_id: uuid.UUID) -> dict[str, int]:
    """How many rows each holder keeps that name the child."""
    return {
        "referrals": await rows(
            infra, ns, "referrals", "SELECT count(*) FROM {schema}.referrals WHERE child_id = $1",
            child_id,
        ),
        "consent": await rows(
            infra, ns, "consent", "SELECT count(*) FROM {schema}.consent_cases WHERE child_id = $1",
            child_id,
        ),
        "scheduling": await rows(
            infra, ns, "scheduling",
            "SELECT count(*) FROM {schema}.referrals WHERE child_id = $1", child_id,
        ),
        "statutory": await rows(
            infra, ns, "statutory",
            "SELECT count(*) FROM {schema}.advice WHERE child_id = $1"
            " AND child_family_name <> '(erased)'",
            child_id,
        ),
    }  # fmt: skip


async def two_children(
    infra: Infra, ns: Namespace, clients: dict[str, httpx.AsyncClient], born: date
) -> tuple[dict[str, Any], dict[str, Any], uuid.UUID, uuid.UUID]:
    """Amelia and Oliver, each referred and asked about by the LA's SEN team, known to every
    holder; their referrals and advice ids."""
    amelia = await refer(clients["referrals"], "Amelia", "Example", born)
    oliver = await refer(clients["referrals"], "Oliver", "Other", born)
    amelia_advice, oliver_advice = uuid.uuid4(), uuid.uuid4()
    for shown, request_id, given in (
        (amelia, amelia_advice, "Amelia"),
        (oliver, oliver_advice, "Oliver"),
    ):
        await publish(
            infra, ns,
            statutory_builders.requested(
                request_id=request_id, child_id=uuid.UUID(shown["child_id"]),
                child_given_name=given, child_date_of_birth=born,
            ),
        )  # fmt: skip

    async def known_everywhere() -> bool:
        counts = [
            await everywhere_about(infra, ns, uuid.UUID(c["child_id"])) for c in (amelia, oliver)
        ]
        return all(n >= 1 for found in counts for n in found.values())

    await wait_until(known_everywhere, timeout_s=30, what="both children known to every holder")
    return amelia, oliver, amelia_advice, oliver_advice


async def test_a_subject_access_request_gathers_everything_about_the_child_and_nothing_else(
    infra: Infra, ns: Namespace
) -> None:
    async with platform(infra, ns, (*HOLDERS, *NONE_HELD)) as (clients, _, privacy):
        amelia, oliver, _, _ = await two_children(infra, ns, clients, date(2016, 5, 4))
        child_id = amelia["child_id"]
        opened = await privacy.post(
            "/privacy/subject-access-requests",
            json={
                "child_id": child_id,
                "requester": "Amelia's mother",
                "received_on": "2026-01-31",
            },
            headers=OFFICER,
        )
        assert opened.status_code == 201, opened.text
        assert opened.json()["due_on"] == "2026-02-28"  # no 31 February
        request_id = opened.json()["request_id"]

        response = await privacy.get(
            f"/privacy/subject-access-requests/{request_id}/bundle", headers=OFFICER
        )
        assert response.status_code == 200, response.text
        bundle = response.json()
        page = await privacy.get(
            f"/privacy/subject-access-requests/{request_id}/bundle.html", headers=OFFICER
        )
        refused = await clients["referrals"].get(
            f"/referrals/subject-access/children/{child_id}", headers=EP
        )

    answers = {a["service"]: a for a in bundle["answers"]}
    assert bundle["complete"] is True and bundle["unanswered"] == []
    assert sorted(answers) == sorted([*HOLDERS, *NONE_HELD, "privacy"])
    for name in NONE_HELD:
        assert answers[name]["holds_children_records"] is False
        assert answers[name]["records"] == []
    held = {
        (a["service"], r["kind"], r["record_id"]) for a in bundle["answers"] for r in a["records"]
    }
    consent_cases = {(s, k, i) for s, k, i in held if k == "consent case"}
    assert ("referrals", "referral", amelia["referral_id"]) in held
    assert ("consent", "consent case", amelia["referral_id"]) in consent_cases
    assert ("scheduling", "referral", amelia["referral_id"]) in held
    assert any(s == "statutory" and k == "advice" for s, k, _ in held)
    assert ("privacy", "subject access request", request_id) in held
    assert any(k == "referral event" for _, k, _ in held)  # the referral's history
    # nothing about Oliver, anywhere
    text = json.dumps(bundle)
    assert oliver["referral_id"] not in text and oliver["child_id"] not in text
    assert "Oliver" not in text and "Amelia" in text
    # who looked: the EP who read Amelia's referral, in referrals' own audit log
    readers = {(e["actor"], e["resource"]) for e in answers["referrals"]["audit"]}
    assert ("user:ep-reader", f"referral/{amelia['referral_id']}") in readers
    assert ("user:ep-reader", f"referral/{oliver['referral_id']}") not in readers
    # third parties' data marked for review: the mother's name in the request
    referral = next(r for r in answers["referrals"]["records"] if r["kind"] == "referral")
    assert "request.child.parental_responsibility" in referral["third_party"]
    assert bundle["to_review"] >= 1 and bundle["records"] == len(held)
    assert page.status_code == 200 and "Amelia" in page.text and "review for third" in page.text
    # only the data-protection officer and the principal EP may ask a service; refusals audited
    assert refused.status_code == 403
    audited = await query(
        infra,
        f"SELECT actor, action, resource, outcome FROM {ns.schema('referrals')}.audit_log"
        " WHERE actor IN ('user:dpo-1', 'user:ep-reader') AND resource NOT LIKE 'referral/%'"
        " ORDER BY id",
    )
    asked = ("user:dpo-1", "subject-access", f"child/{child_id}", "allowed")
    refusal = (
        "user:ep-reader",
        "subject_access",
        f"GET /referrals/subject-access/children/{child_id}",
        "denied",
    )
    assert [tuple(r) for r in audited] == [asked, asked, refusal]  # the bundle, its page


async def test_rectification_reaches_every_service_that_holds_the_childs_details(
    infra: Infra, ns: Namespace
) -> None:
    async with platform(infra, ns, HOLDERS) as (clients, _, privacy):
        amelia, oliver, _, _ = await two_children(infra, ns, clients, date(2016, 5, 4))
        child_id = uuid.UUID(amelia["child_id"])
        response = await privacy.post(
            f"/privacy/children/{child_id}/rectification",
            json={"family_name": "Exemplar", "date_of_birth": "2016-05-14",
                  "reason": "misspelt by the school; date of birth mistyped"},
            headers=OFFICER,
        )  # fmt: skip
        assert response.status_code == 202, response.text

        async def corrected() -> bool:
            referral = await clients["referrals"].get(
                f"/referrals/{amelia['referral_id']}", headers=EP
            )
            child = referral.json()["request"]["child"]
            advice = await query(
                infra,
                f"SELECT child_given_name, child_family_name, child_date_of_birth"
                f" FROM {ns.schema('statutory')}.advice WHERE child_id = $1",
                child_id,
            )
            born = await scalar(
                infra,
                f"SELECT child_date_of_birth FROM {ns.schema('consent')}.consent_cases"
                " WHERE child_id = $1",
                child_id,
            )
            return (
                (child["given_name"], child["family_name"], child["date_of_birth"])
                == ("Amelia", "Exemplar", "2016-05-14")
                and [tuple(a) for a in advice] == [("Amelia", "Exemplar", date(2016, 5, 14))]
                and born == date(2016, 5, 14)
            )

        await wait_until(corrected, timeout_s=20, what="every holder corrected")
        known = await scalar(
            infra,
            f"SELECT date_of_birth FROM {ns.schema('privacy')}.children WHERE child_id = $1",
            child_id,
        )
        assert known == date(2016, 5, 14)
        other = await clients["referrals"].get(f"/referrals/{oliver['referral_id']}", headers=EP)
        assert other.json()["request"]["child"]["family_name"] == "Other"


async def run_job(runtime: ServiceRuntime[Any], name: str = RETENTION) -> None:
    assert runtime.jobs is not None
    job = next(j for j in runtime.jobs.jobs if j.name == name)

    async def ran() -> bool:
        assert runtime.jobs is not None
        return await runtime.jobs.run_once(job)

    await wait_until(ran, timeout_s=10, what="the retention job ran")


async def test_erasure_comes_on_the_london_day_retention_ends_and_waits_for_a_legal_hold(
    infra: Infra, ns: Namespace
) -> None:
    born = date(2016, 6, 15)  # retention ends on 15 June 2041, in British Summer Time
    clock = FakeClock(datetime(2041, 6, 14, 22, 59, tzinfo=UTC))  # 23:59 on the 14th in London
    async with platform(infra, ns, HOLDERS, privacy_clock=clock) as (clients, runtime, privacy):
        amelia, oliver, _, _ = await two_children(infra, ns, clients, born)
        oliver_born = date(2016, 6, 16)  # a day younger: not yet due
        await privacy.post(
            f"/privacy/children/{oliver['child_id']}/rectification",
            json={"date_of_birth": oliver_born.isoformat(), "reason": "mistyped"},
            headers=OFFICER,
        )
        amelia_id, oliver_id = uuid.UUID(amelia["child_id"]), uuid.UUID(oliver["child_id"])
        await run_job(runtime)
        report = await privacy.get("/privacy/erasures", headers=OFFICER)
        assert report.json() == []  # 23:59 in London (22:59 UTC on the 14th): not yet

        hold = await privacy.post(
            f"/privacy/children/{amelia_id}/legal-holds",
            json={"reason": "SEND tribunal appeal lodged", "held_from": "2041-06-01"},
            headers=OFFICER,
        )
        assert hold.status_code == 201, hold.text
        clock.now = datetime(2041, 6, 14, 23, 0, 30, tzinfo=UTC)  # 00:00:30 on the 15th, BST
        await run_job(runtime)
        assert (await privacy.get("/privacy/erasures", headers=OFFICER)).json() == []  # held
        assert all(n >= 1 for n in (await everywhere_about(infra, ns, amelia_id)).values())

        lifted = await privacy.post(
            f"/privacy/legal-holds/{hold.json()['hold_id']}/lifting",
            json={"reason": "appeal decided"},
            headers=OFFICER,
        )
        assert lifted.status_code == 200, lifted.text
        assert lifted.json()["lifted_by"] == "user:dpo-1"
        await run_job(runtime)

        async def completed() -> list[Any]:
            erased: list[Any] = (await privacy.get("/privacy/erasures", headers=OFFICER)).json()
            return erased if erased and erased[0]["completed_at"] else []

        async def confirmed_by_all() -> bool:
            return bool(await completed())

        await wait_until(confirmed_by_all, timeout_s=30, what="every holder confirmed the erasure")
        [erasure] = await completed()

        assert erasure["child_id"] == str(amelia_id)
        assert erasure["rule"] == "retention_ended" and erasure["due_on"] == "2041-06-15"
        assert sorted(erasure["confirmed"]) == list(HOLDERS)
        assert await everywhere_about(infra, ns, amelia_id) == dict.fromkeys(HOLDERS, 0)
        assert all(n >= 1 for n in (await everywhere_about(infra, ns, oliver_id)).values())
        advice = await query(
            infra,
            f"SELECT child_given_name, child_date_of_birth, received_on"
            f" FROM {ns.schema('statutory')}.advice WHERE child_id = $1",
            amelia_id,
        )  # kept for the timeliness figures, no longer naming the child
        assert [(a[0], a[1]) for a in advice] == [("(erased)", date(2016, 1, 1))]
        forgotten = await scalar(
            infra,
            f"SELECT date_of_birth FROM {ns.schema('privacy')}.children WHERE child_id = $1",
            amelia_id,
        )
        assert forgotten is None


async def test_the_audit_log_is_kept_by_its_own_rule_and_still_append_only_for_services(
    infra: Infra, ns: Namespace
) -> None:
    async with running(CONSENT, infra, ns) as (runtime, client):
        await client.get(f"/consent/{uuid.uuid4()}", headers=EP)  # a row of today
        assert runtime.pool is not None and runtime.jobs is not None
        table = f"{ns.schema('consent')}.audit_log"
        await runtime.pool.execute(  # a row older than the six years kept (inserting is allowed)
            f"INSERT INTO {table} (at, tenant, actor, role, action, resource, outcome)"
            " VALUES (now() - interval '2191 days', 'leicester-city', 'user:old', 'ep', 'read',"
            " 'referral/old', 'allowed')"
        )
        for statement in (
            f"UPDATE {table} SET outcome = 'allowed'",
            f"DELETE FROM {table} WHERE actor = 'user:old'",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(Exception, match="audit_log is append-only"):
                await runtime.pool.execute(statement)  # the service's own role, directly
        housekeeping = next(j for j in runtime.jobs.jobs if j.name == "housekeeping")

        async def pruned() -> bool:
            assert runtime.jobs is not None
            return await runtime.jobs.run_once(housekeeping)

        await wait_until(pruned, timeout_s=10, what="housekeeping ran")
        kept = await query(infra, f"SELECT actor FROM {table}")
        assert [r["actor"] for r in kept] == ["user:ep-reader"]  # the old row went, by the rule


DUE_SOON = "eps.privacy.subject-access-request-due-soon.v1"


async def test_a_subject_access_request_is_reminded_before_it_is_due_and_may_be_extended_twice(
    infra: Infra, ns: Namespace
) -> None:
    clock = FakeClock(datetime(2027, 2, 20, 23, 59, tzinfo=UTC))  # GMT: 23:59 on the 20th
    async with running(
        PRIVACY, infra, ns, clock=clock,
        privacy_services={"referrals": "http://127.0.0.1:9"},  # nobody there
        privacy_retention_interval_s=3600.0, privacy_reminder_interval_s=3600.0,
    ) as (runtime, privacy):  # fmt: skip
        child_id = str(uuid.uuid4())
        future = await privacy.post(
            "/privacy/subject-access-requests",
            json={"child_id": child_id, "requester": "the child", "received_on": "2027-02-21"},
            headers=OFFICER,
        )
        opened = await privacy.post(
            "/privacy/subject-access-requests",
            json={"child_id": child_id, "requester": "the child", "received_on": "2027-01-31"},
            headers=OFFICER,
        )
        assert opened.status_code == 201, opened.text
        assert opened.json()["due_on"] == "2027-02-28"
        request_id = opened.json()["request_id"]
        await run_job(runtime, REMIND)  # 8 days left: no reminder yet
        clock.now = datetime(2027, 2, 21, 0, 0, 30, tzinfo=UTC)  # 7 days left
        await run_job(runtime, REMIND)
        await run_job(runtime, REMIND)  # once per due date
        due_soon = metrics.SUBJECT_ACCESS_OPEN.labels("privacy", "due_soon")._value.get()

        extension = f"/privacy/subject-access-requests/{request_id}/extension"
        too_long, once, beyond, by_ep = [
            await privacy.post(
                extension, json={"further_months": months, "reason": reason}, headers=caller
            )
            for months, reason, caller in (
                (3, "complex", OFFICER),
                (1, "records held by five services, many redactions", OFFICER),
                (2, "still complex", OFFICER),  # three further months in all
                (1, "complex", EP),
            )
        ]
        clock.now = datetime(2027, 3, 24, 0, 0, 30, tzinfo=UTC)  # 7 days before 31 March
        await run_job(runtime, REMIND)
        bundle = await privacy.get(
            f"/privacy/subject-access-requests/{request_id}/bundle", headers=OFFICER
        )
        not_answered = await privacy.post(
            f"/privacy/subject-access-requests/{request_id}/answer", headers=OFFICER
        )
        events = await read_topic_when(
            infra.kafka_bootstrap,
            ns.topic(SUBJECT_ACCESS.name),
            lambda records: len([r for r in records if DUE_SOON in r.value.decode()]) >= 2,
            what="two reminders published",
        )

    assert future.status_code == 422 and fields(future) == ["received_on"]
    reminders = [
        json.loads(r.value)["data"] for r in events if json.loads(r.value)["type"] == DUE_SOON
    ]
    assert [(r["due_on"], r["days_left"]) for r in reminders] == [
        ("2027-02-28", 7),
        ("2027-03-31", 7),  # the extended date is reminded in its turn
    ]
    assert due_soon == 1
    assert too_long.status_code == 422 and fields(too_long) == ["further_months"]
    assert once.status_code == 200, once.text
    assert once.json()["due_on"] == "2027-03-31"
    assert once.json()["extension_reason"] == "records held by five services, many redactions"
    assert beyond.status_code == 422 and fields(beyond) == ["further_months"]
    assert "at most 2 further months" in problem(beyond)["detail"]
    assert by_ep.status_code == 403
    # a service that does not answer: the bundle says so, and cannot be given as the answer
    assert bundle.status_code == 200, bundle.text
    assert bundle.json()["complete"] is False
    assert [u["service"] for u in bundle.json()["unanswered"]] == ["referrals"]
    assert not_answered.status_code == 409
    assert "no answer from referrals" in problem(not_answered)["detail"]


async def test_the_right_to_erasure_is_refused_while_held_and_then_reaches_every_holder(
    infra: Infra, ns: Namespace
) -> None:
    async with platform(infra, ns, HOLDERS) as (clients, _, privacy):
        amelia, oliver, _, _ = await two_children(infra, ns, clients, date(2016, 5, 4))
        amelia_id = uuid.UUID(amelia["child_id"])
        erase = f"/privacy/children/{amelia_id}/erasure"
        why = {"reason": "the parent's request under Article 17; no longer needed"}
        hold = await privacy.post(
            f"/privacy/children/{amelia_id}/legal-holds",
            json={"reason": "inquiry", "held_from": "2026-01-01"},
            headers=OFFICER,
        )
        held = await privacy.post(erase, json=why, headers=OFFICER)
        await privacy.post(
            f"/privacy/legal-holds/{hold.json()['hold_id']}/lifting",
            json={"reason": "inquiry closed"},
            headers=OFFICER,
        )
        by_ep = await privacy.post(erase, json=why, headers=EP)
        ordered = await privacy.post(erase, json=why, headers=OFFICER)
        again = await privacy.post(erase, json=why, headers=OFFICER)

        async def erased_everywhere() -> bool:
            return await everywhere_about(infra, ns, amelia_id) == dict.fromkeys(HOLDERS, 0)

        await wait_until(erased_everywhere, timeout_s=30, what="every holder erased the child")
        report = (await privacy.get("/privacy/erasures", headers=OFFICER)).json()
        oliver_kept = await everywhere_about(infra, ns, uuid.UUID(oliver["child_id"]))

    assert held.status_code == 409 and fields(held) == ["child_id"]
    assert by_ep.status_code == 403
    assert ordered.status_code == 202, ordered.text
    assert again.status_code == 409 and "erased already" in problem(again)["detail"]
    [erasure] = report
    assert erasure["erasure_id"] == ordered.json()["erasure_id"]
    assert (erasure["rule"], erasure["ordered_by"], erasure["reason"]) == (
        "erasure_request",
        "user:dpo-1",
        why["reason"],
    )
    assert all(n >= 1 for n in oliver_kept.values())


async def test_an_erasure_ends_with_the_childs_key_shredded_at_the_keys_service(
    infra: Infra, ns: Namespace
) -> None:
    as_consent = bearer(Role.SERVICE, subject="service:consent")
    async with running(KEYS_SERVICE, infra, ns, **keys_settings()) as (_, keys):
        async with platform(infra, ns, HOLDERS, keys=keys) as (clients, _, privacy):
            amelia, oliver, _, _ = await two_children(infra, ns, clients, date(2016, 5, 4))
            ordered = await privacy.post(
                f"/privacy/children/{amelia['child_id']}/erasure",
                json={"reason": "the parent's request under Article 17"},
                headers=OFFICER,
            )
            assert ordered.status_code == 202, ordered.text

            async def shredded() -> bool:
                report = (await privacy.get("/privacy/erasures", headers=OFFICER)).json()
                return bool(report and report[0]["completed_at"] and report[0]["key_shredded"])

            await wait_until(shredded, timeout_s=30, what="the erased child's key shredded")
        gone = await keys.get(f"/keys/children/{amelia['child_id']}", headers=as_consent)
        kept = await keys.get(f"/keys/children/{oliver['child_id']}", headers=as_consent)
        told = await read_topic_when(
            infra.kafka_bootstrap, ns.topic(CHILD_KEYS.name), bool, what="the shredding told"
        )

    assert gone.status_code == 410
    assert kept.status_code == 200
    [event] = [json.loads(r.value) for r in told]
    assert event["data"]["child_id"] == amelia["child_id"]
    assert event["data"]["erasure_id"] == ordered.json()["erasure_id"]
    assert event["actor"] == "service:privacy"
