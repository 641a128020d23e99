"""A subject access request walked end to end with every service a process of its own: the
LA's data-protection officer opens it at the privacy service, which asks every service over
HTTP (with the officer's own token) and assembles one bundle: everything about the child, and
nothing about another child."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest
from eps_chassis.auth import Role
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import Requester
from eps_contracts.statutory import PsychologicalAdviceRequested

from tests.support.builders import referrals as builders
from tests.support.clock import suite_now, suite_today
from tests.support.system import La, System
from tests.system.journeys import eventually, ok

pytestmark = pytest.mark.integration


async def test_a_subject_access_request_is_answered_from_every_service(system: System) -> None:
    la, school = La.new("subject-access"), "100009"
    senco = {**la.as_(Role.SENCO, school_urn=school), "Content-Type": "application/json"}
    officer = la.as_(Role.DATA_PROTECTION, subject="dpo-journey")
    async with system.client("referrals") as referrals, system.client("privacy") as privacy:
        submitted = {}
        for given, family in (("Amelia", "Example"), ("Oliver", "Other")):
            request = builders.referral_requested(
                requested_on=suite_today(),
                requester=Requester(
                    kind=RequesterKind.SCHOOL_SENCO, person_id="senco-1", name="Jo Patel",
                    school_urn=school,
                ),
                child=builders.child(given_name=given, family_name=family, school_urn=school),
            )  # fmt: skip
            response = await referrals.post(
                "/referrals/sources/school_senco", content=request.model_dump_json(), headers=senco
            )
            submitted[given] = ok(response, 201)["referral_id"]
        ep = la.as_(Role.EP)
        shown = ok(await referrals.get(f"/referrals/{submitted['Amelia']}", headers=ep))
        child_id = shown["child_id"]
        await system.publish_upstream(
            PsychologicalAdviceRequested(
                request_id=uuid.uuid4(), requested_at=suite_now(),
                assessment_requested_on=suite_today(), la_case_ref="EHC-SAR-0001",
                child_id=uuid.UUID(child_id), child_given_name="Amelia",
                child_family_name="Example", child_date_of_birth=date(2016, 5, 4),
                school_urn=school, school_name="Greenfield Primary School",
            ),
            tenant=la.tenant, system="sen-system",
        )  # fmt: skip
        opened = ok(
            await privacy.post(
                "/privacy/subject-access-requests",
                json={"child_id": child_id, "requester": "Amelia's mother",
                      "received_on": suite_today().isoformat()},
                headers=officer,
            ),
            201,
        )  # fmt: skip
        bundle_url = f"/privacy/subject-access-requests/{opened['request_id']}/bundle"

        async def complete() -> dict[str, Any] | None:
            bundle: dict[str, Any] = ok(await privacy.get(bundle_url, headers=officer))
            kinds = {(a["service"], r["kind"]) for a in bundle["answers"] for r in a["records"]}
            wanted = {("referrals", "referral"), ("consent", "consent case"),
                      ("scheduling", "referral"), ("statutory", "advice")}  # fmt: skip
            return bundle if wanted <= kinds else None

        bundle = await eventually(complete, "every holder's records in the bundle", 60)
        page = await privacy.get(f"{bundle_url}.html", headers=officer)

    assert {a["service"] for a in bundle["answers"]} == set(system.definitions)
    text = json.dumps(bundle)
    assert submitted["Amelia"] in text
    assert submitted["Oliver"] not in text and "Oliver" not in text
    referrals_answer = next(a for a in bundle["answers"] if a["service"] == "referrals")
    who_looked = {(e["actor"], e["action"], e["resource"]) for e in referrals_answer["audit"]}
    assert who_looked >= {
        ("user:test-senco", "submit", f"referral/{submitted['Amelia']}"),
        ("user:test-ep", "read", f"referral/{submitted['Amelia']}"),
    }
    assert page.status_code == 200 and "Amelia" in page.text
