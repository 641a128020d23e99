"""Commands: what someone asks the statutory service to do (imperative names). A command carries
who acts and, for what an event told, when it happened; the time a handler acts at is its unit of
work's clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from eps_contracts.scheduling import AppointmentKind
from eps_contracts.statutory import AdviceDocument, AssessmentPurpose

from eps_statutory.domain.policy import LaPolicy


@dataclass(frozen=True, slots=True)
class Person:
    """Who acts on an advice: an EP, or a senior (senior or principal) EP."""

    person_id: str
    is_senior: bool


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
    sent_at: datetime
    """When the SEN team's system sent the request: its booking is asked for from then."""


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
    cancelled_at: datetime
    """When scheduling cancelled it: a booking asked for again is asked for from then."""


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
    author: Person


@dataclass(frozen=True, slots=True)
class ApproveAdvice:
    advice_id: uuid.UUID
    approver: Person


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
    recorded_by: str


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


@dataclass(frozen=True, slots=True)
class SetStatutoryPolicy:
    """Replace the LA's statutory figures and rules; advice already received keeps its clock's."""

    policy: LaPolicy
    updated_by: str
