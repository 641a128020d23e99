"""The HTTP doors of the services, on the real database: who is asked first, what a refusal
answers and leaves in the audit log, what input is refused, and what every answer carries."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eps_billing.bootstrap import SERVICE as BILLING
from eps_chassis.auth import Role, ensure_local_keys, issue_token
from eps_chassis.openapi import roles_of
from eps_chassis.service import Service
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_referrals.bootstrap import SERVICE as REFERRALS
from eps_scheduling.bootstrap import SERVICE as SCHEDULING
from eps_statutory.bootstrap import SERVICE as STATUTORY
from fastapi.routing import APIRoute

from tests.integration.test_scheduling import booking, days_ahead, seed
from tests.support.db import query, scalar
from tests.support.infra import Infra
from tests.support.problems import fields, located, problem
from tests.support.services import KEYS_DIR, Namespace, bearer, running

pytestmark = pytest.mark.integration

ALL_SERVICES = [REFERRALS, CONSENT, SCHEDULING, INCIDENTS, STATUTORY, BILLING]
SCHOOL = "123456"


def audit_of(ns: Namespace, service: str) -> str:
    return f"{ns.schema(service)}.audit_log"


async def chunks(counter: list[int], size: int, total: int) -> AsyncIterator[bytes]:
    """A request body handed over in chunks, counting those the service took."""
    for _ in range(total // size):
        counter[0] += 1
        yield b" " * size


# --- who is asked first -------------------------------------------------------------------


async def test_no_token_is_401_before_any_body_is_read_and_is_audited(
    infra: Infra, ns: Namespace
) -> None:
    async with running(INCIDENTS, infra, ns) as (_, client):
        empty = await client.post("/incidents", json={})
        taken = [0]
        huge = await client.post(
            "/incidents",
            content=chunks(taken, 64 * 1024, 20 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        refused_rows = await query(
            infra,
            f"SELECT tenant, actor, role, action, resource, outcome, reason, client"
            f" FROM {audit_of(ns, 'incidents')} ORDER BY id",
        )
    assert empty.status_code == 401 and problem(empty)["detail"] == "missing bearer token"
    assert empty.headers["www-authenticate"] == "Bearer"
    assert huge.status_code == 401 and taken == [0]  # not one chunk of 20 MB was read
    assert [dict(r) for r in refused_rows] == 2 * [
        {
            "tenant": None,
            "actor": "anonymous",
            "role": None,
            "action": "report_incident",
            "resource": "POST /incidents",
            "outcome": "unauthenticated",
            "reason": "missing bearer token",
            "client": "127.0.0.1",
        }
    ]


async def test_an_expired_token_is_audited_under_the_name_it_carries(
    infra: Infra, ns: Namespace
) -> None:
    private, _ = ensure_local_keys(KEYS_DIR)
    expired = issue_token(
        private.read_bytes(),
        subject="jo",
        role=Role.EP,
        tenant="leicester-city",
        now=time.time() - 7200,
        ttl_s=60,
    )
    forged = issue_token(
        ensure_local_keys(KEYS_DIR / "forger")[0].read_bytes(),
        subject="eve",
        role=Role.ADMIN,
        tenant="leicester-city",
    )
    async with running(REFERRALS, infra, ns) as (_, client):
        for token in (expired, forged):
            refused = await client.get(
                f"/referrals/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}
            )
            assert refused.status_code == 401 and problem(refused)["detail"].startswith(
                "invalid token"
            )
        rows = await query(
            infra,
            f"SELECT tenant, actor, role, outcome, reason, client FROM {audit_of(ns, 'referrals')}"
            " ORDER BY id",
        )
    assert [tuple(r) for r in rows] == [
        ("leicester-city", "user:jo", "ep", "unauthenticated", "invalid token: Signature has"
         " expired", None),
        (None, "anonymous", None, "unauthenticated", "invalid token: Signature verification"
         " failed", "127.0.0.1"),
    ]  # fmt: skip


# --- bodies -------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_without_being_read_whole(
    infra: Infra, ns: Namespace
) -> None:
    coordinator = bearer(Role.COORDINATOR)
    async with running(INCIDENTS, infra, ns, http_max_body_bytes=256 * 1024) as (_, client):
        streamed = [0]
        chunked = await client.post(
            "/incidents",
            content=chunks(streamed, 64 * 1024, 20 * 1024 * 1024),
            headers={**coordinator, "Content-Type": "application/json"},
        )
        declared = [0]
        announced = await client.post(
            "/incidents",
            content=chunks(declared, 64 * 1024, 20 * 1024 * 1024),
            headers={
                **coordinator,
                "Content-Type": "application/json",
                "Content-Length": str(20 * 1024 * 1024),
            },
        )
        text = await client.post(
            "/incidents", content=b"level=1", headers={**coordinator, "Content-Type": "text/plain"}
        )
        outcomes = await query(
            infra, f"SELECT outcome, reason FROM {audit_of(ns, 'incidents')} ORDER BY id"
        )
    assert chunked.status_code == 413 and streamed[0] <= 5  # stopped just past 256 KiB
    assert problem(chunked)["detail"] == "the body is larger than 262144 bytes"
    assert announced.status_code == 413 and declared == [0]  # Content-Length said enough
    assert text.status_code == 415 and problem(text)["title"] == "Unsupported Media Type"
    assert [r["outcome"] for r in outcomes] == ["invalid", "invalid", "invalid"]


# --- refusals audited ---------------------------------------------------------------------


def _argument(parameter: dict[str, Any]) -> str:
    """A valid value of a path parameter, from its schema."""
    schema = parameter["schema"]
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("pattern") == r"^[0-9]{6,7}$":
        return SCHOOL
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 2025) if schema.get("minimum", 0) > 1000 else 2025)
    if "enum" in schema or "$ref" in schema:
        return "school_senco"
    return "x"


def _routes(service: Service[Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path template, roles allowed) of every route of ``service`` that checks roles."""
    from eps_chassis.held_events_http import held_events_router

    definition = service.definition()
    routers = [held_events_router(definition.name, definition.held_event_readers)]
    routers += list(definition.routers)
    found = []
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and (roles := roles_of(route)) is not None:
                found += [(m, route.path_format, roles) for m in sorted(route.methods or ())]
    return found


@pytest.mark.parametrize("service", ALL_SERVICES, ids=lambda s: s.definition().name)
async def test_every_role_refused_is_audited_with_who_what_and_why(
    infra: Infra, ns: Namespace, service: Service[Any]
) -> None:
    """Each route, asked by each role it does not allow (their body is never read: ``{}``)."""
    name = service.definition().name
    asked = 0
    async with running(service, infra, ns) as (_, client):
        document = client.get("/openapi.json")
        paths = (await document).json()["paths"]
        for method, path, allowed in _routes(service):
            parameters = paths[path][method.lower()].get("parameters", [])
            url = path
            for p in parameters:
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", _argument(p))
            for role in Role:
                if role in allowed:
                    continue
                school = SCHOOL if role in (Role.SENCO, Role.SCHOOL_BUSINESS_MANAGER) else None
                headers = bearer(role, school_urn=school, subject=f"asker-{role}")
                answer = await client.request(method, url, json={}, headers=headers)
                assert answer.status_code == 403, (method, url, role, answer.text)
                assert problem(answer)["detail"].startswith(f"role {role} may not do this")
                asked += 1
        audited = await query(
            infra,
            f"SELECT actor, role, tenant, action, resource, outcome, reason"
            f" FROM {audit_of(ns, name)} ORDER BY id",
        )
    assert asked > 0 and len(audited) == asked
    for row in audited:
        assert row["actor"] == f"user:asker-{row['role']}" and row["tenant"] == "leicester-city"
        assert row["outcome"] == "denied"
        assert row["reason"].startswith(f"role {row['role']} may not do this; allowed: ")
        assert row["resource"].split(" ")[1].startswith(f"/{name}")
    print(f"{name}: {asked} role refusals answered 403 and audited")


async def test_scheduling_audits_another_las_appointment_and_a_refused_transition(
    infra: Infra, ns: Namespace
) -> None:
    async with running(SCHEDULING, infra, ns) as (_, client):
        await seed(client)
        booked = await client.post(
            "/scheduling/appointments", json=booking(days_ahead(3)), headers=bearer(Role.EP)
        )
        assert booked.status_code == 201, booked.text
        appointment = booked.json()["appointment_id"]
        cancel = f"/scheduling/appointments/{appointment}/cancel"
        elsewhere = await client.post(
            cancel, json={"reason": "not ours"}, headers=bearer(Role.ADMIN, tenant="rutland")
        )
        first = await client.post(cancel, json={"reason": "head asked"}, headers=bearer(Role.EP))
        again = await client.post(cancel, json={"reason": "twice"}, headers=bearer(Role.EP))
        rows = await query(
            infra,
            f"SELECT tenant, action, resource, outcome, reason FROM {audit_of(ns, 'scheduling')}"
            " WHERE action = 'cancel' ORDER BY id",
        )
    assert elsewhere.status_code == 404 and first.status_code == 200
    assert (again.status_code == 409 and fields(again) == [None]) or again.status_code == 409
    assert [(r["tenant"], r["outcome"]) for r in rows] == [
        ("rutland", "not_found"),
        ("leicester-city", "allowed"),
        ("leicester-city", "refused"),
    ]
    assert rows[0]["resource"] == f"appointment/{appointment}"
    assert rows[0]["reason"] == problem(elsewhere)["detail"]
    assert rows[2]["reason"] and problem(again)["detail"] in rows[2]["reason"]


# --- input refused, naming the field ------------------------------------------------------


async def test_the_inputs_that_gave_500s_are_422s_naming_their_field(
    infra: Infra, ns: Namespace
) -> None:
    admin = bearer(Role.ADMIN)
    principal = bearer(Role.PRINCIPAL_EP)
    level = {
        "eps_needed": 1,
        "on_site": False,
        "senior_lead_required": False,
        "response_minutes": 30,
        "allocate_within_minutes": 60,
        "first_contact_within_minutes": 60,
        "first_contact_same_day": False,
    }
    async with running(SCHEDULING, infra, ns) as (_, client):
        school = await client.put(
            f"/scheduling/schools/{SCHOOL}",
            json={
                "latitude": 52.6,
                "longitude": -1.1,
                "named_ep_id": "ep\u0000named",
                "effective_from": "2026-09-01",
            },
            headers=admin,
        )
        far = await client.post(
            f"/scheduling/appointments/{uuid.uuid4()}/reschedule",
            json={"starts_at": "9999-12-31T23:59:59+14:00", "reason": "later"},
            headers=admin,
        )
        diary = await client.get(
            "/scheduling/eps/ep%00one/diary",
            params={"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"},
            headers=admin,
        )
    async with running(INCIDENTS, infra, ns) as (_, client):
        rota = await client.post(
            "/incidents/rota/entries",
            json={
                "coordinator_id": "co\u0000ord",
                "position": "primary",
                "starts_at": "2026-01-05T09:00:00Z",
                "ends_at": "2026-01-05T17:00:00Z",
            },
            headers=principal,
        )
        policy = await client.put(
            "/incidents/configuration/policy",
            json={
                "acknowledge_within_minutes": 15,
                "principal_ep_id": "pep\u0000",
                "rota_gap_lookahead_hours": 24,
            },
            headers=principal,
        )
        huge = 9223372036854775808
        levels = await client.put(
            "/incidents/configuration/levels",
            json={
                "level_1": {**level, "allocate_within_minutes": huge},
                "level_2": {**level, "first_contact_within_minutes": huge},
                "level_3": level,
            },
            headers=principal,
        )
    assert school.status_code == 422 and located(school) == [("body", "named_ep_id")]
    assert problem(school)["errors"][0]["rule"] == "text_control_character"
    assert far.status_code == 422 and located(far) == [("body", "starts_at")]
    assert diary.status_code == 422 and located(diary) == [("path", "ep_id")]
    assert rota.status_code == 422 and located(rota) == [("body", "coordinator_id")]
    assert policy.status_code == 422 and located(policy) == [("body", "principal_ep_id")]
    assert levels.status_code == 422 and located(levels) == [
        ("body", "level_1.allocate_within_minutes"),
        ("body", "level_2.first_contact_within_minutes"),
    ]


async def test_x_purpose_is_bounded_naming_the_header(infra: Infra, ns: Namespace) -> None:
    async with running(REFERRALS, infra, ns) as (_, client):
        url = f"/referrals/{uuid.uuid4()}"
        ep = bearer(Role.EP)
        long = await client.get(url, headers={**ep, "X-Purpose": "p" * 30_000})
        control = await client.get(url, headers={**ep, "X-Purpose": "triage\tnow"})
        fair = await client.get(url, headers={**ep, "X-Purpose": "triage"})
        stored = await scalar(
            infra, f"SELECT max(length(purpose)) FROM {audit_of(ns, 'referrals')}"
        )
    assert long.status_code == 422 and located(long) == [("header", "X-Purpose")]
    assert control.status_code == 422 and located(control) == [("header", "X-Purpose")]
    assert fair.status_code == 404  # allowed through: no such referral
    assert stored <= 500  # a refused purpose is kept only cut short


# --- the audit log ------------------------------------------------------------------------


async def test_the_audit_log_is_append_only(infra: Infra, ns: Namespace) -> None:
    async with running(CONSENT, infra, ns) as (runtime, client):
        await client.get(f"/consent/{uuid.uuid4()}", headers=bearer(Role.EP))
        table = audit_of(ns, "consent")
        assert await scalar(infra, f"SELECT count(*) FROM {table}") == 1
        for statement in (
            f"UPDATE {table} SET outcome = 'allowed'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(Exception, match="audit_log is append-only"):
                assert runtime.pool is not None
                await runtime.pool.execute(statement)  # the service's own role
        assert await scalar(infra, f"SELECT outcome FROM {table}") == "not_found"


# --- every answer -------------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers_and_errors_one_shape(
    infra: Infra, ns: Namespace
) -> None:
    async with running(CONSENT, infra, ns) as (_, client):
        answers = {
            "ok": await client.get("/consent/configuration/policy", headers=bearer(Role.EP)),
            "401": await client.get("/consent/configuration/policy"),
            "404": await client.get("/consent/nowhere/at/all", headers=bearer(Role.EP)),
            "405": await client.delete("/consent/configuration/policy", headers=bearer(Role.EP)),
            "422": await client.get("/consent/not-a-uuid", headers=bearer(Role.EP)),
            "docs": await client.get("/docs"),
            "openapi": await client.get("/openapi.json"),
        }
    for name, answer in answers.items():
        assert answer.headers["cache-control"] == "no-store", name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["x-frame-options"] == "DENY", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
    assert answers["ok"].headers["content-security-policy"].startswith("default-src 'none'")
    assert "https://cdn.jsdelivr.net" in answers["docs"].headers["content-security-policy"]
    for status in ("401", "404", "405", "422"):
        assert problem(answers[status])["status"] == int(status)
    assert located(answers["422"]) == [("path", "referral_id")]
