"""Who is acting, for which local authority, in which conversation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from eps_contracts import Envelope, Event


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Carried from the cause (an HTTP request or an event) to every event it produces."""

    tenant: str
    actor: str
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    causation_id: uuid.UUID | None = None

    @classmethod
    def caused_by(cls, envelope: Envelope[Event], actor: str) -> MessageContext:
        return cls(
            tenant=envelope.tenant,
            actor=actor,
            correlation_id=envelope.correlationid,
            causation_id=envelope.id,
        )
