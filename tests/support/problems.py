"""Reading an error answer: every 4xx is one RFC 9457 problem (``eps_chassis.http``)."""

from __future__ import annotations

from typing import Any

import httpx


def problem(response: httpx.Response) -> dict[str, Any]:
    """The problem a refusal answers with (its media type checked)."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body["title"] and "detail" in body, body
    return body


def fields(response: httpx.Response) -> list[str | None]:
    """The fields a refusal names (a body field's dotted path, a parameter's or header's name)."""
    return [error["field"] for error in problem(response)["errors"]]


def located(response: httpx.Response) -> list[tuple[str | None, str | None]]:
    """(location, field) of each input a refusal names, e.g. ``("body", "days")``."""
    return [(error["location"], error["field"]) for error in problem(response)["errors"]]
