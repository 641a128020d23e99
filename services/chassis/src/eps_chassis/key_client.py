"""The keys service's client: how a service gets a child's data key (``eps_keys``'s HTTP
contract), authenticated as itself.

    PUT  /keys/children/{child_id}             the child's key, made on first use
    GET  /keys/children/{child_id}             the child's key (410 never made, or shredded)
    PUT  /keys/dead-letters/{service}/{day}    the key of a service's dead letters of a day
    410 Gone: the key was shredded (the child erased; the dead letters' retention passed)

The local authority is the token's ``la``.

A service authenticates with a bearer token of the role ``service`` whose subject is the
service's name and whose ``la`` is the local authority it asks for. Under ``make run`` and in the
tests the client signs its own short-lived tokens with the local signing key
(``EPS_KEYS_SIGNING_KEY_FILE``, the key ``ensure_local_keys`` made); in production the token is
the service's own from the council's identity provider (client credentials; Entra ID app role
``service``), the seam being :class:`ServiceTokens`.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from eps_chassis.auth import Role, issue_token
from eps_chassis.data_keys import CachedDataKeys, KeyShredded, KeyUnavailable, owned_elsewhere
from eps_chassis.sealing import NO_SEALER, Sealer
from eps_chassis.settings import ServiceSettings


class ServiceTokens:
    """Bearer tokens naming this service, one per local authority, signed with a local key and
    renewed before they expire."""

    def __init__(
        self,
        service: str,
        signing_key_file: Path,
        *,
        issuer: str = "eps-local",
        audience: str = "eps-api",
        ttl_s: int = 600,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.private_key = signing_key_file.read_bytes()
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self._now = now
        self._tokens: dict[str, tuple[float, str]] = {}

    def __call__(self, tenant: str) -> str:
        now = self._now()
        cached = self._tokens.get(tenant)
        if cached is not None and cached[0] > now + 60:
            return cached[1]
        token = issue_token(
            self.private_key,
            subject=f"service:{self.service}",
            role=Role.SERVICE,
            tenant=tenant,
            issuer=self.issuer,
            audience=self.audience,
            ttl_s=self.ttl_s,
            now=now,
        )
        self._tokens[tenant] = (now + self.ttl_s, token)
        return token


class HttpDataKeys:
    """``DataKeys`` asked of the keys service over HTTP. ``home_tenant`` is the local authority
    named in the token for a dead-letter key (which belongs to no one authority)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: Callable[[str], str],
        *,
        service: str,
        home_tenant: str,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.service = service
        self.home_tenant = home_tenant

    async def _key(self, method: str, path: str, tenant: str, gone: KeyShredded) -> bytes:
        try:
            response = await self.client.request(
                method, path, headers={"Authorization": f"Bearer {self.tokens(tenant)}"}
            )
        except httpx.HTTPError as exc:
            raise KeyUnavailable(f"keys service: {exc!r}") from exc
        if response.status_code == 410:
            raise gone
        if response.status_code == 404:  # the keys service knows the child under another LA
            raise owned_elsewhere(gone.child_id)
        if response.status_code != 200:
            raise KeyUnavailable(f"keys service answered {response.status_code}: {response.text}")
        return base64.b64decode(response.json()["key"])

    async def create_or_get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        path = f"/keys/children/{child_id}"
        return await self._key("PUT", path, tenant, KeyShredded(tenant, child_id))

    async def get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        path = f"/keys/children/{child_id}"
        return await self._key("GET", path, tenant, KeyShredded(tenant, child_id))

    async def dead_letter_key(self, service: str, day: str) -> bytes:
        path = f"/keys/dead-letters/{service}/{day}"
        gone = KeyShredded("dead-letters", uuid.uuid5(uuid.NAMESPACE_URL, path))
        return await self._key("PUT", path, self.home_tenant, gone)

    def forget(self, tenant: str, child_id: uuid.UUID) -> None:
        """Nothing kept here (``CachedDataKeys`` keeps them)."""


def sealer_for(settings: ServiceSettings, service: str) -> Sealer:
    """The service's sealer: the keys service at ``keys_url`` behind a short-lived cache (no
    keys service configured: one that refuses, saying so)."""
    if settings.keys_url is None:
        return NO_SEALER
    if settings.keys_signing_key_file is None:
        raise ValueError(
            "EPS_KEYS_URL needs a credential: EPS_KEYS_SIGNING_KEY_FILE (the local signing key);"
            " an identity provider's client credentials are not wired yet"
        )
    tokens = ServiceTokens(
        service,
        settings.keys_signing_key_file,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )
    client = httpx.AsyncClient(base_url=settings.keys_url, timeout=10.0)
    home = min(settings.served_local_authorities().ids)
    keys = HttpDataKeys(client, tokens, service=service, home_tenant=home)
    return Sealer(CachedDataKeys(keys, ttl_s=settings.keys_cache_ttl_s))
