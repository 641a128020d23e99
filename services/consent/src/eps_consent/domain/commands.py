"""Commands of the consent service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from eps_contracts.common import SchoolUrn
from eps_contracts.consent import ConsentDecisionKind, ConsentMethod, ConsentScope


@dataclass(frozen=True, slots=True)
class OpenConsentCase:
    referral_id: uuid.UUID
    child_id: uuid.UUID
    child_date_of_birth: date
    received_on: date
    looked_after: bool
    parental_responsibility_holder_ids: tuple[str, ...]
    social_worker_id: str | None
    school_urn: SchoolUrn | None = None


@dataclass(frozen=True, slots=True)
class RecordConsentDecision:
    referral_id: uuid.UUID
    consenter_id: str
    scope: ConsentScope
    decision: ConsentDecisionKind
    method: ConsentMethod
    decided_on: date
    evidence_ref: str | None = None
    agency: str | None = None
    expires_on: date | None = None
    recorded_by: str = ""


@dataclass(frozen=True, slots=True)
class RecordCapacityAssessment:
    referral_id: uuid.UUID
    scope: ConsentScope
    has_capacity: bool
    assessed_on: date
    assessor_id: str
    evidence_ref: str


@dataclass(frozen=True, slots=True)
class ReassessConsent:
    """Time passed: grants may have expired, or the young person may now decide."""

    referral_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class CloseConsentCase:
    """The referral's work finished: stop asking for consent on it."""

    referral_id: uuid.UUID
    closed_on: date
    reason: str


@dataclass(frozen=True, slots=True)
class SetConsentPolicy:
    """Set how long this local authority's consents last when a decision gives no expiry."""

    looked_after_reconsent_months: int
    default_reconsent_months: int | None
