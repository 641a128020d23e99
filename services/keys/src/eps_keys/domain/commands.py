"""What callers ask of the keys service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class ProvideChildKey:
    """The child's data key, made on first use when ``create``."""

    child_id: uuid.UUID
    create: bool


@dataclass(frozen=True, slots=True)
class ShredChildKey:
    """Destroy the child's data key (the child is erased)."""

    child_id: uuid.UUID
    erasure_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class ProvideDeadLetterKey:
    service: str
    day: date


@dataclass(frozen=True, slots=True)
class DestroyExpiredDeadLetterKeys:
    retention_days: int
