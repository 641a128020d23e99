"""The keys' model: a child's data key and a service's dead-letter key of a day. Pure: the keys
arrive wrapped, time comes in as an argument."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from eps_chassis.errors import Gone
from eps_contracts import Event
from eps_contracts.keys import ChildKeyShredded


def child_binding(tenant: str, child_id: uuid.UUID) -> bytes:
    """What a child's wrapped key is bound to: it unwraps for this child of this LA alone."""
    return f"child-key|{tenant}|{child_id}".encode()


def dead_letter_binding(service: str, day: date) -> bytes:
    return f"dead-letter-key|{service}|{day.isoformat()}".encode()


@dataclass
class ChildKey:
    """A child's data key, wrapped; None once shredded (the child erased)."""

    tenant: str
    child_id: uuid.UUID
    wrapped_key: bytes | None
    kek_id: str
    created_at: datetime
    shredded_at: datetime | None = None
    shredded_by: str | None = None
    erasure_id: uuid.UUID | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def shredded(self) -> bool:
        return self.wrapped_key is None

    def wrapped(self) -> bytes:
        """The wrapped key; Gone once shredded."""
        if self.wrapped_key is None:
            raise Gone(
                f"the data key of child {self.child_id} was shredded at"
                f" {self.shredded_at.isoformat() if self.shredded_at else 'an unknown time'}",
                field="child_id",
            )
        return self.wrapped_key

    def shred(self, at: datetime, by: str, erasure_id: uuid.UUID | None) -> None:
        """Destroy the key for good; told once (shredding again changes nothing)."""
        if self.shredded:
            return
        self.wrapped_key = None
        self.shredded_at = at
        self.shredded_by = by
        self.erasure_id = erasure_id
        self.events.append(
            ChildKeyShredded(child_id=self.child_id, shredded_at=at, erasure_id=erasure_id)
        )


@dataclass
class DeadLetterKey:
    """A service's key for its dead letters of one UTC day."""

    service: str
    day: date
    wrapped_key: bytes | None
    kek_id: str
    created_at: datetime
    destroyed_at: datetime | None = None
    events: list[Event] = field(default_factory=list)

    def wrapped(self) -> bytes:
        if self.wrapped_key is None:
            raise Gone(
                f"the dead-letter key of {self.service} for {self.day} was destroyed (its"
                " retention passed)",
                field="day",
            )
        return self.wrapped_key


def dead_letters_expire_before(today: date, retention_days: int) -> date:
    """Dead-letter keys of days before this are past their retention."""
    return today - timedelta(days=retention_days)
