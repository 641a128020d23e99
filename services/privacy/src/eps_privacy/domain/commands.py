"""What a caller asks the privacy service for, imperative."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class OpenSubjectAccessRequest:
    request_id: uuid.UUID
    child_id: uuid.UUID
    requester: str
    received_on: date


@dataclass(frozen=True, slots=True)
class ExtendSubjectAccessRequest:
    request_id: uuid.UUID
    further_months: int
    reason: str


@dataclass(frozen=True, slots=True)
class PlaceLegalHold:
    hold_id: uuid.UUID
    child_id: uuid.UUID
    reason: str
    held_from: date


@dataclass(frozen=True, slots=True)
class LiftLegalHold:
    hold_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class RectifyChild:
    child_id: uuid.UUID
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    reason: str


@dataclass(frozen=True, slots=True)
class EraseChild:
    child_id: uuid.UUID
    reason: str
