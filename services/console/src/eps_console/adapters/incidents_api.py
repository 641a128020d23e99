"""The incidents service's HTTP API, called as the signed-in person (their bearer token), so
that every action is authorised and audited where the incident lives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The service's reason, from its problem+json."""
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or self.status)
        return f"the service answered {self.status}"

    @property
    def field_errors(self) -> dict[str, str]:
        """Each named field's message (problem+json ``errors``), by the field's last part."""
        found: dict[str, str] = {}
        if isinstance(self.body, dict):
            for error in self.body.get("errors") or []:
                name = str(error.get("field") or "").split(".")[-1]
                if name and name not in found:
                    found[name] = str(error.get("detail") or "is not valid")
        return found


class ServiceUnavailable(Exception):
    """The service could not be reached (an answer of its own is an :class:`Answer`)."""


@dataclass
class IncidentsApi:
    client: httpx.AsyncClient

    async def call(
        self, token: str, method: str, path: str, json: Any = None, purpose: str | None = None
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        if purpose:
            headers["X-Purpose"] = purpose
        try:
            response = await self.client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the incidents service could not be reached: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, body)
