"""Commands: what someone asks the scheduling service to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from eps_contracts.scheduling import AppointmentKind, CancellationParty, FundingStream

from eps_scheduling.domain.model import Ep, Policy


@dataclass(frozen=True, slots=True)
class RegisterEp:
    ep: Ep


@dataclass(frozen=True, slots=True)
class RegisterSchool:
    """Register or update a school; a new named EP takes over its planning meetings from
    ``effective_from`` (and never before now)."""

    school_urn: str
    latitude: float
    longitude: float
    named_ep_id: str
    effective_from: date


@dataclass(frozen=True, slots=True)
class SetCoreAllocation:
    school_urn: str
    academic_year: int
    core_minutes: int


@dataclass(frozen=True, slots=True)
class AddTradedTime:
    purchase_id: uuid.UUID
    school_urn: str
    academic_year: int
    minutes: int


@dataclass(frozen=True, slots=True)
class BookAppointment:
    """Book a specific slot (HTTP) or, with ``window_end``, the first free one in a window."""

    kind: AppointmentKind
    funding_stream: FundingStream
    starts_at: datetime
    duration_minutes: int
    ep_id: str | None = None
    school_urn: str | None = None
    referral_id: uuid.UUID | None = None
    child_id: uuid.UUID | None = None
    case_ref: str | None = None
    request_id: uuid.UUID | None = None
    window_end: datetime | None = None
    advice_id: uuid.UUID | None = None  # statutory work: its basis, in place of consent


@dataclass(frozen=True, slots=True)
class CancelAppointment:
    """Call off a booked appointment (now, by the service's clock)."""

    appointment_id: uuid.UUID
    reason: str
    cancelled_by: CancellationParty | None = None  # None: not stated


@dataclass(frozen=True, slots=True)
class RescheduleAppointment:
    appointment_id: uuid.UUID
    starts_at: datetime
    reason: str
    ep_id: str | None = None


@dataclass(frozen=True, slots=True)
class CompleteAppointment:
    """The appointment took place (it is completed now, by the service's clock)."""

    appointment_id: uuid.UUID
    delivered_minutes: int
    funding_stream: FundingStream | None = None


@dataclass(frozen=True, slots=True)
class CorrectDeliveredTime:
    delivery_id: uuid.UUID
    correction_id: uuid.UUID
    minutes: int
    funding_stream: FundingStream
    reason: str


@dataclass(frozen=True, slots=True)
class VoidDeliveredTime:
    delivery_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class RecordConsentStatus:
    referral_id: uuid.UUID
    child_id: uuid.UUID
    involvement_valid: bool
    reason: str | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class RecordReferral:
    referral_id: uuid.UUID
    child_id: uuid.UUID
    school_urn: str | None


@dataclass(frozen=True, slots=True)
class AllocateFastTrack:
    incident_id: uuid.UUID
    school_urn: str
    level: int
    eps_needed: int
    needed_by: datetime
    duration_minutes: int
    senior_lead_required: bool
    requested_at: datetime  # allocated from then, or from now if the request was held up
    attempt: int = 1  # the coordinator asking again for EPs still missing: 2, 3, ...
    exclude_ep_ids: tuple[str, ...] = ()  # EPs already going to the incident


@dataclass(frozen=True, slots=True)
class ProposePlanningMeetings:
    """Propose the school's planning meetings of a year, from now on."""

    school_urn: str
    academic_year: int


@dataclass(frozen=True, slots=True)
class RecordAdviceRequest:
    """A statutory advice request opened, submitted or withdrawn (statutory's events)."""

    advice_id: uuid.UUID
    status: str  # open, submitted or withdrawn
    at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RecordAgreement:
    """An SLA bought in billing (or changed there): the school's traded time for a year."""

    agreement_id: uuid.UUID
    school_urn: str
    academic_year: int
    minutes: int


@dataclass(frozen=True, slots=True)
class CancelAgreement:
    agreement_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SetPolicy:
    """Replace the LA's scheduling figures (applies to what is scheduled from then on)."""

    policy: Policy
