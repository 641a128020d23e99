"""Signing people in: the LA's OpenID Connect issuer (authorization code flow with PKCE, by
Authlib), or, under `make run` only, local tokens for any role (see ``settings``).

The console keeps the access token the issuer gives (audience: the EPS APIs) and acts with it
as the person; it is verified like every service verifies a bearer token (the issuer's JWKS),
so the console believes no more of it than the services it calls do."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from eps_chassis.auth import Role, issue_token


@dataclass
class OpenIdConnect:
    issuer: str
    client_id: str
    client_secret: str | None
    scope: str
    transport: httpx.AsyncBaseTransport | None = None  # a test's issuer
    _metadata: dict[str, Any] | None = None

    def _client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=10, transport=self.transport, **options)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            async with self._client() as client:
                response = await client.get(url)
                response.raise_for_status()
                self._metadata = response.json()
        return self._metadata

    async def start(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """Where to send the person (the issuer's authorization endpoint, with a PKCE S256
        challenge, a state and a nonce), and what the session keeps until they return."""
        verifier, state, nonce = generate_token(64), generate_token(32), generate_token(32)
        url = prepare_grant_uri(
            (await self.metadata())["authorization_endpoint"],
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=self.scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return url, {"state": state, "verifier": verifier, "nonce": nonce}

    async def finish(
        self, redirect_uri: str, kept: dict[str, str], code: str, state: str
    ) -> str | None:
        """The access token for the person, once the issuer's answer is the one asked for."""
        if not secrets.compare_digest(state, kept.get("state", "")):
            return None
        body = prepare_token_request(
            "authorization_code",
            redirect_uri=redirect_uri,
            code=code,
            code_verifier=kept["verifier"],
            client_id=self.client_id,
        )
        # a confidential client authenticates (client_secret_basic); a public one sends its id
        auth = httpx.BasicAuth(self.client_id, self.client_secret or "")
        async with self._client(auth=auth if self.client_secret else None) as client:
            response = await client.post(
                (await self.metadata())["token_endpoint"],
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        if response.status_code != 200:
            return None
        access = response.json().get("access_token")
        return str(access) if access else None


DEV_ROLES = (Role.COORDINATOR, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.EP, Role.ADMIN)


def development_token(key_file: Path, *, role: Role, tenant: str, subject: str) -> str:
    """A local token, signed with the development key (`make run` only)."""
    return issue_token(key_file.read_bytes(), subject=subject, role=role, tenant=tenant)
