"""The services that hold a child's records, asked over HTTP for a subject access request.

Each is asked at ``GET /<service>/subject-access/children/{child_id}`` (``eps_chassis
.subject_access``) **with the caller's own bearer token**: each service checks the caller's role
and writes the access to its own audit log under the caller's name, so the audit says who looked,
and the privacy service holds no credential of its own that could read every child's records.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx
from eps_chassis.subject_access import SubjectAccessAnswer

TRANSPORTS: dict[str, httpx.AsyncBaseTransport] = {}
"""A test's in-process services, by name (none in production: each is called at its URL)."""


@dataclass(frozen=True, slots=True)
class Unanswered:
    service: str
    reason: str


class Holders:
    def __init__(self, services: dict[str, str], timeout_s: float) -> None:
        self.services = services
        self.timeout_s = timeout_s

    async def answers(
        self, child_id: uuid.UUID, authorization: str, correlation_id: str
    ) -> tuple[list[SubjectAccessAnswer], list[Unanswered]]:
        """Every service's answer, asked at once, and the services that did not answer (the
        bundle then says it is incomplete, naming them, and cannot be given as the answer)."""
        asked = await asyncio.gather(
            *(self._ask(name, url, child_id, authorization, correlation_id)
              for name, url in sorted(self.services.items()))
        )  # fmt: skip
        return (
            [a for a in asked if isinstance(a, SubjectAccessAnswer)],
            [a for a in asked if isinstance(a, Unanswered)],
        )

    async def _ask(
        self, name: str, url: str, child_id: uuid.UUID, authorization: str, correlation: str
    ) -> SubjectAccessAnswer | Unanswered:
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
                return Unanswered(name, f"did not answer: {exc!r}")
        if response.status_code != 200:
            return Unanswered(name, f"answered {response.status_code}: {response.text[:200]}")
        return SubjectAccessAnswer.model_validate_json(response.content)
