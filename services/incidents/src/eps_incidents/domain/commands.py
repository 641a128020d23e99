"""Commands: what someone asks the incidents service to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from eps_contracts.incidents import IncidentReport
from eps_contracts.scheduling import AllocatedEp

from eps_incidents.domain.policy import LevelTargets
from eps_incidents.domain.rota import RotaPosition


@dataclass(frozen=True, slots=True)
class ReportIncident:
    report: IncidentReport
    reported_at: datetime | None = None  # an upstream report's time; None: now (phoned in)


@dataclass(frozen=True, slots=True)
class AcknowledgeIncident:
    incident_id: uuid.UUID
    acknowledged_by: str
    may_act_for_anyone: bool  # principal or senior EP: may take charge even if not on the chain


@dataclass(frozen=True, slots=True)
class RecordFastTrackAllocation:
    incident_id: uuid.UUID
    eps: tuple[AllocatedEp, ...]
    shortfall: int
    allocated_at: datetime
    shortfall_reason: str | None = None
    attempt: int = 1  # which request this answers (later ones add to the EPs going)


@dataclass(frozen=True, slots=True)
class RequestMissingEps:
    """Ask scheduling again for the EPs the incident's level still needs."""

    incident_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RecordFirstContact:
    incident_id: uuid.UUID
    made_at: datetime
    made_by: str | None = None  # an EP, or the coordinator when no EP was allocated
    recorded_by: str | None = None  # the caller (taken as made_by when nobody is allocated)


@dataclass(frozen=True, slots=True)
class RecordVisit:
    incident_id: uuid.UUID
    visited_at: datetime
    ep_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlanFollowUp:
    incident_id: uuid.UUID
    review_on: date
    plan: str


@dataclass(frozen=True, slots=True)
class CloseIncident:
    incident_id: uuid.UUID
    summary: str


@dataclass(frozen=True, slots=True)
class AddRotaEntry:
    """Put a coordinator on call in a position for a period (an override: a swap, cover)."""

    coordinator_id: str
    position: RotaPosition
    starts_at: datetime
    ends_at: datetime
    is_override: bool = False


@dataclass(frozen=True, slots=True)
class SetIncidentPolicy:
    """Set who ends every escalation chain, how soon an incident escalates and how far ahead
    rota gaps are reported, for this local authority."""

    acknowledge_within_minutes: int
    principal_ep_id: str | None
    rota_gap_lookahead_hours: int


@dataclass(frozen=True, slots=True)
class SetLevelTargets:
    """Set what each level of incident needs and how fast, for this local authority."""

    levels: tuple[LevelTargets, ...]


@dataclass(frozen=True, slots=True)
class EscalateUnreachable:
    """Every page to ``person`` about the incident failed for good: they cannot be told."""

    incident_id: uuid.UUID
    person: str
    reason: str
