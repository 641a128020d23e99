"""Commands of the consent service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class OpenConsentCase:
    referral_id: uuid.UUID
    child_id: uuid.UUID
    child_date_of_birth: date
    received_on: date
    looked_after: bool
    parental_responsibility_holder_ids: tuple[str, ...]
    social_worker_id: str | None
