"""Commands: what someone asks the referrals service to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from eps_contracts.common import PriorityGroup
from eps_contracts.referrals import ChildDetails, GraduatedApproachEvidence, Requester


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
