"""Tokens: 401 for missing, expired or forged; 403 for the wrong role."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eps_chassis.auth import (
    AuthError,
    Principal,
    Role,
    TokenVerifier,
    ensure_local_keys,
    issue_token,
    require_roles,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient


@pytest.fixture
def keys(tmp_path: Path) -> tuple[bytes, TokenVerifier]:
    private, public = ensure_local_keys(tmp_path / "keys")
    verifier = TokenVerifier.from_public_key_file(public, "eps-local", "eps-api")
    return private.read_bytes(), verifier


def test_a_valid_token_gives_the_principal(keys: tuple[bytes, TokenVerifier]) -> None:
    private, verifier = keys
    token = issue_token(
        private, subject="jo", role=Role.SENCO, tenant="leicester-city", school_urn="123456"
    )
    assert verifier.verify(token) == Principal("jo", Role.SENCO, "leicester-city", "123456")


def test_an_expired_token_is_refused(keys: tuple[bytes, TokenVerifier]) -> None:
    private, verifier = keys
    token = issue_token(
        private, subject="jo", role=Role.EP, tenant="rutland", now=time.time() - 7200, ttl_s=60
    )
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(token)


def test_a_token_signed_by_another_key_is_refused(
    keys: tuple[bytes, TokenVerifier], tmp_path: Path
) -> None:
    _, verifier = keys
    other, _ = ensure_local_keys(tmp_path / "other")
    token = issue_token(other.read_bytes(), subject="eve", role=Role.ADMIN, tenant="rutland")
    with pytest.raises(AuthError, match="Signature verification failed"):
        verifier.verify(token)


def test_a_token_for_another_audience_is_refused(keys: tuple[bytes, TokenVerifier]) -> None:
    private, verifier = keys
    token = issue_token(private, subject="jo", role=Role.EP, tenant="rutland", audience="other-api")
    with pytest.raises(AuthError, match="Audience"):
        verifier.verify(token)


def test_an_unknown_role_is_refused(keys: tuple[bytes, TokenVerifier]) -> None:
    private, verifier = keys
    token = issue_token(private, subject="jo", role="janitor", tenant="rutland")
    with pytest.raises(AuthError, match="role"):
        verifier.verify(token)


def test_entra_style_roles_claim_is_understood(keys: tuple[bytes, TokenVerifier]) -> None:
    import jwt

    private, verifier = keys
    now = int(time.time())
    claims = {
        "sub": "s",
        "roles": ["Reader", "senior_ep"],
        "la": "rutland",
        "iss": "eps-local",
        "aud": "eps-api",
        "iat": now,
        "exp": now + 60,
    }
    assert verifier.verify(jwt.encode(claims, private, algorithm="ES256")).role == Role.SENIOR_EP


def test_http_answers_401_and_403(keys: tuple[bytes, TokenVerifier]) -> None:
    private, verifier = keys
    app = FastAPI()
    app.state.token_verifier = verifier

    @app.get("/only-eps")
    def only_eps(principal: Principal = require_roles(Role.EP)) -> dict[str, str]:
        return {"who": principal.subject}

    client = TestClient(app)
    assert client.get("/only-eps").status_code == 401
    assert client.get("/only-eps", headers={"Authorization": "Bearer junk"}).status_code == 401
    senco = issue_token(private, subject="jo", role=Role.SENCO, tenant="rutland")
    refused = client.get("/only-eps", headers={"Authorization": f"Bearer {senco}"})
    assert refused.status_code == 403 and "role senco may not" in refused.json()["detail"]
    ep = issue_token(private, subject="ann", role=Role.EP, tenant="rutland")
    assert client.get("/only-eps", headers={"Authorization": f"Bearer {ep}"}).json() == {
        "who": "ann"
    }


def test_a_requests_logs_and_events_carry_its_correlation_id_local_authority_and_actor(
    keys: tuple[bytes, TokenVerifier],
) -> None:
    import uuid

    import structlog
    from eps_chassis.context import MessageContext
    from eps_chassis.service import CorrelationMiddleware

    private, verifier = keys
    app = FastAPI()
    app.state.token_verifier = verifier
    app.add_middleware(CorrelationMiddleware)

    @app.get("/context")
    async def context(principal: Principal = require_roles(Role.EP)) -> dict[str, object]:
        events = MessageContext.of(principal)  # what the request's events will carry
        return {**structlog.contextvars.get_contextvars(), "events": str(events.correlation_id)}

    client = TestClient(app)
    ep = issue_token(private, subject="ann", role=Role.EP, tenant="rutland")
    bearer = {"Authorization": f"Bearer {ep}"}
    correlation = str(uuid.uuid4())
    given = client.get("/context", headers={**bearer, "X-Correlation-Id": correlation})
    assert given.headers["x-correlation-id"] == correlation
    assert given.json() == {
        "correlation_id": correlation,
        "path": "/context",
        "tenant": "rutland",
        "actor": "user:ann",
        "events": correlation,
    }
    # a caller's id in another form is echoed and logged, never refused; events get a UUID
    other = client.get("/context", headers={**bearer, "X-Correlation-Id": "abc-123"})
    assert other.status_code == 200 and other.headers["x-correlation-id"] == "abc-123"
    seen = other.json()
    assert seen["caller_correlation_id"] == "abc-123"
    assert seen["events"] == seen["correlation_id"] == str(uuid.UUID(seen["correlation_id"]))
    fresh = client.get("/context", headers=bearer)
    assert fresh.headers["x-correlation-id"] == fresh.json()["events"] != correlation
    refused = client.get("/context")  # an error answer is correlated too
    assert refused.status_code == 401 and refused.headers["x-correlation-id"]


def test_tokens_are_verified_against_an_oidc_jwks(tmp_path: Path) -> None:
    """Production verifies against the issuer's JWKS (Entra ID); serve one on loopback."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "ES256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        verifier = TokenVerifier(
            issuer="https://login.example/tenant/v2.0",
            audience="eps-api",
            jwks_url=f"http://127.0.0.1:{server.server_port}/keys",
        )
        now = int(time.time())
        claims = {
            "sub": "u1",
            "roles": ["coordinator"],
            "la": "leicester-city",
            "iss": "https://login.example/tenant/v2.0",
            "aud": "eps-api",
            "iat": now,
            "exp": now + 60,
        }
        token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
        assert verifier.verify(token) == Principal("u1", Role.COORDINATOR, "leicester-city")
        other = ec.generate_private_key(ec.SECP256R1())
        with pytest.raises(AuthError):
            verifier.verify(jwt.encode(claims, other, algorithm="ES256", headers={"kid": "k1"}))
    finally:
        server.shutdown()


async def test_what_a_request_binds_for_its_logs_ends_with_the_request() -> None:
    """In-process callers (tests, benchmarks) share their task with the app they call."""
    import structlog
    from eps_chassis.service import CorrelationMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        structlog.contextvars.bind_contextvars(tenant="rutland", actor="user:ann")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service="test")
    scope = {"type": "http", "path": "/x", "headers": [(b"x-correlation-id", b"c-1")]}
    await CorrelationMiddleware(app)(scope, receive, send)
    assert structlog.contextvars.get_contextvars() == {"service": "test"}
    assert (b"x-correlation-id", b"c-1") in sent[0]["headers"]
    structlog.contextvars.clear_contextvars()
