"""HTTP routes on a service's held events (``held_events``): see them, retry one, give up on one.

Mounted by every service that consumes events, at ``/<service>/held-events``, for the roles the
service names (by default admins and the principal EP; finance for billing). A held event may
be about a child, so the list shows what it is and why it waits, never its content, and every
use is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
from eps_contracts.base import ContractModel
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from eps_chassis import held_events
from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.errors import NotFound
from eps_chassis.http import json_body

if TYPE_CHECKING:
    from eps_chassis.service import ServiceRuntime


class HeldEventView(BaseModel):
    consumer: str
    event_id: uuid.UUID
    event_type: str
    subject: str = Field(description="The aggregate the event is about (its Kafka key).")
    topic: str
    reason: str = Field(description="Why it cannot be applied yet.")
    field: str | None = Field(description="The input that names what is missing.")
    awaiting: str = Field(description="What it waits for; it is applied once that arrives.")
    behind: uuid.UUID | None = Field(description="The held event of its subject it waits behind.")
    held_at: datetime
    attempts: int
    last_tried_at: datetime
    due: bool = Field(description="Released: it is about to be applied again.")


class GiveUpBody(ContractModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why it is given up on.")


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _pool(runtime: ServiceRuntime) -> asyncpg.Pool:
    assert runtime.pool is not None, "the service has started"
    return runtime.pool


ConsumerName = Path(min_length=1, max_length=100, pattern=r"^[a-z0-9-]+$")


def _unknown_held_event() -> NotFound:
    refusal = NotFound("no such held event", field="event_id")
    refusal.audited = True  # just written, naming the held event
    return refusal


HELD_EVENTS_TAG = {
    "name": "held events",
    "description": "Events that are valid but wait for data the service does not have yet: what"
    " each waits for and why (never its content); retry one now, or give up on it (it is"
    " dead-lettered, saying who gave up and why).",
}


def held_events_router(service: str, readers: Sequence[Role]) -> APIRouter:
    router = APIRouter(prefix=f"/{service}/held-events", tags=[HELD_EVENTS_TAG["name"]])
    allowed = require_roles(*readers)

    @router.get("", response_model=list[HeldEventView])
    async def list_held_events(
        limit: int = Query(200, ge=1, le=1000),
        principal: Principal = allowed,
        runtime: ServiceRuntime = Depends(_runtime),
    ) -> list[HeldEventView]:
        """Events this service holds for the caller's local authority, oldest first."""
        pool = _pool(runtime)
        rows = await held_events.listing(pool, principal.tenant, limit)
        await record_access(pool, principal, action="read", resource="held-events")
        return [HeldEventView(**dict(r)) for r in rows]

    @router.post("/{consumer}/{event_id}/retry", status_code=202)
    async def retry_held_event(
        event_id: uuid.UUID,
        consumer: str = ConsumerName,
        principal: Principal = allowed,
        runtime: ServiceRuntime = Depends(_runtime),
    ) -> dict[str, bool]:
        """Apply it again now (with any held behind it): it stays held if it still waits."""
        pool = _pool(runtime)
        found = await held_events.mark_due(pool, principal.tenant, consumer, event_id)
        resource = f"held-event/{consumer}/{event_id}"
        await record_access(
            pool, principal, action="retry", resource=resource,
            outcome="allowed" if found else "not_found",
            reason=None if found else "no such held event",
        )  # fmt: skip
        if not found:
            raise _unknown_held_event()
        return {"due": True}

    @router.post("/{consumer}/{event_id}/dead-letter")
    async def give_up_on_held_event(
        event_id: uuid.UUID,
        principal: Principal = allowed,
        body: GiveUpBody = json_body(GiveUpBody),
        consumer: str = ConsumerName,
        runtime: ServiceRuntime = Depends(_runtime),
    ) -> dict[str, bool]:
        """Give up on it: it goes to the dead-letter topic saying who gave up and why."""
        reason = f"given up by {principal.actor}: {body.reason}"
        found = await runtime.give_up_held(consumer, principal.tenant, event_id, reason)
        await record_access(
            _pool(runtime), principal, action="dead-letter",
            resource=f"held-event/{consumer}/{event_id}",
            outcome="allowed" if found else "not_found",
            reason=None if found else "no such held event",
        )  # fmt: skip
        if not found:
            raise _unknown_held_event()
        return {"dead_lettered": True}

    return router
