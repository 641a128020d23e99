"""Events of the consent bounded context."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from eps_contracts import topics
from eps_contracts.base import Event
from eps_contracts.common import PersonId


class ConsentCaseOpened(Event):
    """The consent service opened a consent case for a referral and knows who may consent."""

    event_type: ClassVar[str] = "eps.consent.case-opened.v1"
    topic: ClassVar[topics.Topic] = topics.CONSENT
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral the case is for.")
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child.")
    consenters: tuple[PersonId, ...] = Field(
        description="People whose decision is needed for valid involvement consent."
    )
