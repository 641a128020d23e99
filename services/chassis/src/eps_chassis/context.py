"""Who is acting, for which local authority, in which conversation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eps_contracts import Envelope, Event

if TYPE_CHECKING:
    from eps_chassis.auth import Principal

_request_correlation: ContextVar[uuid.UUID | None] = ContextVar(
    "eps_request_correlation", default=None
)


def request_correlation() -> uuid.UUID | None:
    """The correlation id of the HTTP request being handled, if any (set by the service)."""
    return _request_correlation.get()


def current_correlation() -> uuid.UUID:
    """The request's correlation id, else a new one (a job or a test starts a conversation)."""
    return _request_correlation.get() or uuid.uuid4()


@contextmanager
def correlated(correlation_id: uuid.UUID) -> Iterator[None]:
    """Handle a request under ``correlation_id``: its events, audit rows and logs carry it."""
    token = _request_correlation.set(correlation_id)
    try:
        yield
    finally:
        _request_correlation.reset(token)


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Carried from the cause (an HTTP request or an event) to every event it produces."""

    tenant: str
    actor: str
    correlation_id: uuid.UUID = field(default_factory=current_correlation)
    causation_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> MessageContext:
        """An HTTP caller acting in their local authority, in the request's conversation."""
        return cls(tenant=principal.tenant, actor=principal.actor)

    @classmethod
    def caused_by(cls, envelope: Envelope[Event], actor: str) -> MessageContext:
        return cls(
            tenant=envelope.tenant,
            actor=actor,
            correlation_id=envelope.correlationid,
            causation_id=envelope.id,
        )
