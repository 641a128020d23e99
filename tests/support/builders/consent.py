"""Valid consent commands, varied by keyword, for tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eps_consent.domain.commands import OpenConsentCase, RecordConsentDecision
from eps_contracts.consent import ConsentDecisionKind, ConsentMethod, ConsentScope

RECEIVED_ON = date(2026, 11, 2)


def open_case(**overrides: Any) -> OpenConsentCase:
    """A referral received for a child of ten with two holders of parental responsibility."""
    values: dict[str, Any] = dict(
        referral_id=uuid.uuid4(),
        child_id=uuid.uuid4(),
        child_date_of_birth=date(2016, 5, 4),
        received_on=RECEIVED_ON,
        looked_after=False,
        parental_responsibility_holder_ids=("p-1", "p-2"),
        social_worker_id="sw-9",
    )
    values.update(overrides)
    return OpenConsentCase(**values)


def decision(referral_id: uuid.UUID, consenter_id: str, **overrides: Any) -> RecordConsentDecision:
    """A signed grant of consent to involvement, decided on the day it was received."""
    values: dict[str, Any] = dict(
        referral_id=referral_id,
        consenter_id=consenter_id,
        scope=ConsentScope.INVOLVEMENT,
        decision=ConsentDecisionKind.GRANTED,
        method=ConsentMethod.SIGNED_FORM,
        decided_on=RECEIVED_ON,
        evidence_ref="form-17",
    )
    values.update(overrides)
    return RecordConsentDecision(**values)
