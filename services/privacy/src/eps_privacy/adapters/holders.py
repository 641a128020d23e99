"""The services that hold a child's records, asked over HTTP for a subject access request.

Each is asked at ``GET /<service>/subject-access/children/{child_id}`` (``eps_chassis
.subject_access``) **with the caller's own bearer token**: each service checks the caller's role
and writes the access to its own audit log under the caller's name, so the audit says who looked,
and the privacy service holds no credential of its own that could read every child's records.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from eps_chassis.subject_access import SubjectAccessAnswer
from fastapi import HTTPException

TRANSPORTS: dict[str, httpx.AsyncBaseTransport] = {}
"""A test's in-process services, by name (none in production: each is called at its URL)."""


class Holders:
    def __init__(self, services: dict[str, str], timeout_s: float) -> None:
        self.services = services
        self.timeout_s = timeout_s

    async def answers(
        self, child_id: uuid.UUID, authorization: str, correlation_id: str
    ) -> list[SubjectAccessAnswer]:
        """Every service's answer, asked at once; a service that cannot answer fails the whole
        bundle with a 503 naming it (an incomplete answer to a subject access request is not an
        answer)."""
        return list(
            await asyncio.gather(
                *(self._ask(name, url, child_id, authorization, correlation_id)
                  for name, url in sorted(self.services.items()))
            )
        )  # fmt: skip

    async def _ask(
        self, name: str, url: str, child_id: uuid.UUID, authorization: str, correlation: str
    ) -> SubjectAccessAnswer:
        transport = TRANSPORTS.get(name)
        async with httpx.AsyncClient(
            base_url=url if transport is None else "http://in-process",
            transport=transport,
            timeout=self.timeout_s,
        ) as client:
            try:
                response = await client.get(
                    f"/{name}/subject-access/children/{child_id}",
                    headers={
                        "Authorization": authorization,
                        "X-Correlation-Id": correlation,
                        "X-Purpose": "subject access request",
                    },
                )
            except httpx.HTTPError as exc:
                raise HTTPException(503, f"the {name} service did not answer: {exc!r}") from exc
        if response.status_code != 200:
            raise HTTPException(
                503, f"the {name} service answered {response.status_code}: {response.text[:200]}"
            )
        return SubjectAccessAnswer.model_validate_json(response.content)
