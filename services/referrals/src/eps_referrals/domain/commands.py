"""Commands: what someone asks the referrals service to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from eps_contracts.common import PriorityGroup
from eps_contracts.referrals import (
    CaseworkStage,
    ChildDetails,
    FeedbackRecord,
    GraduatedApproachEvidence,
    RedirectDestination,
    Requester,
)


@dataclass(frozen=True, slots=True)
class RegisterReferral:
    request_id: uuid.UUID
    requested_on: date
    requester: Requester
    child: ChildDetails
    concerns: str
    priority_groups: tuple[PriorityGroup, ...] = ()
    exclusion_tier: int | None = None
    graduated_approach: GraduatedApproachEvidence | None = None


@dataclass(frozen=True, slots=True)
class RecordConsentStatus:
    referral_id: uuid.UUID
    involvement: str
    involvement_valid: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RecordNamedEp:
    school_urn: str
    ep_id: str
    effective_from: date


@dataclass(frozen=True, slots=True)
class AcceptReferral:
    """Triage: take the referral on. ``ep_id`` is the EP triaging (and taking it on);
    ``senior``: a senior or principal EP, who may triage any referral."""

    referral_id: uuid.UUID
    ep_id: str
    senior: bool = False


@dataclass(frozen=True, slots=True)
class DeclineReferral:
    """Triage: decline the referral, saying why (``ep_id`` and ``senior`` as for accepting)."""

    referral_id: uuid.UUID
    reason: str
    ep_id: str
    senior: bool = False


@dataclass(frozen=True, slots=True)
class RedirectReferral:
    """Triage: send the referral elsewhere (``ep_id`` and ``senior`` as for accepting)."""

    referral_id: uuid.UUID
    destination: RedirectDestination
    reason: str
    ep_id: str
    senior: bool = False
    service_name: str | None = None


@dataclass(frozen=True, slots=True)
class StartCaseworkStage:
    referral_id: uuid.UUID
    stage: CaseworkStage
    skip_reason: str | None = None  # needed when the stage skips one before it


@dataclass(frozen=True, slots=True)
class CloseReferral:
    """Close the casework with its written feedback (closed today, by the service's clock)."""

    referral_id: uuid.UUID
    feedback: FeedbackRecord


@dataclass(frozen=True, slots=True)
class RegisterSchool:
    """Add a school or setting to the local authority's register kept by referrals."""

    school_urn: str
    name: str


@dataclass(frozen=True, slots=True)
class SetGraduatedApproachMinimum:
    """Set the evidence this local authority expects before a school asks for an EP."""

    review_cycles: int
    strategies: int
    months_on_sen_support: int
