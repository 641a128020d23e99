"""Scheduling on the real broker and database: atomic booking, consent, delivered time, and a
fast track that a routine backlog cannot hold up."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from eps_chassis.auth import Role
from eps_chassis.london import academic_year_of, london_date
from eps_contracts import Event, envelope_for
from eps_contracts.billing import (
    ServiceLevelAgreementBought,
    ServiceLevelAgreementCancelled,
    ServiceLevelAgreementChanged,
)
from eps_contracts.consent import ConsentStatusChanged, InvolvementConsent
from eps_contracts.incidents import FastTrackAllocationRequested
from eps_contracts.scheduling import (
    APPOINTMENTS,
    BOOKING_REQUESTS,
    DELIVERED_TIME,
    FAST_TRACK_ALLOCATIONS,
    SCHOOLS,
    AppointmentBookingRequested,
    AppointmentKind,
    FundingStream,
)
from eps_scheduling.bootstrap import SERVICE
from eps_scheduling.entrypoints.jobs import PLANNING_MEETINGS

from tests.support.clock import FakeClock, suite_now
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, partitions_of, publish_raw, read_topic, wait_until
from tests.support.problems import fields, problem
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

TENANT = "leicester-city"
SCHOOL = "123456"
ALL_DAY_EVERY_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]


async def seed(client: httpx.AsyncClient) -> None:
    """Three EPs who can work at any hour (so the test runs any day) and one school."""
    await add_ep(client, "ep-named", on_rota=False, latitude=52.64, longitude=-1.14)
    await add_ep(client, "ep-near", latitude=52.65, longitude=-1.13)
    await add_ep(client, "ep-far", role="senior_ep", latitude=52.95, longitude=-1.15)
    await add_school(client, named_ep_id="ep-named")


async def add_ep(
    client: httpx.AsyncClient,
    ep_id: str,
    *,
    role: str = "ep",
    pattern: list[dict[str, Any]] = ALL_DAY_EVERY_DAY,
    on_rota: bool = True,
    latitude: float = 52.64,
    longitude: float = -1.14,
) -> None:
    body = {
        "ep_id": ep_id,
        "role": role,
        "working_pattern": pattern,
        "weekly_capacity_minutes": 7 * 24 * 60,
        "base_latitude": latitude,
        "base_longitude": longitude,
        "on_rota": on_rota,
    }
    response = await client.put(f"/scheduling/eps/{ep_id}", json=body, headers=bearer(Role.ADMIN))
    assert response.status_code == 200, response.text


async def add_school(client: httpx.AsyncClient, *, named_ep_id: str) -> None:
    school = {
        "latitude": 52.6369,
        "longitude": -1.1398,
        "named_ep_id": named_ep_id,
        "effective_from": "2026-09-01",
    }
    response = await client.put(
        f"/scheduling/schools/{SCHOOL}", json=school, headers=bearer(Role.ADMIN)
    )
    assert response.status_code == 200, response.text


def raw(event: Event, source: str, at: datetime | None = None) -> bytes:
    envelope = envelope_for(
        event, source=source, tenant=TENANT, actor=f"service:{source}", time=at or suite_now()
    )
    return envelope.model_dump_json().encode()


async def publish(
    infra: Infra, ns: Namespace, events: list[Event], source: str, at: datetime | None = None
) -> None:
    """Publish as another service would, stamped by the suite clock (or ``at``)."""
    topic = ns.topic(events[0].topic.name)
    await publish_raw(
        infra.kafka_bootstrap,
        topic,
        [raw(e, source, at) for e in events],
        keys=[e.aggregate_id().encode() for e in events],
    )


async def events_on(infra: Infra, ns: Namespace, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in await read_topic(infra.kafka_bootstrap, ns.topic(topic))]


def in_minutes(minutes: int) -> datetime:
    """A quarter hour about ``minutes`` from now, by the suite clock: for tests about what
    happens now (they run at each awkward instant, where nothing they book crosses midnight)."""
    now = suite_now().replace(second=0, microsecond=0)
    return now + timedelta(minutes=minutes - now.minute % 15)


def days_ahead(days: int, hour: int = 10) -> datetime:
    """``hour`` o'clock in London ``days`` from today by the suite clock: for tests that need
    a time, not "now", and must not find it at midnight or outside the day."""
    london = ZoneInfo("Europe/London")
    day = suite_now().astimezone(london).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=london).astimezone(UTC)


def booking(starts_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "consultation",
        "funding_stream": "statutory",
        "starts_at": starts_at.isoformat(),
        "duration_minutes": 60,
        "ep_id": "ep-near",
        "school_urn": SCHOOL,
        **extra,
    }


async def test_concurrent_bookings_of_one_slot_let_exactly_one_through(
    infra: Infra, ns: Namespace
) -> None:
    start = days_ahead(3)
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        answers = await asyncio.gather(
            *(
                client.post(
                    "/scheduling/appointments",
                    json=booking(start + timedelta(minutes=15 * (i % 2))),
                    headers=bearer(Role.EP),
                )
                for i in range(8)
            )
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] + [409] * 7, [r.text for r in answers]
        conflict = next(r for r in answers if r.status_code == 409)
        assert fields(conflict) == ["starts_at"]
    conn = await asyncpg.connect(infra.database_url)
    try:
        schema = ns.schema("scheduling")
        booked = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.appointments WHERE status = 'booked'"
        )
        assert booked == 1
        # The database itself refuses an overlapping row, whatever the application does.
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(
                f"INSERT INTO {schema}.appointments (appointment_id, tenant, ep_id, kind, status,"
                " starts_at, ends_at, funding_stream, academic_year)"
                " VALUES ($1, $2, 'ep-near', 'consultation', 'booked', $3, $4, 'core', 2026)",
                uuid.uuid4(),
                TENANT,
                start + timedelta(minutes=30),
                start + timedelta(minutes=90),
            )
    finally:
        await conn.close()


async def test_no_booking_without_consent_and_withdrawal_cancels_future_appointments(
    infra: Infra, ns: Namespace
) -> None:
    referral_id, child_id = uuid.uuid4(), uuid.uuid4()

    def consent(valid: bool, state: InvolvementConsent) -> ConsentStatusChanged:
        return ConsentStatusChanged(
            referral_id=referral_id,
            child_id=child_id,
            involvement=state,
            involvement_valid=valid,
            reason=None if valid else "parent withdrew consent",
        )

    schema = ns.schema("scheduling")
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        refused = await client.post(
            "/scheduling/appointments",
            json=booking(days_ahead(2), referral_id=str(referral_id)),
            headers=bearer(Role.EP),
        )
        assert refused.status_code == 422
        assert "referral_id" in fields(refused)
        await publish(infra, ns, [consent(True, InvolvementConsent.GRANTED)], "consent")
        conn = await asyncpg.connect(infra.database_url)
        try:

            async def consent_known() -> bool:
                return bool(await conn.fetchval(f"SELECT count(*) FROM {schema}.consent_status"))

            await wait_until(consent_known, timeout_s=20, what="consent read model")
            booked = []
            for days in (2, 3):
                response = await client.post(
                    "/scheduling/appointments",
                    json=booking(days_ahead(days), referral_id=str(referral_id)),
                    headers=bearer(Role.EP),
                )
                assert response.status_code == 201, response.text
                booked.append(response.json()["appointment_id"])
            audited = await conn.fetchval(
                f"SELECT count(*) FROM {schema}.audit_log"
                " WHERE action = 'book' AND resource LIKE $1",
                f"referral/{referral_id}/%",
            )
            assert audited == 2
            await publish(infra, ns, [consent(False, InvolvementConsent.WITHDRAWN)], "consent")

            async def both_cancelled() -> bool:
                return (
                    await conn.fetchval(
                        f"SELECT count(*) FROM {schema}.appointments WHERE status = 'cancelled'"
                    )
                    == 2
                )

            await wait_until(both_cancelled, timeout_s=20, what="appointments cancelled")
            again = await client.post(
                "/scheduling/appointments",
                json=booking(days_ahead(4), referral_id=str(referral_id)),
                headers=bearer(Role.EP),
            )
            assert again.status_code == 422
        finally:
            await conn.close()

        async def cancellations() -> list[dict[str, Any]]:
            return [
                e
                for e in await events_on(infra, ns, APPOINTMENTS.name)
                if e["type"].endswith("appointment-cancelled.v1")
            ]

        async def two_cancellations() -> bool:
            return len(await cancellations()) == 2

        await wait_until(two_cancellations, timeout_s=20, what="AppointmentCancelled events")
        published = await cancellations()
    assert sorted(e["data"]["appointment_id"] for e in published) == sorted(booked)
    assert all("parent withdrew consent" in e["data"]["reason"] for e in published)
    assert all(e["data"]["cancelled_by"] == "service" for e in published)  # never charged


async def test_delivered_time_is_published_once_and_corrections_are_separate(
    infra: Infra, ns: Namespace
) -> None:
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        start = days_ahead(-1)  # yesterday: it has taken place
        made = await client.post(
            "/scheduling/appointments", json=booking(start), headers=bearer(Role.EP)
        )
        assert made.status_code == 201, made.text
        appointment_id = made.json()["appointment_id"]
        complete = f"/scheduling/appointments/{appointment_id}/complete"
        first, second = await asyncio.gather(
            client.post(complete, json={"delivered_minutes": 75}, headers=bearer(Role.EP)),
            client.post(complete, json={"delivered_minutes": 75}, headers=bearer(Role.EP)),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 409]
        delivery = (first if first.status_code == 200 else second).json()
        bad = await client.post(complete, json={"delivered_minutes": 1.5}, headers=bearer(Role.EP))
        assert bad.status_code == 422
        forbidden = await client.post(
            f"/scheduling/deliveries/{delivery['delivery_id']}/void",
            json={"reason": "wrong"},
            headers=bearer(Role.EP),
        )
        assert forbidden.status_code == 403
        correction = {
            "correction_id": str(uuid.uuid4()),
            "minutes": 60,
            "funding_stream": "statutory",
            "reason": "left at 11",
        }
        url = f"/scheduling/deliveries/{delivery['delivery_id']}/corrections"
        for _ in range(2):  # a retried correction is applied and published once
            response = await client.post(url, json=correction, headers=bearer(Role.SENIOR_EP))
            assert response.status_code == 200, response.text

        async def settled() -> bool:
            return len(await events_on(infra, ns, DELIVERED_TIME.name)) >= 2

        await wait_until(settled, timeout_s=20, what="delivered-time events")
        await asyncio.sleep(0.5)  # anything duplicated would have been relayed by now
        published = await events_on(infra, ns, DELIVERED_TIME.name)
    assert [e["type"] for e in published] == [
        "eps.scheduling.delivered-time-recorded.v1",
        "eps.scheduling.delivered-time-corrected.v1",
    ]
    recorded = published[0]["data"]
    assert recorded["minutes"] == 75 and recorded["funding_stream"] == "statutory"
    assert recorded["school_urn"] == SCHOOL and recorded["appointment_id"] == appointment_id
    assert published[1]["data"]["minutes"] == 60


@asynccontextmanager
async def listening(infra: Infra, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await partitions_of(infra.kafka_bootstrap, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        yield consumer
    finally:
        await consumer.stop()


async def first_record(consumer: AIOKafkaConsumer, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=50)).values():
            return json.loads(records[0].value)
    raise AssertionError(f"nothing within {timeout_s}s")


async def test_fast_track_is_answered_promptly_behind_a_routine_backlog(
    infra: Infra, ns: Namespace, awkward_instant: datetime
) -> None:
    backlog = 3000
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        # The named EP has routine work now: the incident takes precedence over it.
        routine = await client.post(
            "/scheduling/appointments",
            json=booking(in_minutes(15), ep_id="ep-named", duration_minutes=180),
            headers=bearer(Role.EP),
        )
        assert routine.status_code == 201, routine.text
        later = suite_now() + timedelta(days=30)
        requests = [
            AppointmentBookingRequested(
                request_id=uuid.uuid4(),
                case_ref=f"advice:{uuid.uuid4()}",
                kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                school_urn=SCHOOL,
                duration_minutes=30,
                earliest=later + timedelta(days=i % 200),
                latest=later + timedelta(days=i % 200 + 1),
                funding_stream=FundingStream.STATUTORY,
            )
            for i in range(backlog)
        ]
        await publish(infra, ns, list(requests), "statutory")
        incident_id = uuid.uuid4()
        requested = FastTrackAllocationRequested(
            incident_id=incident_id,
            school_urn=SCHOOL,
            level=2,
            eps_needed=2,
            needed_by=suite_now() + timedelta(hours=2),
            duration_minutes=120,
            senior_lead_required=False,
        )
        async with listening(infra, ns.topic(FAST_TRACK_ALLOCATIONS.name)) as answers:
            started = time.monotonic()
            await publish(infra, ns, [requested], "incidents")
            answer = await first_record(answers, timeout_s=15)
            elapsed = time.monotonic() - started
        lag = await consumer_lag(
            infra.kafka_bootstrap,
            ns.group("scheduling", "booking-requests"),
            ns.topic(BOOKING_REQUESTS.name),
        )
    print(f"fast track answered in {elapsed * 1000:.0f} ms with {lag} routine requests queued")
    assert lag > 0, "the backlog was already drained: the test proves nothing"
    assert elapsed < 5.0, f"fast track took {elapsed:.2f}s behind a backlog of {lag}"
    data = answer["data"]
    assert answer["subject"] == str(incident_id) and data["shortfall"] == 0
    eps = {e["ep_id"]: e for e in data["eps"]}
    assert set(eps) == {"ep-named", "ep-near"}  # named EP first, then the nearest rota EP
    assert eps["ep-named"]["is_named_ep"]
    assert eps["ep-named"]["displaced_appointment_ids"] == [routine.json()["appointment_id"]]
    moved = [
        e
        for e in await events_on(infra, ns, APPOINTMENTS.name)
        if e["type"].endswith("appointment-rescheduled.v1")
    ]
    assert [e["data"]["appointment_id"] for e in moved] == [routine.json()["appointment_id"]]
    assert "critical incident" in moved[0]["data"]["reason"]


def fast_track_request(school_urn: str, **extra: Any) -> FastTrackAllocationRequested:
    values: dict[str, Any] = dict(
        incident_id=uuid.uuid4(),
        school_urn=school_urn,
        level=2,
        eps_needed=2,
        needed_by=suite_now() + timedelta(hours=2),
        duration_minutes=120,
        senior_lead_required=False,
    )
    values.update(extra)
    return FastTrackAllocationRequested(**values)


async def test_a_fast_track_request_for_an_unknown_school_is_answered_not_dead_lettered(
    infra: Infra, ns: Namespace
) -> None:
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        requested = fast_track_request("654321")  # never registered with scheduling
        async with listening(infra, ns.topic(FAST_TRACK_ALLOCATIONS.name)) as answers:
            await publish(infra, ns, [requested], "incidents")
            answer = await first_record(answers, timeout_s=15)
        dead = await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.scheduling.v1"))
    assert answer["subject"] == str(requested.incident_id)
    data = answer["data"]
    assert data["eps"] == [] and data["shortfall"] == 2
    assert "school 654321 is not known to scheduling" in data["reason"]
    assert dead == []


async def test_a_fast_track_that_displaces_back_to_back_appointments_moves_both(
    infra: Infra, ns: Namespace, awkward_instant: datetime
) -> None:
    """Every start in time displaces both: each move must avoid the one not yet moved."""
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        first_start = in_minutes(15)
        booked = []
        for start, minutes in ((first_start, 90), (first_start + timedelta(minutes=90), 210)):
            response = await client.post(
                "/scheduling/appointments",
                json=booking(start, ep_id="ep-named", duration_minutes=minutes),
                headers=bearer(Role.EP),
            )
            assert response.status_code == 201, response.text
            booked.append(response.json()["appointment_id"])
        requested = fast_track_request(
            SCHOOL, eps_needed=1, needed_by=suite_now() + timedelta(minutes=30)
        )
        async with listening(infra, ns.topic(FAST_TRACK_ALLOCATIONS.name)) as answers:
            await publish(infra, ns, [requested], "incidents")
            answer = await first_record(answers, timeout_s=15)
        [going] = answer["data"]["eps"]
        assert going["ep_id"] == "ep-named" and answer["data"]["shortfall"] == 0
        assert sorted(going["displaced_appointment_ids"]) == sorted(booked)
        diary = await client.get(
            "/scheduling/eps/ep-named/diary",
            params={
                "start": (first_start - timedelta(hours=1)).isoformat(),
                "end": (first_start + timedelta(days=2)).isoformat(),
            },
            headers=bearer(Role.EP),
        )
        assert diary.status_code == 200, diary.text
    rows = {row["appointment_id"]: row for row in diary.json()}
    incident = rows[going["appointment_id"]]
    assert incident["kind"] == "critical_incident_response"
    moved = [rows[a] for a in booked]
    assert all(row["status"] == "booked" for row in moved)
    assert all("critical incident" in row["reason"] for row in moved)
    intervals = sorted(
        (datetime.fromisoformat(r["starts_at"]), datetime.fromisoformat(r["ends_at"]))
        for r in [incident, *moved]
    )
    assert all(end <= start for (_, end), (start, _) in pairwise(intervals))
    assert datetime.fromisoformat(moved[0]["starts_at"]) >= datetime.fromisoformat(
        incident["ends_at"]
    )


@asynccontextmanager
async def seeded_in_autumn(infra: Infra, ns: Namespace) -> AsyncIterator[tuple[Any, Any]]:
    """The service, seeded, with its clock stopped at 09:00 on 23 November 2026."""
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    async with running(SERVICE, infra, ns, clock=clock) as (runtime, client):
        await seed(client)
        yield runtime, client


async def run_planning_job(runtime: Any) -> None:
    """Run the planning job once (as its leader, once the lease is ours)."""

    async def ran() -> bool:
        assert runtime.jobs is not None
        [job] = [j for j in runtime.jobs.jobs if j.name == PLANNING_MEETINGS]
        return await runtime.jobs.run_once(job)

    await wait_until(ran, timeout_s=10, what="planning job to run")


async def booked_planning_meetings(infra: Infra, ns: Namespace) -> list[dict[str, Any]]:
    return [
        e["data"]
        for e in await events_on(infra, ns, APPOINTMENTS.name)
        if e["type"].endswith("appointment-booked.v1") and e["data"]["kind"] == "planning_meeting"
    ]


async def test_the_planning_job_proposes_each_schools_two_meetings_once(
    infra: Infra, ns: Namespace
) -> None:
    async with seeded_in_autumn(infra, ns) as (runtime, client):
        for _ in range(2):  # a second run proposes nothing more
            await run_planning_job(runtime)
        again = await client.post(
            f"/scheduling/schools/{SCHOOL}/planning-meetings",
            json={"academic_year": 2026},
            headers=bearer(Role.ADMIN),
        )
        assert again.status_code == 201 and again.json() == [], again.text

        async def both_published() -> bool:
            return len(await booked_planning_meetings(infra, ns)) >= 2

        await wait_until(both_published, timeout_s=15, what="planning meetings published")
        await asyncio.sleep(0.5)  # anything duplicated would have been relayed by now
        published = await booked_planning_meetings(infra, ns)
    assert [(m["ep_id"], m["school_urn"]) for m in published] == [("ep-named", SCHOOL)] * 2
    # 14 days' notice by default (the EPs here work all hours): autumn from 7 December,
    # spring on the first day of its window
    assert sorted(m["starts_at"] for m in published) == [  # two keys: no order between them
        "2026-12-07T00:00:00Z",
        "2027-01-05T00:00:00Z",
    ]


async def test_a_planning_meeting_with_no_room_is_told_once_and_placed_when_room_appears(
    infra: Infra, ns: Namespace
) -> None:
    async with seeded_in_autumn(infra, ns) as (runtime, client):
        # the named EP works half an hour a week: no planning meeting fits
        squeezed = {
            "ep_id": "ep-named",
            "role": "ep",
            "working_pattern": [{"weekday": 1, "start": "09:00", "end": "09:30"}],
            "weekly_capacity_minutes": 30,
            "base_latitude": 52.64,
            "base_longitude": -1.14,
            "on_rota": False,
        }
        url = "/scheduling/eps/ep-named"
        response = await client.put(url, json=squeezed, headers=bearer(Role.ADMIN))
        assert response.status_code == 200, response.text

        async def on_topics() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            told = [
                e["data"]
                for e in await events_on(infra, ns, SCHOOLS.name)
                if e["type"].endswith("planning-meeting-not-placed.v1")
            ]
            return told, await booked_planning_meetings(infra, ns)

        for _ in range(2):  # the second run looks again but does not tell again
            await run_planning_job(runtime)

        async def both_told() -> bool:
            return len((await on_topics())[0]) >= 2

        await wait_until(both_told, timeout_s=15, what="both terms told")
        # room appears: the next run places both meetings and tells nothing more
        response = await client.put(
            url,
            json={
                **squeezed,
                "working_pattern": ALL_DAY_EVERY_DAY,
                "weekly_capacity_minutes": 10080,
            },
            headers=bearer(Role.ADMIN),
        )
        assert response.status_code == 200, response.text
        await run_planning_job(runtime)

        async def both_booked() -> bool:
            return len((await on_topics())[1]) >= 2

        await wait_until(both_booked, timeout_s=15, what="both meetings booked")
        await asyncio.sleep(0.5)  # anything duplicated would have been relayed by now
        told, booked = await on_topics()
    assert sorted((t["term"], t["ep_id"], t["academic_year"]) for t in told) == [
        ("autumn", "ep-named", 2026),
        ("spring", "ep-named", 2026),
    ]
    assert all(t["school_urn"] == SCHOOL for t in told)
    assert sorted(b["starts_at"] for b in booked) == [
        "2026-12-07T00:00:00Z",
        "2027-01-05T00:00:00Z",
    ]


async def test_a_new_named_ep_takes_over_the_schools_planning_meetings_once(
    infra: Infra, ns: Namespace
) -> None:
    async with seeded_in_autumn(infra, ns) as (_, client):
        proposed = await client.post(
            f"/scheduling/schools/{SCHOOL}/planning-meetings",
            json={"academic_year": 2026},
            headers=bearer(Role.ADMIN),
        )
        assert proposed.status_code == 201, proposed.text
        window = {"start": "2026-11-23T00:00:00Z", "end": "2027-02-20T00:00:00Z"}
        school_diary = await client.get(
            f"/scheduling/schools/{SCHOOL}/appointments", params=window, headers=bearer(Role.EP)
        )
        assert school_diary.status_code == 200, school_diary.text
        meetings = {
            row["appointment_id"]: datetime.fromisoformat(row["starts_at"])
            for row in school_diary.json()
            if row["kind"] == "planning_meeting"
        }
        assert sorted(meetings.values()) == [
            datetime(2026, 12, 7, tzinfo=UTC),
            datetime(2027, 1, 5, tzinfo=UTC),
        ]
        # the new EP is busy when the autumn meeting starts: it goes to their next free slot
        busy = await client.post(
            "/scheduling/appointments",
            json=booking(datetime(2026, 12, 7, 0, 0, tzinfo=UTC)),
            headers=bearer(Role.EP),
        )
        assert busy.status_code == 201, busy.text

        change = {
            "latitude": 52.6369,
            "longitude": -1.1398,
            "named_ep_id": "ep-near",
            "effective_from": "2026-12-01",
        }
        url = f"/scheduling/schools/{SCHOOL}"
        first = await client.put(url, json=change, headers=bearer(Role.ADMIN))
        assert first.status_code == 200, first.text
        moved = {row["appointment_id"]: row for row in first.json()["appointments"]}
        again = await client.put(url, json=change, headers=bearer(Role.ADMIN))
        assert again.status_code == 200, again.text
        assert again.json()["appointments"] == []
        new_diary = await client.get(
            "/scheduling/eps/ep-near/diary", params=window, headers=bearer(Role.EP)
        )
        old_diary = await client.get(
            "/scheduling/eps/ep-named/diary", params=window, headers=bearer(Role.EP)
        )
        assert new_diary.status_code == old_diary.status_code == 200

        async def rescheduled() -> list[dict[str, Any]]:
            return [
                e["data"]
                for e in await events_on(infra, ns, APPOINTMENTS.name)
                if e["type"].endswith("appointment-rescheduled.v1")
                or e["type"].endswith("appointment-cancelled.v1")
            ]

        async def both_published() -> bool:
            return len(await rescheduled()) >= 2

        await wait_until(both_published, timeout_s=15, what="moves published")
        await asyncio.sleep(0.5)  # the repeated PUT would have been relayed by now
        published = await rescheduled()
        assigned = [e["data"] for e in await events_on(infra, ns, SCHOOLS.name)]
    assert set(moved) == set(meetings)
    assert {row["ep_id"] for row in moved.values()} == {"ep-near"}
    in_new_diary = {row["appointment_id"]: row for row in new_diary.json()}
    assert set(meetings) <= set(in_new_diary)
    assert not set(meetings) & {row["appointment_id"] for row in old_diary.json()}
    starts = sorted(datetime.fromisoformat(in_new_diary[a]["starts_at"]) for a in meetings)
    assert starts == [
        datetime(2026, 12, 7, 1, 0, tzinfo=UTC),  # after the hour the new EP was busy
        datetime(2027, 1, 5, 0, 0, tzinfo=UTC),  # free: the same time
    ]
    assert sorted(e["appointment_id"] for e in published) == sorted(meetings)  # once each
    assert all(e["ep_id"] == "ep-near" for e in published)
    assert [a["ep_id"] for a in assigned] == ["ep-named", "ep-near"]
    assert all(
        "named EP for school 123456 changed from ep-named to ep-near" in e["reason"]
        for e in published
    )


async def test_a_cancellation_over_http_says_who_called_it_off_and_refuses_an_unknown_party(
    infra: Infra, ns: Namespace
) -> None:
    async with running(SERVICE, infra, ns) as (_, client):
        await seed(client)
        booked = await client.post(
            "/scheduling/appointments",
            json=booking(days_ahead(3)),
            headers=bearer(Role.EP),
        )
        assert booked.status_code == 201, booked.text
        url = f"/scheduling/appointments/{booked.json()['appointment_id']}/cancel"
        unknown = await client.post(
            url,
            json={"reason": "head asked", "cancelled_by": "governors"},
            headers=bearer(Role.ADMIN),
        )
        cancelled = await client.post(
            url, json={"reason": "head asked", "cancelled_by": "school"}, headers=bearer(Role.ADMIN)
        )

        async def published() -> list[dict[str, Any]]:
            return [
                e["data"]
                for e in await events_on(infra, ns, APPOINTMENTS.name)
                if e["type"].endswith("appointment-cancelled.v1")
            ]

        async def one() -> bool:
            return len(await published()) == 1

        await wait_until(one, timeout_s=15, what="the cancellation event")
        [event] = await published()
    assert unknown.status_code == 422 and "cancelled_by" in unknown.text
    assert cancelled.status_code == 200, cancelled.text
    assert (event["cancelled_by"], event["reason"]) == ("school", "head asked")
    assert event["school_urn"] == SCHOOL and event["starts_at"] is not None


async def test_a_fast_track_in_the_small_hours_goes_to_whoever_works_then_by_the_service_clock(
    infra: Infra, ns: Namespace
) -> None:
    """The fast track allocates from the service's clock (injectable), here 02:00 on a Sunday:
    the named EP works weekdays 09:00-17:00, so the rota EP who works nights goes."""
    clock = FakeClock(datetime(2026, 11, 29, 2, 0, tzinfo=UTC))  # Sunday, GMT
    weekdays = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)]
    async with running(SERVICE, infra, ns, clock=clock) as (_, client):
        await add_ep(client, "ep-named", pattern=weekdays, on_rota=False)
        await add_ep(client, "ep-nights")
        await add_school(client, named_ep_id="ep-named")
        requested = fast_track_request(
            SCHOOL, eps_needed=1, needed_by=clock.now + timedelta(hours=2), duration_minutes=60
        )
        async with listening(infra, ns.topic(FAST_TRACK_ALLOCATIONS.name)) as answers:
            await publish(infra, ns, [requested], "incidents", at=clock.now)
            answer = await first_record(answers, timeout_s=15)
    [going] = answer["data"]["eps"]
    assert going["ep_id"] == "ep-nights" and not going["is_named_ep"]
    assert datetime.fromisoformat(going["starts_at"]) == clock.now
    assert answer["data"]["shortfall"] == 0


async def test_an_sla_bought_in_billing_is_the_schools_traded_time_and_follows_its_changes(
    infra: Infra, ns: Namespace
) -> None:
    """Billing's SLA events are scheduling's one record of a school's traded time: one for a
    school not yet registered waits for it; a change or cancellation follows."""
    agreement_id = uuid.uuid4()
    start = days_ahead(3)
    year = academic_year_of(london_date(start))
    state: dict[str, Any] = dict(
        agreement_id=agreement_id,
        school_urn=SCHOOL,
        academic_year=year,
        valid_from=date(year, 9, 1),
        valid_to=date(year + 1, 8, 31),
        days=5,
        minutes=5 * 360,
    )

    def traded(minutes: int, at: datetime) -> dict[str, Any]:
        return booking(at, funding_stream="traded", duration_minutes=minutes)

    async with running(SERVICE, infra, ns, held_release_interval_s=0.2) as (_, client):
        await publish(infra, ns, [ServiceLevelAgreementBought(**state)], "billing")
        admin = bearer(Role.ADMIN)

        async def held() -> bool:
            listed = await client.get("/scheduling/held-events", headers=admin)
            return len(listed.json()) == 1

        await wait_until(held, timeout_s=30, what="the SLA held for its school")
        await seed(client)  # the school is registered: the SLA is applied
        allowance = f"/scheduling/schools/{SCHOOL}/allowances/{year}"

        async def traded_minutes(expected: int) -> bool:
            response = await client.get(allowance, headers=admin)
            return bool(response.json()["traded_minutes"] == expected)

        await wait_until(lambda: traded_minutes(1800), timeout_s=30, what="the SLA applied")
        booked = await client.post(
            "/scheduling/appointments", json=traded(180, start), headers=bearer(Role.EP)
        )
        assert booked.status_code == 201, booked.text
        changed = ServiceLevelAgreementChanged(**{**state, "minutes": 180}, reason="days cut")
        await publish(infra, ns, [changed], "billing")
        await wait_until(lambda: traded_minutes(180), timeout_s=30, what="the change applied")
        over = await client.post(
            "/scheduling/appointments",
            json=traded(60, start + timedelta(days=1)),
            headers=bearer(Role.EP),
        )
        cancelled = ServiceLevelAgreementCancelled(**{**state, "minutes": 0}, reason="cancelled")
        await publish(infra, ns, [cancelled], "billing")
        await wait_until(lambda: traded_minutes(0), timeout_s=30, what="the cancellation applied")
        view = (await client.get(allowance, headers=admin)).json()
    assert over.status_code == 422 and "funding_stream" in fields(over)
    assert "180 of 180 minutes bought already booked" in problem(over)["detail"]
    assert view["traded_time"] == [] and view["traded_booked_minutes"] == 180
    assert await read_topic(infra.kafka_bootstrap, ns.topic("eps.dlq.scheduling.v1")) == []


async def test_the_las_policy_is_read_and_replaced_as_its_configuration_audited(
    infra: Infra, ns: Namespace
) -> None:
    url = "/scheduling/configuration/policy"
    async with running(SERVICE, infra, ns) as (_, client):
        default = await client.get(url, headers=bearer(Role.EP))
        assert default.status_code == 200, default.text
        assert default.json()["travel_buffer_minutes"] == 30  # the domain's default
        changed = {**default.json(), "travel_buffer_minutes": 45, "planning_notice_days": 7}
        assert (await client.put(url, json=changed, headers=bearer(Role.EP))).status_code == 403
        replaced = await client.put(url, json=changed, headers=bearer(Role.PRINCIPAL_EP))
        assert replaced.status_code == 200, replaced.text
        assert replaced.json() == changed
        assert (await client.get(url, headers=bearer(Role.EP))).json() == changed
        zero_step = {**changed, "slot_step_minutes": 0}
        refused = await client.put(url, json=zero_step, headers=bearer(Role.PRINCIPAL_EP))
        assert refused.status_code == 422
    conn = await asyncpg.connect(infra.database_url)
    try:
        audited = await conn.fetch(
            f"SELECT action, outcome FROM {ns.schema('scheduling')}.audit_log"
            " WHERE resource = 'configuration/policy' ORDER BY id"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in audited] == [
        ("read-configuration", "allowed"),
        ("configure", "allowed"),
        ("read-configuration", "allowed"),
    ]
