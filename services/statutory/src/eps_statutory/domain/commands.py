"""Commands: what someone asks the statutory service to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from eps_contracts.scheduling import AppointmentKind
from eps_contracts.statutory import AdviceDocument, AssessmentPurpose


@dataclass(frozen=True, slots=True)
class RegisterAdviceRequest:
    request_id: uuid.UUID
    requested_at: datetime
    assessment_requested_on: date
    la_case_ref: str
    child_id: uuid.UUID
    child_given_name: str
    child_family_name: str
    child_date_of_birth: date
    school_urn: str | None
    school_name: str | None


@dataclass(frozen=True, slots=True)
class RecordNamedEp:
    school_urn: str
    ep_id: str
    effective_from: date


@dataclass(frozen=True, slots=True)
class RecordAssessmentBooked:
    advice_id: uuid.UUID
    request_id: uuid.UUID | None
    appointment_id: uuid.UUID
    kind: AppointmentKind
    ep_id: str
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class RecordAssessmentRescheduled:
    advice_id: uuid.UUID
    appointment_id: uuid.UUID
    ep_id: str
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class RecordBookingFailed:
    advice_id: uuid.UUID
    request_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class RecordAssessmentCancelled:
    advice_id: uuid.UUID
    appointment_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class RecordAssessmentCompleted:
    advice_id: uuid.UUID
    appointment_id: uuid.UUID
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class RequestAssessmentBooking:
    advice_id: uuid.UUID
    purpose: AssessmentPurpose = AssessmentPurpose.ASSESSMENT_VISIT


@dataclass(frozen=True, slots=True)
class SaveDraft:
    advice_id: uuid.UUID
    document: AdviceDocument


@dataclass(frozen=True, slots=True)
class ApproveAdvice:
    advice_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SubmitAdvice:
    advice_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RecordException:
    advice_id: uuid.UUID
    kind: str
    starts_on: date
    ends_on: date
    reason: str
    evidence: tuple[str, ...]
    parents_notified_on: date


@dataclass(frozen=True, slots=True)
class RegisterTribunalAppeal:
    appeal_id: uuid.UUID
    request_id: uuid.UUID
    registered_on: date
    hearing_on: date
    evidence_due_on: date | None


@dataclass(frozen=True, slots=True)
class WithdrawAdviceRequest:
    """The LA withdrew its request for advice (told upstream, by its request id)."""

    request_id: uuid.UUID
    withdrawn_on: date
    reason: str


@dataclass(frozen=True, slots=True)
class WithdrawAdvice:
    """The LA's withdrawal, recorded by the EPS (told by phone or letter)."""

    advice_id: uuid.UUID
    withdrawn_on: date
    reason: str
