"""What the keys service answers over HTTP."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Literal

from eps_contracts.base import ContractModel
from pydantic import AwareDatetime, Field

from eps_keys.domain.model import ChildKey


class DataKey(ContractModel):
    """A data key, for the calling service to seal and open with (kept in its memory briefly,
    never written anywhere)."""

    key_id: str = Field(description="The child id, or dead-letters/<service>/<UTC day>.")
    alg: Literal["A256GCM"] = Field("A256GCM", description="AES-GCM with this 256-bit key.")
    key: str = Field(description="The 32-byte key, base64 (standard).")

    @classmethod
    def of(cls, key_id: str, key: bytes) -> DataKey:
        return cls(key_id=key_id, key=base64.b64encode(key).decode())


class Shredded(ContractModel):
    """A child's data key was destroyed: nothing sealed for the child opens any more."""

    child_id: uuid.UUID
    shredded_at: AwareDatetime
    shredded_by: str = Field(description="Who asked (user:<id> or service:<name>).")
    erasure_id: uuid.UUID | None = None

    @classmethod
    def of(cls, key: ChildKey) -> Shredded:
        assert key.shredded_at is not None and key.shredded_by is not None
        at: datetime = key.shredded_at
        return cls(
            child_id=key.child_id,
            shredded_at=at,
            shredded_by=key.shredded_by,
            erasure_id=key.erasure_id,
        )
