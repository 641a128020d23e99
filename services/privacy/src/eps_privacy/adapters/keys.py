"""The last step of an erasure: the child's data key shredded at the keys service
(``POST /keys/children/{child_id}/shredding``, ``docs/data-protection.md``), as the privacy
service itself (role ``service``; ``eps_chassis.key_client.ServiceTokens`` under ``make run``
and in the tests). Every sealed copy of the child's personal data, on every topic, in every
dead letter and backup of the log, is then unreadable."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from eps_chassis.key_client import ServiceTokens
from eps_chassis.logging import get_logger

from eps_privacy.adapters.holders import TRANSPORTS
from eps_privacy.settings import PrivacySettings

log = get_logger()


class KeyShredder:
    def __init__(self, client: httpx.AsyncClient, tokens: Callable[[str], str]) -> None:
        self.client = client
        self.tokens = tokens

    async def shred(self, tenant: str, child_id: uuid.UUID, erasure_id: uuid.UUID) -> bool:
        """True once the key is destroyed (again: the same); False to try again later."""
        try:
            response = await self.client.post(
                f"/keys/children/{child_id}/shredding",
                json={"erasure_id": str(erasure_id)},
                headers={
                    "Authorization": f"Bearer {self.tokens(tenant)}",
                    "X-Purpose": f"erasure {erasure_id}",
                },
            )
        except httpx.HTTPError as exc:
            log.warning("keys service unreachable; shredding later", error=repr(exc))
            return False
        if response.status_code != 200:
            log.warning(
                "keys service refused a shredding; trying later",
                status=response.status_code, answer=response.text[:200],
            )  # fmt: skip
            return False
        return True


def key_shredder(settings: PrivacySettings) -> KeyShredder | None:
    """The keys service of the settings, or a test's in-process one (``holders.TRANSPORTS``);
    none configured: no key is shredded, and the shredding job says so."""
    transport = TRANSPORTS.get("keys")
    url = settings.keys_url or ("http://keys" if transport is not None else None)
    if url is None or settings.keys_signing_key_file is None:
        return None
    tokens = ServiceTokens(
        "privacy",
        settings.keys_signing_key_file,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )
    client = httpx.AsyncClient(base_url=url, transport=transport, timeout=10.0)
    return KeyShredder(client, tokens)
