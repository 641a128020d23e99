"""Journeys that cross services, walked end to end with all six services running as separate
processes (as `make run` starts them) through their public entry points only: HTTP, and the
upstream topics an LA's systems publish to. Each journey acts for a local authority of its own.
"""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from eps_chassis.auth import Role
from eps_contracts.common import RequesterKind
from eps_contracts.incidents import IncidentKind, IncidentReportSubmitted
from eps_contracts.referrals import Requester
from eps_contracts.scheduling import APPOINTMENTS
from eps_contracts.statutory import ADVICE, PsychologicalAdviceRequested
from eps_contracts.topics import REFERRALS

from tests.support.builders import referrals as builders
from tests.support.builders import statutory as statutory_builders
from tests.support.clock import suite_now, suite_today
from tests.support.problems import fields
from tests.support.system import La, System
from tests.system.journeys import (
    ALL_DAY,
    WEEKDAYS,
    academic_year,
    book,
    eventually,
    london_at,
    minutes_left_today,
    ok,
    on_call,
    phoned_in_report,
    referral_in_casework,
    register_ep,
    register_school,
    started_quarter,
)

pytestmark = pytest.mark.integration

DOCUMENT = statutory_builders.advice_document()


async def test_consent_withdrawn_mid_casework_pauses_it_and_cancels_future_appointments(
    system: System,
) -> None:
    la, school, ep_id = La.new("consent"), "100001", "ep-consent"
    ep = la.as_(Role.EP, subject=ep_id)
    async with (
        system.client("scheduling") as scheduling,
        system.client("referrals") as referrals,
        system.client("consent") as consent,
    ):
        await register_ep(scheduling, la, ep_id)
        await register_school(scheduling, la, school, ep_id)
        referral_id = await referral_in_casework(
            la, referrals, consent, school_urn=school, ep_id=ep_id
        )
        visit_day = suite_today() + timedelta(days=7)
        core = {"core_minutes": 600}
        year = academic_year(visit_day)
        url = f"/scheduling/schools/{school}/core-allocations/{year}"
        ok(await scheduling.put(url, json=core, headers=la.as_(Role.ADMIN)))
        appointment = await book(
            scheduling,
            la,
            {
                "kind": "consultation",
                "funding_stream": "core",
                "starts_at": london_at(visit_day, 10).isoformat(),
                "duration_minutes": 90,
                "ep_id": ep_id,
                "school_urn": school,
                "referral_id": referral_id,
            },
            ep_id=ep_id,
        )
        withdrawal = {
            "consenter_id": "p-1",
            "scope": "involvement",
            "decision": "withdrawn",
            "method": "verbal",
            "decided_on": suite_today().isoformat(),
        }
        ok(
            await consent.post(f"/consent/{referral_id}/decisions", json=withdrawal, headers=ep),
            201,
        )

        async def paused() -> bool:
            view = ok(await referrals.get(f"/referrals/{referral_id}", headers=ep))
            return bool(view["status"] == "paused")

        await eventually(paused, "casework paused")
        diary_url = f"/scheduling/eps/{ep_id}/diary"
        window = {
            "start": london_at(visit_day, 0).isoformat(),
            "end": london_at(visit_day + timedelta(days=1), 0).isoformat(),
        }

        async def cancelled() -> dict[str, Any] | None:
            rows = ok(await scheduling.get(diary_url, params=window, headers=ep))
            row = next(r for r in rows if r["appointment_id"] == appointment["appointment_id"])
            return row if row["status"] == "cancelled" else None

        row = await eventually(cancelled, "the future appointment cancelled")
        refused = await scheduling.post(
            "/scheduling/appointments",
            json={
                "kind": "consultation",
                "funding_stream": "core",
                "starts_at": london_at(visit_day, 14).isoformat(),
                "duration_minutes": 60,
                "ep_id": ep_id,
                "school_urn": school,
                "referral_id": referral_id,
            },
            headers=ep,
        )
    assert "consent" in row["reason"]
    assert refused.status_code == 422 and "referral_id" in fields(refused)
    published = await system.events(REFERRALS.name, tenant=la.tenant)
    assert "eps.referrals.casework-paused.v1" in [e["type"] for e in published]


async def test_statutory_advice_from_the_las_request_to_submission_inside_six_weeks(
    system: System,
) -> None:
    la, school = La.new("statutory"), "100002"
    ep_id, senior_id = "ep-statutory", "senior-statutory"
    ep, senior = la.as_(Role.EP, subject=ep_id), la.as_(Role.SENIOR_EP, subject=senior_id)
    async with system.client("scheduling") as scheduling, system.client("statutory") as statutory:
        await register_ep(scheduling, la, ep_id, pattern=WEEKDAYS, on_rota=False)
        await register_school(scheduling, la, school, ep_id)
        request = PsychologicalAdviceRequested(
            request_id=uuid.uuid4(),
            requested_at=suite_now(),
            assessment_requested_on=suite_today() - timedelta(days=20),
            la_case_ref="EHC-SYS-0001",
            child_id=uuid.uuid4(),
            child_given_name="Sam",
            child_family_name="Taylor",
            child_date_of_birth=date(2016, 5, 4),
            school_urn=school,
            school_name="Greenfield Primary School",
        )
        await system.publish_upstream(request, tenant=la.tenant, system="sen-system")

        async def booked() -> dict[str, Any] | None:
            rows = ok(await statutory.get("/statutory/advice/open", headers=ep))
            return next((r for r in rows if r["assessment_booked"]), None)

        advice = await eventually(booked, "the assessment visit booked by scheduling")
        url = f"/statutory/advice/{advice['advice_id']}"
        view = ok(await statutory.get(url, headers=ep))
        [visit] = [b for b in view["bookings"] if b["appointment_id"]]
        ok(await statutory.put(f"{url}/draft", json=DOCUMENT, headers=ep))
        ok(await statutory.post(f"{url}/approval", headers=senior))
        submitted = ok(await statutory.post(f"{url}/submission", headers=ep))
        appointments = ok(
            await scheduling.get(
                f"/scheduling/eps/{ep_id}/diary",
                params={
                    "start": suite_now().isoformat(),
                    "end": (suite_now() + timedelta(days=50)).isoformat(),
                },
                headers=ep,
            )
        )
    assert submitted["status"] == "submitted"
    assert date.fromisoformat(submitted["submitted_on"]) <= date.fromisoformat(
        submitted["six_week_due_on"]
    )
    [appointment] = [a for a in appointments if a["appointment_id"] == visit["appointment_id"]]
    assert appointment["kind"] == "statutory_assessment_visit"
    assert appointment["funding_stream"] == "statutory" and appointment["referral_id"] is None
    events = {e["type"]: e["data"] for e in await system.events(ADVICE.name, tenant=la.tenant)}
    assert events["eps.statutory.advice-submitted.v2"]["within_six_weeks"] is True
    assert events["eps.statutory.advice-allocated.v1"]["ep_id"] in (ep_id, None)


async def test_a_critical_incident_reported_upstream_and_by_phone_displaces_routine_work(
    system: System,
) -> None:
    la, school, other_school = La.new("incident"), "100003", "100004"
    named, rota, spare = "ep-named", "ep-rota", "ep-spare"
    coordinator = la.as_(Role.COORDINATOR, subject="coord-1")
    async with system.client("scheduling") as scheduling, system.client("incidents") as incidents:
        for ep_id, on_rota in ((named, False), (rota, True), (spare, True)):
            await register_ep(scheduling, la, ep_id, pattern=ALL_DAY, on_rota=on_rota)
        await register_school(scheduling, la, school, named)
        await register_school(scheduling, la, other_school, spare)
        await on_call(incidents, la, "coord-1", "pep-1")
        manager = la.as_(Role.PRINCIPAL_EP, subject="pep-1")
        # this LA visits a sudden death within two hours, for an hour and a half
        level_2 = {
            "eps_needed": 2,
            "on_site": True,
            "senior_lead_required": False,
            "response_minutes": 90,
            "allocate_within_minutes": 30,
            "first_contact_within_minutes": 60,
            "first_contact_same_day": False,
            "first_visit_within_minutes": 120,
        }
        url = "/incidents/configuration/levels"
        levels = ok(await incidents.get(url, headers=manager))
        ok(await incidents.put(url, json={**levels, "level_2": level_2}, headers=manager))
        # both EPs the incident needs are busy with routine work for the next four hours
        routine = [
            appointment
            for ep_id in (named, rota)
            for appointment in await busy(scheduling, la, ep_id, school, hours=4)
        ]
        reported = ok(
            await incidents.post("/incidents", json=phoned_in_report(school), headers=coordinator),
            201,
        )
        upstream = IncidentReportSubmitted(
            report_id=uuid.uuid4(),
            school_urn=other_school,
            kind=IncidentKind.SERIOUS_ACCIDENT,
            occurred_at=suite_now() - timedelta(minutes=10),
            reported_by="Duty officer, LA system",
            pupils_affected=4,
            staff_affected=1,
            level=1,
        )
        await system.publish_upstream(upstream, tenant=la.tenant, system="safeguarding-hub")
        incident_url = f"/incidents/{reported['incident_id']}"

        async def allocated() -> dict[str, Any] | None:
            view = ok(await incidents.get(incident_url, headers=coordinator))
            return view if view["answered_at"] else None

        answered = await eventually(allocated, "EPs allocated to the phoned-in incident")

        async def upstream_allocated() -> dict[str, Any] | None:
            listed = ok(await incidents.get("/incidents", headers=coordinator))["incidents"]
            found = [i for i in listed if i["school_urn"] == other_school and i["answered_at"]]
            return found[0] if found else None

        from_upstream = await eventually(upstream_allocated, "the upstream incident allocated")
        acknowledged = ok(await incidents.post(f"{incident_url}/acknowledge", headers=coordinator))
        going = [e["ep_id"] for e in answered["allocated_eps"]]
        ok(
            await incidents.post(
                f"{incident_url}/first-contact",
                json={"made_at": suite_now().isoformat(), "made_by": going[0]},
                headers=coordinator,
            )
        )
        ok(
            await incidents.post(
                f"{incident_url}/visits",
                json={"visited_at": suite_now().isoformat(), "ep_ids": going},
                headers=coordinator,
            )
        )
        ok(
            await incidents.post(
                f"{incident_url}/follow-up",
                json={
                    "review_on": (suite_today() + timedelta(days=14)).isoformat(),
                    "plan": "Review with the head in two weeks.",
                },
                headers=coordinator,
            )
        )
        closed = ok(
            await incidents.post(
                f"{incident_url}/close", json={"summary": "Support given."}, headers=coordinator
            )
        )

        async def moved() -> list[dict[str, Any]] | None:
            """Routine work displaced for the incident, as scheduling published it."""
            ids = {a["appointment_id"] for a in routine}
            changes = [
                e["data"]
                for e in await system.events(APPOINTMENTS.name, tenant=la.tenant)
                if e["data"].get("appointment_id") in ids
                and e["type"].endswith(("appointment-rescheduled.v1", "appointment-cancelled.v1"))
            ]
            return changes or None

        changes = await eventually(moved, "the displaced routine work moved")
        diary = {
            ep_id: ok(
                await scheduling.get(
                    f"/scheduling/eps/{ep_id}/diary",
                    params={
                        "start": (suite_now() - timedelta(hours=1)).isoformat(),
                        "end": (suite_now() + timedelta(days=3)).isoformat(),
                    },
                    headers=coordinator,
                )
            )
            for ep_id in going
        }
    assert named in going and len(going) == 2 and answered["shortfall"] == 0
    assert acknowledged["acknowledged_by"] == "coord-1"
    assert closed["status"] == "closed"
    assert len(from_upstream["allocated_eps"]) == 1 and from_upstream["shortfall"] == 0
    for change in changes:  # moved with notice: a new time or a cancellation, saying why
        assert "displaced by critical incident" in change["reason"]
    for rows in diary.values():  # nobody is in two places: the routine work went elsewhere
        booked = sorted(
            (datetime.fromisoformat(r["starts_at"]), datetime.fromisoformat(r["ends_at"]))
            for r in rows
            if r["status"] == "booked"
        )
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(booked)), booked


async def busy(
    scheduling: Any, la: La, ep_id: str, school: str, *, hours: int
) -> list[dict[str, Any]]:
    """Routine appointments filling an EP's diary from the next quarter hour for ``hours``
    (split at midnight, so each lies in one working day): not started, so displaceable."""
    booked, start = [], started_quarter() + timedelta(minutes=15)
    end = start + timedelta(hours=hours)
    while start < end:
        minutes = min(int((end - start).total_seconds() // 60), minutes_left_today(start), 480)
        body = {
            "kind": "consultation",
            "funding_stream": "statutory",
            "starts_at": start.isoformat(),
            "duration_minutes": minutes,
            "ep_id": ep_id,
            "school_urn": school,
        }
        booked.append(await book(scheduling, la, body, ep_id=ep_id))
        start += timedelta(minutes=minutes)
    return booked


async def test_a_hung_replica_does_not_stop_its_service_publishing(system: System) -> None:
    """Two replicas of referrals; one hangs (SIGSTOP): what the other writes is still published
    within the relay's bound (EPS_RELAY_CLAIM_TIMEOUT_S, 5 s here), whichever one led."""
    la, school = La.new("replicas"), "100005"
    second = system.start("referrals", replica=True)
    system.wait_ready([second])
    first = system.processes["referrals"]
    senco = {**la.as_(Role.SENCO, school_urn=school), "Content-Type": "application/json"}
    timings = []
    for n, (hung, healthy) in enumerate(((first, second), (second, first))):
        request = builders.referral_requested(
            request_id=uuid.uuid4(),
            requested_on=suite_today(),
            requester=Requester(
                kind=RequesterKind.SCHOOL_SENCO, person_id="senco-1", name="Jo", school_urn=school
            ),
            child=builders.child(school_urn=school, given_name=f"Child{n}"),
        )
        with system.hung(hung):
            started = time.monotonic()
            async with system.client_of(healthy) as api:
                created = await api.post(
                    "/referrals", content=request.model_dump_json(), headers=senco
                )
                ok(created, 201)

            async def published(request_id: str = str(request.request_id)) -> bool:
                events = await system.events(REFERRALS.name, tenant=la.tenant)
                return any(e["data"].get("request_id") == request_id for e in events)

            await eventually(published, "the referral's event published", timeout_s=30)
            timings.append(time.monotonic() - started)
    print(f"published with a replica hung: {timings[0]:.1f} s and {timings[1]:.1f} s")
    assert all(t < 5.0 + 10 for t in timings), timings
