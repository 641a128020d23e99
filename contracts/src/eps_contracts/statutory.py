"""Events of the statutory advice bounded context (psychological advice for EHC needs assessments).

The LA's SEN assessment team (an upstream system) asks for advice and tells the EPS about SEND
Tribunal appeals on ``eps.upstream.statutory-requests.v1`` (keyed by the LA's request id, so an
appeal follows its request). The statutory service publishes each advice's lifecycle on
``eps.statutory.advice.v1``, keyed by advice id. Booking goes through scheduling
(``eps_contracts.scheduling.AppointmentBookingRequested`` with ``case_ref='advice:<id>'``).
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from eps_contracts.base import ContractModel, Event
from eps_contracts.common import PersonId, SchoolUrn
from eps_contracts.sealed import UPSTREAM_PLAIN, Sealed, personal_field, sealed_field
from eps_contracts.topics import Topic

UPSTREAM_STATUTORY_REQUESTS = Topic(
    "eps.upstream.statutory-requests.v1",
    "Requests for psychological advice and SEND Tribunal appeals from the LA's SEN assessment"
    " team, keyed by the LA's advice request id.",
)
ADVICE = Topic(
    "eps.statutory.advice.v1",
    "Lifecycle of each piece of statutory psychological advice, keyed by advice id.",
)


class AllocationRoute(StrEnum):
    NAMED_EP = "named_ep"
    STATUTORY_TEAM = "statutory_team"


class ExceptionKind(StrEnum):
    """The exceptions to the 6-week limit of SEND Regulations 2014 reg 8(2). Nothing else:
    in particular school holidays are not an exception for the EP's advice."""

    EXCEPTIONAL_PERSONAL_CIRCUMSTANCES = "exceptional_personal_circumstances"
    CHILD_OR_PARENT_AWAY = "child_or_parent_away"
    MISSED_APPOINTMENT = "missed_appointment"


class AtRiskReason(StrEnum):
    NO_ASSESSMENT_BOOKED = "no_assessment_booked"
    NO_DRAFT = "no_draft"
    ASSESSMENT_AFTER_LAST_DAY = "assessment_after_last_day"  # booked or moved past the deadline


class AssessmentPurpose(StrEnum):
    """What a piece of the advice's assessment work booked through scheduling is for."""

    ASSESSMENT_VISIT = "assessment_visit"
    MEETING_THE_CHILD = "meeting_the_child"
    PARENTS_VIEWS = "parents_views"
    CHILD_VIEWS = "child_views"


_PURPOSE_DESCRIPTION = (
    "What the booking is for (an advice may have several bookings, one per purpose);"
    " absent in events published before purposes existed, meaning assessment_visit."
)


class TribunalTaskKind(StrEnum):
    EVIDENCE = "evidence"
    ATTENDANCE = "attendance"


# --- upstream: the LA's SEN assessment team --------------------------------------------------


class PsychologicalAdviceRequested(Event):
    """The LA asks the EPS for psychological advice for a child's EHC needs assessment
    (reg 6(1)(d)). The EPS must answer within 6 weeks of receiving it (reg 8(1))."""

    event_type: ClassVar[str] = "eps.upstream.psychological-advice-requested.v1"
    topic: ClassVar[Topic] = UPSTREAM_STATUTORY_REQUESTS
    key_field: ClassVar[str] = "request_id"

    request_id: uuid.UUID = Field(description="The SEN team's id for this request for advice.")
    requested_at: AwareDatetime = Field(
        description="When the request reached the EPS; its Europe/London date starts the clock."
    )
    assessment_requested_on: date = Field(
        description="Date of the original request for an EHC needs assessment (reg 13, 20 weeks)."
    )
    la_case_ref: str = Field(
        min_length=1, max_length=100, description="The SEN team's case reference."
    )
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child in the EPS records.")
    child_given_name: str = personal_field(
        reason=UPSTREAM_PLAIN + "the advice names the child", min_length=1, max_length=100
    )
    child_family_name: str = personal_field(
        reason=UPSTREAM_PLAIN + "the advice names the child", min_length=1, max_length=100
    )
    child_date_of_birth: date = personal_field(
        reason=UPSTREAM_PLAIN + "the advice states it; retention counts from it"
    )
    school_urn: SchoolUrn | None = Field(None, description="School or setting attended, if any.")
    school_name: str | None = Field(
        None, max_length=200, description="Its name: the advice must not name it."
    )


class TribunalAppealRegistered(Event):
    """A SEND Tribunal appeal was registered on a case for which the EPS gave advice."""

    event_type: ClassVar[str] = "eps.upstream.tribunal-appeal-registered.v1"
    topic: ClassVar[Topic] = UPSTREAM_STATUTORY_REQUESTS
    key_field: ClassVar[str] = "request_id"

    appeal_id: uuid.UUID = Field(description="The SEN team's id for the appeal.")
    request_id: uuid.UUID = Field(description="The request for advice the appeal concerns.")
    registered_on: date
    hearing_on: date = Field(description="Date of the hearing (the EP may need to attend).")
    evidence_due_on: date | None = Field(
        None, description="Date the EP's evidence is due; else set by the LA's lead time."
    )


class PsychologicalAdviceRequestWithdrawn(Event):
    """The LA withdrew its request for advice (for example it decided not to assess, or the
    family left the area): the EPS stops work on it and cancels its appointments."""

    event_type: ClassVar[str] = "eps.upstream.psychological-advice-request-withdrawn.v1"
    topic: ClassVar[Topic] = UPSTREAM_STATUTORY_REQUESTS
    key_field: ClassVar[str] = "request_id"

    request_id: uuid.UUID = Field(description="The request for advice that is withdrawn.")
    withdrawn_on: date = Field(description="Europe/London date the LA withdrew it.")
    reason: str = Field(min_length=1, max_length=500, description="Why, in the LA's words.")


# --- the advice lifecycle ---------------------------------------------------------------------


class AdviceDocument(ContractModel):
    """Psychological advice under its nine headings. It describes provision, never a school."""

    summary: str = Field(max_length=20000)
    professionals_involved: str = Field(max_length=20000)
    basis_of_assessment: str = Field(max_length=20000)
    background: str = Field(max_length=20000)
    child_views: str = Field(max_length=20000, description="The child's views.")
    parent_views: str = Field(max_length=20000, description="The parents' views.")
    needs: str = Field(max_length=20000)
    outcomes: str = Field(max_length=20000)
    provision: str = Field(max_length=20000)


class AdviceRequestReceived(Event):
    """The EPS recorded a request for advice and started its clock."""

    event_type: ClassVar[str] = "eps.statutory.advice-request-received.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    request_id: uuid.UUID
    child_id: uuid.UUID
    school_urn: SchoolUrn | None = None
    received_on: date = Field(description="Europe/London date the EPS received the request.")
    assessment_requested_on: date
    due_on: date = Field(description="Last day for the advice (6 weeks, reg 8(1)).")
    plan_due_on: date | None = Field(
        None,
        description="Context: last day for the final EHC plan, 20 weeks after the assessment"
        " request (reg 13). Not the EPS's deadline.",
    )


class AdviceAllocated(Event):
    """The advice was given to the school's named EP or to the statutory team."""

    event_type: ClassVar[str] = "eps.statutory.advice-allocated.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    route: AllocationRoute
    ep_id: PersonId | None = Field(None, description="The EP, when allocated to one person.")


class AdviceAssessmentBooked(Event):
    """Scheduling booked the assessment work for the advice."""

    event_type: ClassVar[str] = "eps.statutory.advice-assessment-booked.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    appointment_id: uuid.UUID
    ep_id: PersonId
    starts_at: AwareDatetime
    purpose: AssessmentPurpose = Field(
        AssessmentPurpose.ASSESSMENT_VISIT, description=_PURPOSE_DESCRIPTION
    )


class AdviceAssessmentRescheduled(Event):
    """Scheduling moved the advice's assessment visit to another time (and perhaps EP)."""

    event_type: ClassVar[str] = "eps.statutory.advice-assessment-rescheduled.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    appointment_id: uuid.UUID
    ep_id: PersonId = Field(description="The EP who will now make the visit.")
    starts_at: AwareDatetime = Field(description="The visit's new start.")
    starts_after_last_day: bool = Field(
        description="The visit now starts after the advice's last day: the advice will be late"
        " unless an exception applies."
    )
    purpose: AssessmentPurpose = Field(
        AssessmentPurpose.ASSESSMENT_VISIT, description=_PURPOSE_DESCRIPTION
    )


class AdviceExceptionRecorded(Event):
    """A reg 8(2) exception was recorded (its reason and evidence stay in the EPS record)."""

    event_type: ClassVar[str] = "eps.statutory.advice-exception-recorded.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    exception_id: uuid.UUID
    kind: ExceptionKind
    starts_on: date
    ends_on: date
    parents_notified_on: date
    due_on: date | None = Field(description="The new last day; null when the limit is disapplied.")


class AdviceDrafted(Event):
    """An EP saved a draft of the advice (any earlier approval is withdrawn)."""

    event_type: ClassVar[str] = "eps.statutory.advice-drafted.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    ep_id: PersonId
    version: int = Field(ge=1)


class AdviceApproved(Event):
    """A senior EP approved the current draft."""

    event_type: ClassVar[str] = "eps.statutory.advice-approved.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    approved_by: PersonId
    version: int = Field(ge=1)


class _AdviceSubmitted(Event):
    """What every version of ``advice-submitted`` carries (not an event type of its own)."""

    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    request_id: uuid.UUID
    la_case_ref: str
    child_id: uuid.UUID
    submitted_on: date = Field(description="Europe/London date of submission.")
    received_on: date
    due_on: date | None = Field(description="Last day after exceptions; null when disapplied.")
    within_six_weeks: bool = Field(description="Submitted within 6 weeks of receipt.")
    within_time_limit: bool = Field(description="Submitted by the last day after exceptions.")
    exception_applied: bool
    author_ep_id: PersonId
    approved_by: PersonId


class AdviceSubmitted(_AdviceSubmitted):
    """The advice went to the SEN assessment team: the document is for them, sealed for the
    child (the SEN team's system opens it with the child's key from the keys service). Once
    the child is erased it no longer opens; the timeliness figures still apply."""

    event_type: ClassVar[str] = "eps.statutory.advice-submitted.v2"

    document: Sealed = sealed_field(
        AdviceDocument,
        reason="the SEN assessment team receives the advice for the EHC needs assessment",
        description="The advice under its nine headings, sealed for the child.",
    )


class AdviceSubmittedV1(_AdviceSubmitted):
    """Superseded by ``eps.statutory.advice-submitted.v2`` (the document sealed for the child):
    no longer published; consumers still apply it for records on the log from before.

    The advice went to the SEN assessment team: the document is for them."""

    event_type: ClassVar[str] = "eps.statutory.advice-submitted.v1"

    document: AdviceDocument


class AdviceWithdrawn(Event):
    """The LA's request was withdrawn before the advice was submitted: the advice is closed
    without one, and the appointments booked for it are cancelled."""

    event_type: ClassVar[str] = "eps.statutory.advice-withdrawn.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    request_id: uuid.UUID
    withdrawn_on: date = Field(description="Europe/London date of the withdrawal.")
    reason: str = Field(min_length=1, max_length=500)


class AdviceAtRisk(Event):
    """The advice is due soon and work is missing. Raised once per advice and last day."""

    event_type: ClassVar[str] = "eps.statutory.advice-at-risk.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    ep_id: PersonId | None = None
    due_on: date
    days_remaining: int
    reasons: tuple[AtRiskReason, ...] = Field(min_length=1)


class AdviceDeadlineBreached(Event):
    """The last day passed without the advice being submitted. Raised once per last day."""

    event_type: ClassVar[str] = "eps.statutory.advice-deadline-breached.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    ep_id: PersonId | None = None
    due_on: date
    detected_on: date


class TribunalTask(ContractModel):
    task_id: uuid.UUID
    kind: TribunalTaskKind
    ep_id: PersonId | None = Field(None, description="Null: the statutory team picks it up.")
    due_on: date


class TribunalTasksCreated(Event):
    """A tribunal appeal gave the advice's EP tasks (evidence, attendance) with their dates."""

    event_type: ClassVar[str] = "eps.statutory.tribunal-tasks-created.v1"
    topic: ClassVar[Topic] = ADVICE
    key_field: ClassVar[str] = "advice_id"

    advice_id: uuid.UUID
    appeal_id: uuid.UUID
    tasks: tuple[TribunalTask, ...] = Field(min_length=1)
