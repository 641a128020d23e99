"""Statutory advice on the real broker and database.

Scheduling's answers are simulated by publishing its events here: the statutory service only
depends on the contracts, never on the scheduling service.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from eps_chassis.auth import Role
from eps_chassis.london import end_of_day, london_date
from eps_chassis.sealing import Sealer
from eps_contracts import Event, envelope_for
from eps_contracts.scheduling import (
    BOOKING_REQUESTS,
    AppointmentBooked,
    AppointmentKind,
    AppointmentRescheduled,
    FundingStream,
    NamedEpAssigned,
)
from eps_contracts.sealed import SealedValue
from eps_contracts.statutory import (
    ADVICE,
    AdviceDocument,
    AdviceSubmitted,
    PsychologicalAdviceRequested,
    PsychologicalAdviceRequestWithdrawn,
    TribunalAppealRegistered,
)
from eps_statutory.bootstrap import SERVICE

from tests.support.clock import FakeClock, suite_now
from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic, wait_until
from tests.support.problems import fields, located
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
SCHOOL = "123456"
EP = bearer(Role.EP)  # subject test-ep
SENIOR = bearer(Role.SENIOR_EP)
# the deadline watch out of the way
QUIET: dict[str, Any] = {"statutory_deadline_watch_interval_s": 3600}
DOCUMENT = {
    "summary": "Sam is curious and kind; reading is well below that of peers.",
    "professionals_involved": "Educational psychologist; speech and language therapist.",
    "basis_of_assessment": "Observation, consultation with staff and parents, assessment.",
    "background": "On SEN support since January 2025.",
    "child_views": "Sam likes drawing and finds busy rooms hard.",
    "parent_views": "Sam's mother wants help with reading and with mornings.",
    "needs": "Cognition and learning: decoding and phonological awareness.",
    "outcomes": "Sam will read age-appropriate texts with support by the end of Year 6.",
    "provision": "Daily small-group phonics in a mainstream primary; a visual timetable.",
}


async def publish(infra: Infra, ns: Namespace, event: Event) -> None:
    envelope = envelope_for(
        event, source="/la/sen", tenant=TENANT, actor="upstream:sen-system", time=suite_now()
    )
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(event.topic.name),
        [envelope.model_dump_json().encode()],
        key=envelope.subject.encode(),
    )


def advice_request(requested_at: datetime) -> PsychologicalAdviceRequested:
    return PsychologicalAdviceRequested(
        request_id=uuid.uuid4(),
        requested_at=requested_at,
        assessment_requested_on=london_date(requested_at) - timedelta(days=30),
        la_case_ref="EHC-2026-0042",
        child_id=uuid.uuid4(),
        child_given_name="Sam",
        child_family_name="Taylor",
        child_date_of_birth=date(2016, 5, 4),
        school_urn=SCHOOL,
        school_name="Greenfield Primary School",
    )


async def events_on(infra: Infra, ns: Namespace, topic: str, event_type: str) -> list[Any]:
    records = await read_topic(infra.kafka_bootstrap, ns.topic(topic))
    return [
        json.loads(r.value)["data"] for r in records if json.loads(r.value)["type"] == event_type
    ]


async def wait_for_event(
    infra: Infra, ns: Namespace, topic: str, event_type: str, count: int = 1
) -> list[Any]:
    async def arrived() -> bool:
        return len(await events_on(infra, ns, topic, event_type)) >= count

    await wait_until(arrived, timeout_s=30, what=f"{event_type} on {topic}")
    return await events_on(infra, ns, topic, event_type)


async def fetch_value(infra: Infra, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def requested_advice(
    infra: Infra, ns: Namespace, request: PsychologicalAdviceRequested
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Publish the SEN team's request; the advice id and scheduling's booking request."""
    await publish(infra, ns, request)

    async def received() -> list[Any]:
        return [
            e
            for e in await events_on(
                infra, ns, ADVICE.name, "eps.statutory.advice-request-received.v1"
            )
            if e["request_id"] == str(request.request_id)
        ]

    async def booking_asked() -> list[Any]:
        advice = await received()
        bookings = await events_on(
            infra, ns, BOOKING_REQUESTS.name, "eps.scheduling.booking-requested.v1"
        )
        return [b for b in bookings if advice and b["advice_id"] == advice[0]["advice_id"]]

    async def asked() -> bool:
        return bool(await booking_asked())

    await wait_until(asked, timeout_s=30, what="the booking request for the advice")
    [booking] = await booking_asked()
    return uuid.UUID(booking["advice_id"]), booking


async def test_request_allocation_booking_draft_approval_submission(
    infra: Infra, ns: Namespace
) -> None:
    async with running(SERVICE, infra, ns, **QUIET) as (_, client):
        await publish(
            infra,
            ns,
            NamedEpAssigned(school_urn=SCHOOL, ep_id="test-ep", effective_from=date(2025, 9, 1)),
        )
        schema = ns.schema("statutory")
        await wait_until(
            lambda: _truthy(fetch_value(infra, f"SELECT count(*) FROM {schema}.named_eps")),
            what="named EP read model",
        )
        requested_at = suite_now()
        request = advice_request(requested_at)
        advice_id, booking = await requested_advice(infra, ns, request)
        due = london_date(requested_at) + timedelta(weeks=6)
        assert booking["funding_stream"] == "statutory"
        assert booking["kind"] == "statutory_assessment_visit"
        assert booking["ep_id"] == "test-ep"  # the school's named EP
        assert datetime.fromisoformat(booking["latest"]) < end_of_day(due)
        [allocated] = await events_on(infra, ns, ADVICE.name, "eps.statutory.advice-allocated.v1")
        assert allocated == {"advice_id": str(advice_id), "route": "named_ep", "ep_id": "test-ep"}

        # drafting waits for the visit
        url = f"/statutory/advice/{advice_id}"
        early = await client.put(f"{url}/draft", json=DOCUMENT, headers=EP)
        assert early.status_code == 409

        await publish(
            infra,
            ns,
            AppointmentBooked(
                appointment_id=uuid.uuid4(),
                request_id=uuid.UUID(booking["request_id"]),
                case_ref=booking["case_ref"],
                kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                ep_id="test-ep",
                school_urn=SCHOOL,
                starts_at=requested_at + timedelta(days=7),
                ends_at=requested_at + timedelta(days=7, hours=3),
                funding_stream=FundingStream.STATUTORY,
            ),
        )

        async def booked() -> bool:
            view = await client.get(url, headers=EP)
            return bool(view.json()["status"] == "assessment_booked")

        await wait_until(booked, what="assessment booked")

        # a second piece of the assessment work, with its own purpose and booking request
        asked = await client.post(
            f"{url}/booking-requests", json={"purpose": "parents_views"}, headers=EP
        )
        assert asked.status_code == 202 and asked.json()["purpose"] == "parents_views"
        [_, parents_booking] = await wait_for_event(
            infra, ns, BOOKING_REQUESTS.name, "eps.scheduling.booking-requested.v1", count=2
        )
        assert parents_booking["request_id"] == asked.json()["request_id"]
        again = await client.post(
            f"{url}/booking-requests", json={"purpose": "parents_views"}, headers=EP
        )
        assert again.status_code == 409  # scheduling has not answered yet
        no_body = await client.post(f"{url}/booking-requests", headers=EP)
        assert no_body.status_code == 409  # no body: the visit, which is already booked
        unknown = await client.post(
            f"{url}/booking-requests", json={"purpose": "school_visit"}, headers=EP
        )
        assert unknown.status_code == 422 and located(unknown) == [("body", "purpose")]
        await publish(
            infra,
            ns,
            AppointmentBooked(
                appointment_id=uuid.uuid4(),
                request_id=uuid.UUID(parents_booking["request_id"]),
                case_ref=booking["case_ref"],
                kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                ep_id="test-ep",
                school_urn=SCHOOL,
                starts_at=requested_at + timedelta(days=9),
                ends_at=requested_at + timedelta(days=9, hours=1),
                funding_stream=FundingStream.STATUTORY,
            ),
        )

        async def both_booked() -> bool:
            view = (await client.get(url, headers=EP)).json()
            return [b["appointment_id"] is not None for b in view["bookings"]] == [True, True]

        await wait_until(both_booked, what="parents' views booked")
        view = (await client.get(url, headers=EP)).json()
        assert [b["purpose"] for b in view["bookings"]] == ["assessment_visit", "parents_views"]
        assert [b["request_id"] for b in view["bookings"]] == [
            booking["request_id"],
            parents_booking["request_id"],
        ]
        booked_events = await events_on(
            infra, ns, ADVICE.name, "eps.statutory.advice-assessment-booked.v1"
        )
        assert [e["purpose"] for e in booked_events] == ["assessment_visit", "parents_views"]

        naming = {**DOCUMENT, "provision": "A place at Greenfield Primary School."}
        drafted = await client.put(f"{url}/draft", json=naming, headers=EP)
        assert drafted.status_code == 200 and drafted.json()["status"] == "drafted"
        refused = await client.post(f"{url}/approval", headers=SENIOR)
        assert refused.status_code == 422
        assert "document.provision" in fields(refused)
        assert (await client.post(f"{url}/approval", headers=EP)).status_code == 403

        assert (await client.put(f"{url}/draft", json=DOCUMENT, headers=EP)).status_code == 200
        assert (await client.post(f"{url}/submission", headers=EP)).status_code == 409
        approved = await client.post(f"{url}/approval", headers=SENIOR)
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        submitted = await client.post(f"{url}/submission", headers=EP)
        assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"

        [event] = await wait_for_event(infra, ns, ADVICE.name, AdviceSubmitted.event_type)
        assert event["advice_id"] == str(advice_id)
        # the document travels sealed for the child: it opens with the child's key alone
        assert "summary" not in event["document"]
        opened = await Sealer(ns.data_keys).open(
            SealedValue.model_validate(event["document"], strict=False),
            AdviceDocument,
            tenant="leicester-city",
            event_type=AdviceSubmitted.event_type,
            field="document",
        )
        assert opened is not None and opened.model_dump(mode="json") == DOCUMENT
        assert event["within_six_weeks"] is True
        assert (event["author_ep_id"], event["approved_by"]) == ("test-ep", "test-senior_ep")

        # scoping: school staff have no access; another LA does not see the advice
        senco = bearer(Role.SENCO, school_urn=SCHOOL)
        assert (await client.get(url, headers=senco)).status_code == 403
        elsewhere = bearer(Role.EP, tenant="luton")
        assert (await client.get(url, headers=elsewhere)).status_code == 404
        assert (await client.get(url)).status_code == 401

        # a tribunal appeal on the case gives the EP evidence and attendance tasks
        hearing = london_date(requested_at) + timedelta(weeks=30)
        await publish(
            infra,
            ns,
            TribunalAppealRegistered(
                appeal_id=uuid.uuid4(),
                request_id=request.request_id,
                registered_on=london_date(requested_at) + timedelta(weeks=12),
                hearing_on=hearing,
            ),
        )
        [created] = await wait_for_event(
            infra, ns, ADVICE.name, "eps.statutory.tribunal-tasks-created.v1"
        )
        assert {(t["kind"], t["ep_id"]) for t in created["tasks"]} == {
            ("evidence", "test-ep"),
            ("attendance", "test-ep"),
        }
        tasks = (await client.get("/statutory/tribunal-tasks", headers=EP)).json()
        assert [(t["kind"], t["due_on"]) for t in tasks] == [
            ("evidence", (hearing - timedelta(days=21)).isoformat()),
            ("attendance", hearing.isoformat()),
        ]

        report = await client.get(
            "/statutory/reports/timeliness",
            params={"from": requested_at.strftime("%Y-%m"), "to": "2099-12"},
            headers=SENIOR,
        )
        [month] = report.json()["months"]
        assert (month["submitted"], month["percent_within_six_weeks"]) == (1, 100.0)

    audited = await fetch_value(
        infra,
        f"SELECT array_agg(action || ':' || outcome ORDER BY id) FROM {schema}.audit_log"
        " WHERE resource = $1",
        f"advice/{advice_id}",
    )
    assert "approve:refused" in audited and "submit:allowed" in audited
    assert "read:not_found" in audited


async def test_an_exception_extends_the_deadline(infra: Infra, ns: Namespace) -> None:
    async with running(SERVICE, infra, ns, **QUIET) as (runtime, client):
        requested_at = runtime.clock() - timedelta(days=3)
        advice_id, _ = await requested_advice(infra, ns, advice_request(requested_at))
        received = london_date(requested_at)
        url = f"/statutory/advice/{advice_id}/exceptions"
        body = {
            "kind": "child_or_parent_away",
            "starts_on": (received + timedelta(days=1)).isoformat(),
            "ends_on": (received + timedelta(days=28)).isoformat(),
            "reason": "The family are abroad caring for a relative.",
            "evidence": ["email from parent"],
            "parents_notified_on": received.isoformat(),
        }
        holiday = await client.post(url, json={**body, "kind": "school_holiday"}, headers=EP)
        assert holiday.status_code == 422 and "kind" in fields(holiday)
        missing = await client.post(url, json={**body, "evidence": []}, headers=EP)
        assert missing.status_code == 422 and located(missing) == [("body", "evidence")]

        recorded = await client.post(url, json=body, headers=EP)
        assert recorded.status_code == 201, recorded.text
        extended = received + timedelta(weeks=6, days=28)
        assert recorded.json()["due_on"] == extended.isoformat()
        assert recorded.json()["six_week_due_on"] == (received + timedelta(weeks=6)).isoformat()
        [event] = await wait_for_event(
            infra, ns, ADVICE.name, "eps.statutory.advice-exception-recorded.v1"
        )
        assert event["due_on"] == extended.isoformat() and "reason" not in event

        listed = await client.get("/statutory/advice/open", headers=EP)
        [row] = listed.json()
        assert row["days_remaining"] == (extended - london_date(runtime.clock())).days


async def test_the_watch_raises_a_breach_once_without_anyone_asking(
    infra: Infra, ns: Namespace
) -> None:
    now = suite_now() + timedelta(days=50)  # the job's clock: seven weeks on
    async with running(
        SERVICE, infra, ns, clock=FakeClock(now), statutory_deadline_watch_interval_s=0.2
    ) as (_, client):
        advice_id, _ = await requested_advice(infra, ns, advice_request(suite_now()))
        [breach] = await wait_for_event(
            infra, ns, ADVICE.name, "eps.statutory.advice-deadline-breached.v1"
        )
        assert breach["advice_id"] == str(advice_id)
        assert breach["detected_on"] == london_date(now).isoformat()
        schema = ns.schema("statutory")

        async def several_more_ticks() -> bool:
            pending = await fetch_value(
                infra, f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
            )
            return bool(pending == 0)

        await wait_until(several_more_ticks, what="outbox drained")
        await asyncio.sleep(1.0)  # five more runs of the watch
        at_risk = await client.get("/statutory/advice/at-risk", headers=EP)
        [row] = at_risk.json()
        assert row["overdue"] is True and row["reasons"] == ["no_assessment_booked", "no_draft"]
    breaches = await events_on(infra, ns, ADVICE.name, "eps.statutory.advice-deadline-breached.v1")
    assert len(breaches) == 1


async def test_a_rescheduled_visit_is_followed_and_a_move_past_the_last_day_flagged(
    infra: Infra, ns: Namespace
) -> None:
    async with running(SERVICE, infra, ns, **QUIET) as (_, client):
        requested_at = suite_now()
        request = advice_request(requested_at)
        advice_id, booking = await requested_advice(infra, ns, request)
        appointment_id = uuid.uuid4()
        first_visit = requested_at + timedelta(days=7)
        await publish(
            infra,
            ns,
            AppointmentBooked(
                appointment_id=appointment_id,
                request_id=uuid.UUID(booking["request_id"]),
                case_ref=booking["case_ref"],
                kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                ep_id="ep-team-1",
                school_urn=SCHOOL,
                starts_at=first_visit,
                ends_at=first_visit + timedelta(hours=3),
                funding_stream=FundingStream.STATUTORY,
            ),
        )
        await wait_for_event(infra, ns, ADVICE.name, "eps.statutory.advice-assessment-booked.v1")
        due = london_date(requested_at) + timedelta(weeks=6)
        too_late = end_of_day(due) + timedelta(hours=9)
        for moved_to, ep in (
            (first_visit + timedelta(days=2), "ep-team-2"),
            (too_late, "ep-team-2"),
        ):
            await publish(
                infra,
                ns,
                AppointmentRescheduled(
                    appointment_id=appointment_id,
                    case_ref=booking["case_ref"],
                    ep_id=ep,
                    starts_at=moved_to,
                    ends_at=moved_to + timedelta(hours=3),
                    reason="the parent asked for another day",
                ),
            )
        moved, late = await wait_for_event(
            infra, ns, ADVICE.name, "eps.statutory.advice-assessment-rescheduled.v1", count=2
        )
        assert (moved["ep_id"], moved["starts_after_last_day"]) == ("ep-team-2", False)
        assert datetime.fromisoformat(late["starts_at"]) == too_late
        assert late["starts_after_last_day"] is True

        view = (await client.get(f"/statutory/advice/{advice_id}", headers=SENIOR)).json()
        assert datetime.fromisoformat(view["appointment_starts_at"]) == too_late
        assert view["status"] == "assessment_booked" and view["ep_id"] == "ep-team-2"
        plan_due = request.assessment_requested_on + timedelta(weeks=20)
        assert view["plan_due_on"] == plan_due.isoformat()
        [row] = (await client.get("/statutory/advice/open", headers=SENIOR)).json()
        assert row["plan_due_on"] == plan_due.isoformat()
        [received] = await events_on(
            infra, ns, ADVICE.name, "eps.statutory.advice-request-received.v1"
        )
        assert received["plan_due_on"] == plan_due.isoformat()


async def _truthy(value: Any) -> bool:
    return bool(await value)


async def test_an_appeal_on_a_request_not_yet_received_waits_for_it(
    infra: Infra, ns: Namespace
) -> None:
    """News of a request the EPS has not received (an appeal, a withdrawal) is held, visible,
    and applied once the request arrives: not dead-lettered."""
    request = advice_request(suite_now())
    appeal = TribunalAppealRegistered(
        appeal_id=uuid.uuid4(),
        request_id=request.request_id,
        registered_on=london_date(suite_now()),
        hearing_on=london_date(suite_now()) + timedelta(weeks=12),
    )
    principal = bearer(Role.PRINCIPAL_EP)
    async with running(SERVICE, infra, ns, held_release_interval_s=0.2, **QUIET) as (_, client):
        await publish(infra, ns, appeal)

        async def held() -> list[dict[str, Any]]:
            listed = await client.get("/statutory/held-events", headers=principal)
            assert listed.status_code == 200, listed.text
            rows: list[dict[str, Any]] = listed.json()
            return rows

        async def one_held() -> bool:
            return len(await held()) == 1

        await wait_until(one_held, what="the appeal held")
        [waiting] = await held()
        assert waiting["field"] == "request_id"
        assert waiting["awaiting"] == f"advice-request:{TENANT}:{request.request_id}"
        advice_id, _ = await requested_advice(infra, ns, request)
        [tasks] = await wait_for_event(
            infra, ns, ADVICE.name, "eps.statutory.tribunal-tasks-created.v1"
        )
        assert tasks["advice_id"] == str(advice_id)
        assert await held() == []
    assert await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.statutory.v1")) == []


async def test_the_las_withdrawal_closes_the_advice_upstream_or_told_by_phone(
    infra: Infra, ns: Namespace
) -> None:
    manager = bearer(Role.PRINCIPAL_EP)
    async with running(SERVICE, infra, ns, **QUIET) as (_, client):
        by_system, _ = await requested_advice(infra, ns, first := advice_request(suite_now()))
        await publish(
            infra,
            ns,
            PsychologicalAdviceRequestWithdrawn(
                request_id=first.request_id,
                withdrawn_on=london_date(suite_now()),
                reason="The LA decided not to carry out an assessment.",
            ),
        )
        [upstream] = await wait_for_event(
            infra, ns, ADVICE.name, "eps.statutory.advice-withdrawn.v1"
        )
        by_phone, _ = await requested_advice(infra, ns, advice_request(suite_now()))
        url = f"/statutory/advice/{by_phone}/withdrawal"
        body = {"withdrawn_on": london_date(suite_now()).isoformat(), "reason": "Family moved."}
        assert (await client.post(url, json=body, headers=EP)).status_code == 403
        withdrawn = await client.post(url, json=body, headers=manager)
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "withdrawn"
        draft = await client.put(f"/statutory/advice/{by_phone}/draft", json=DOCUMENT, headers=EP)
        assert draft.status_code == 409 and "withdrawn" in draft.text
        still_open = (await client.get("/statutory/advice/open", headers=EP)).json()
    assert upstream["advice_id"] == str(by_system)
    assert upstream["reason"] == "The LA decided not to carry out an assessment."
    assert {row["advice_id"] for row in still_open}.isdisjoint({str(by_system), str(by_phone)})


async def test_the_las_policy_is_configuration_read_and_replaced_whole_and_audited(
    infra: Infra, ns: Namespace
) -> None:
    url = "/statutory/configuration/policy"
    principal = bearer(Role.PRINCIPAL_EP)
    async with running(SERVICE, infra, ns, **QUIET) as (_, client):
        defaults = await client.get(url, headers=SENIOR)
        assert defaults.status_code == 200, defaults.text
        assert defaults.json() == {
            "advice_weeks": 6,
            "at_risk_days": 10,
            "exception_rule": "extend_by_length",
            "allocation_rule": "named_ep",
            "assessment_minutes": 180,
            "booking_margin_days": 14,
            "tribunal_evidence_lead_days": 21,
        }
        five_weeks = {**defaults.json(), "advice_weeks": 5, "allocation_rule": "statutory_team"}
        assert (await client.put(url, json=five_weeks, headers=SENIOR)).status_code == 403
        assert (await client.get(url, headers=EP)).status_code == 403
        no_weeks = {**five_weeks, "advice_weeks": 0}
        out_of_range = await client.put(url, json=no_weeks, headers=principal)
        assert out_of_range.status_code == 422
        assert "advice_weeks" in fields(out_of_range)
        replaced = await client.put(url, json=five_weeks, headers=principal)
        assert replaced.status_code == 200 and replaced.json() == five_weeks
        assert (await client.get(url, headers=SENIOR)).json() == five_weeks

        requested_at = suite_now()
        advice_id, booking = await requested_advice(infra, ns, advice_request(requested_at))
        [row] = (await client.get("/statutory/advice/open", headers=EP)).json()
        assert row["advice_id"] == str(advice_id)
        assert row["due_on"] == (london_date(requested_at) + timedelta(weeks=5)).isoformat()
        assert booking["ep_id"] is None  # the statutory team's
    audited = await fetch_value(
        infra,
        f"SELECT array_agg(action || ':' || outcome ORDER BY id) FROM {ns.schema('statutory')}"
        ".audit_log WHERE resource LIKE '%configuration/policy'",
    )
    # the refusals at the door (a role, a rule) are audited under the route that refused them
    assert audited == [
        "read-configuration:allowed",
        "replace_configuration:denied",
        "read_configuration:denied",
        "replace_configuration:invalid",
        "configure:allowed",
        "read-configuration:allowed",
    ]
