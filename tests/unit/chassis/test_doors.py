"""The HTTP doors without a database: bodies limited and read last, one error shape, headers."""

from __future__ import annotations

from typing import Any

import pytest
from eps_chassis.auth import (
    Principal,
    Role,
    TokenVerifier,
    ensure_local_keys,
    issue_token,
    require_roles,
)
from eps_chassis.http import BodyLimit, SecurityHeaders, install_problem_handlers, json_body
from eps_chassis.openapi import check_routes
from eps_contracts.base import ContractModel
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field


class Note(ContractModel):
    text: str = Field(max_length=20)


@pytest.fixture
def client(tmp_path: Any) -> tuple[TestClient, dict[str, str]]:
    private, public = ensure_local_keys(tmp_path / "keys")
    app = FastAPI()
    app.state.token_verifier = TokenVerifier.from_public_key_file(public, "eps-local", "eps-api")
    app.add_middleware(BodyLimit, max_bytes=100)
    app.add_middleware(SecurityHeaders)
    install_problem_handlers(app)

    @app.post("/notes")
    async def add_note(
        principal: Principal = require_roles(Role.EP), note: Note = json_body(Note)
    ) -> dict[str, str]:
        return {"text": note.text}

    token = issue_token(private.read_bytes(), subject="ann", role=Role.EP, tenant="rutland")
    return TestClient(app), {"Authorization": f"Bearer {token}"}


def test_a_body_is_read_as_strict_json_and_every_refusal_is_one_problem(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    http, ep = client
    assert http.post("/notes", json={"text": "hello"}, headers=ep).json() == {"text": "hello"}
    refusals = {
        401: http.post("/notes", json={}),
        413: http.post("/notes", content=b"x" * 101, headers=ep),
        415: http.post("/notes", content=b"text=hi", headers={**ep, "Content-Type": "text/plain"}),
        422: http.post("/notes", json={"text": "hi\u0000"}, headers=ep),
        404: http.get("/nowhere", headers=ep),
        405: http.get("/notes", headers=ep),
    }
    for status, answer in refusals.items():
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["status"] == status and problem["type"] == "about:blank", problem
        assert {"title", "detail", "errors"} <= problem.keys()
        assert answer.headers["cache-control"] == "no-store"
    assert refusals[422].json()["errors"] == [
        {
            "location": "body",
            "field": "text",
            "rule": "text_control_character",
            "detail": "must not contain NUL or other control characters",
        }
    ]


async def test_the_limit_stops_a_chunked_body_once_past_it_and_a_declared_one_at_once() -> None:
    pulled: list[int] = []
    seen: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception as exc:
            seen.append(exc)

    async def chunked() -> dict[str, Any]:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 40, "more_body": True}

    async def send(message: Any) -> None:
        pass

    limited = BodyLimit(app, max_bytes=100)
    await limited({"type": "http", "headers": []}, chunked, send)
    assert len(pulled) == 3 and getattr(seen[0], "status_code", None) == 413
    pulled.clear()
    declared = {"type": "http", "headers": [(b"content-length", b"5000000")]}
    await limited(declared, chunked, send)
    assert pulled == [] and getattr(seen[1], "status_code", None) == 413


def test_a_route_reading_its_body_before_its_role_check_is_refused_when_built() -> None:
    router = APIRouter()

    @router.post("/late")
    async def late(
        note: Note = json_body(Note), principal: Principal = require_roles(Role.EP)
    ) -> None:
        pass

    @router.post("/unchecked")
    async def unchecked(note: Note = json_body(Note)) -> None:
        pass

    @router.post("/native")
    async def native(note: Note, principal: Principal = require_roles(Role.EP)) -> None:
        pass

    late_route, unchecked_route, native_route = (
        r for r in router.routes if isinstance(r, APIRoute)
    )
    with pytest.raises(TypeError, match="role check before the body"):
        check_routes([late_route])
    with pytest.raises(TypeError, match="must check the caller's role"):
        check_routes([unchecked_route])
    with pytest.raises(TypeError, match="json_body"):
        check_routes([native_route])


def test_only_contract_models_are_bodies_so_their_text_and_dates_are_checked() -> None:
    class Loose(BaseModel):
        text: str

    with pytest.raises(TypeError, match="ContractModel"):
        json_body(Loose)  # type: ignore[type-var]
