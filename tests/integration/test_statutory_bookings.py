"""Statutory advice and scheduling running together on the real broker and database: the LA's
request for advice is the lawful basis of its assessment booking (no casework consent), and the
request's withdrawal cancels what was booked for it."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role
from eps_chassis.london import london_date
from eps_contracts import envelope_for
from eps_contracts.scheduling import APPOINTMENTS
from eps_contracts.statutory import PsychologicalAdviceRequested
from eps_scheduling.bootstrap import SERVICE as SCHEDULING
from eps_statutory.bootstrap import SERVICE as STATUTORY

from tests.support.builders import statutory as statutory_builders
from tests.support.clock import suite_now
from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic, wait_until
from tests.support.problems import fields, problem
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
SCHOOL = "123456"
ADMIN = bearer(Role.ADMIN)
EP = bearer(Role.EP)  # subject test-ep: the school's named EP
PRINCIPAL = bearer(Role.PRINCIPAL_EP)
WEEKDAYS = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)]
DOCUMENT = statutory_builders.advice_document()


async def seed_scheduling(scheduling: httpx.AsyncClient) -> None:
    ep = {
        "ep_id": "test-ep",
        "role": "ep",
        "working_pattern": WEEKDAYS,
        "weekly_capacity_minutes": 37 * 60,
        "base_latitude": 52.64,
        "base_longitude": -1.14,
        "on_rota": False,
    }
    assert (await scheduling.put("/scheduling/eps/test-ep", json=ep, headers=ADMIN)).is_success
    school = {
        "latitude": 52.6369,
        "longitude": -1.1398,
        "named_ep_id": "test-ep",
        "effective_from": "2025-09-01",
    }
    response = await scheduling.put(f"/scheduling/schools/{SCHOOL}", json=school, headers=ADMIN)
    assert response.status_code == 200, response.text


async def request_advice(infra: Infra, ns: Namespace) -> PsychologicalAdviceRequested:
    request = PsychologicalAdviceRequested(
        request_id=uuid.uuid4(),
        requested_at=suite_now(),
        assessment_requested_on=london_date(suite_now()) - timedelta(days=30),
        la_case_ref="EHC-2026-0042",
        child_id=uuid.uuid4(),
        child_given_name="Sam",
        child_family_name="Taylor",
        child_date_of_birth=date(2016, 5, 4),
        school_urn=SCHOOL,
        school_name="Greenfield Primary School",
    )
    envelope = envelope_for(
        request, source="/la/sen", tenant=TENANT, actor="upstream:sen-system", time=suite_now()
    )
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(request.topic.name),
        [envelope.model_dump_json().encode()],
        key=envelope.subject.encode(),
    )
    return request


async def open_advice(statutory: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed = await statutory.get("/statutory/advice/open", headers=EP)
    assert listed.status_code == 200, listed.text
    rows: list[dict[str, Any]] = listed.json()
    return rows


async def test_an_advice_request_is_booked_without_consent_and_its_withdrawal_cancels_it(
    infra: Infra, ns: Namespace
) -> None:
    # the deadline watch out of the way
    quiet: dict[str, Any] = {"statutory_deadline_watch_interval_s": 3600}
    async with (
        running(SCHEDULING, infra, ns) as (_, scheduling),
        running(STATUTORY, infra, ns, **quiet) as (statutory_runtime, statutory),
    ):
        await seed_scheduling(scheduling)

        async def named_ep_known() -> bool:  # statutory learns it from scheduling's event
            assert statutory_runtime.pool is not None
            schema = ns.schema("statutory")
            found = await statutory_runtime.pool.fetchval(
                f"SELECT count(*) FROM {schema}.named_eps"
            )
            return bool(found)

        await wait_until(named_ep_known, timeout_s=30, what="the named EP known to statutory")
        await request_advice(infra, ns)

        async def booked() -> list[dict[str, Any]]:
            return [a for a in await open_advice(statutory) if a["assessment_booked"]]

        async def is_booked() -> bool:
            return bool(await booked())

        await wait_until(is_booked, timeout_s=30, what="the assessment booked by scheduling")
        [advice] = await booked()
        advice_id = advice["advice_id"]
        url = f"/statutory/advice/{advice_id}"
        drafted = await statutory.put(f"{url}/draft", json=DOCUMENT, headers=EP)
        assert drafted.status_code == 200, drafted.text
        view = (await statutory.get(url, headers=EP)).json()
        [visit] = [b for b in view["bookings"] if b["appointment_id"]]

        withdrawal = {"withdrawn_on": london_date(suite_now()).isoformat(), "reason": "Moved."}
        withdrawn = await statutory.post(f"{url}/withdrawal", json=withdrawal, headers=PRINCIPAL)
        assert withdrawn.status_code == 200, withdrawn.text

        async def cancellations() -> list[dict[str, Any]]:
            records = await read_topic(infra.kafka_bootstrap, ns.topic(APPOINTMENTS.name))
            return [
                json.loads(r.value)["data"]
                for r in records
                if json.loads(r.value)["type"] == "eps.scheduling.appointment-cancelled.v1"
            ]

        async def cancelled() -> bool:
            return bool(await cancellations())

        await wait_until(cancelled, timeout_s=30, what="the assessment visit cancelled")
        [cancellation] = await cancellations()
        again = await scheduling.post(
            "/scheduling/appointments",
            json={
                "kind": "statutory_assessment_visit",
                "funding_stream": "statutory",
                "starts_at": (suite_now() + timedelta(days=14)).isoformat(),
                "duration_minutes": 60,
                "ep_id": "test-ep",
                "school_urn": SCHOOL,
                "advice_id": advice_id,
            },
            headers=EP,
        )
    assert visit["purpose"] == "assessment_visit"
    assert cancellation["appointment_id"] == visit["appointment_id"]
    assert "statutory advice request withdrawn: Moved." in cancellation["reason"]
    assert cancellation["cancelled_by"] == "service"
    assert again.status_code == 422 and "advice_id" in fields(again)
    assert "withdrawn" in problem(again)["detail"]
    dead = await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.scheduling.v1"))
    assert dead == []
