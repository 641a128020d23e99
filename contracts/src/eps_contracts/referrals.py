"""Events of the referrals bounded context, and the upstream request that starts a referral."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from eps_contracts import topics
from eps_contracts.base import ContractModel, Event
from eps_contracts.common import PersonId, PriorityGroup, RequesterKind, SchoolUrn, Upn
from eps_contracts.sealed import UPSTREAM_PLAIN, Sealed, personal_field, sealed_field


class ParentalResponsibilityHolder(ContractModel):
    """A person who holds parental responsibility for the child."""

    person_id: PersonId
    name: str = Field(min_length=1, max_length=200, description="Full name.")
    relationship: str = Field(
        min_length=1, max_length=60, description="e.g. mother, father, guardian, local authority."
    )


class ChildDetails(ContractModel):
    """The child or young person a request is about."""

    given_name: str = Field(min_length=1, max_length=100, description="Given name.")
    family_name: str = Field(min_length=1, max_length=100, description="Family name.")
    date_of_birth: date = Field(description="Date of birth; the age must be 0 to 25.")
    upn: Upn | None = Field(None, description="Unique pupil number, when known.")
    school_urn: SchoolUrn | None = Field(None, description="School or setting attended, if any.")
    setting_name: str | None = Field(
        None, max_length=200, description="Name of an early years or other setting without URN."
    )
    year_group: str | None = Field(
        None, pattern=r"^(N1|N2|R|[1-9]|1[0-4])$", description="National curriculum year group."
    )
    home_language: str | None = Field(None, max_length=60, description="Main home language.")
    looked_after: bool = Field(description="Child is looked after by the local authority.")
    child_in_need: bool = Field(description="Child has a child-in-need plan.")
    parental_responsibility: tuple[ParentalResponsibilityHolder, ...] = Field(
        description="Everyone who holds parental responsibility."
    )
    social_worker_id: PersonId | None = Field(
        None, description="Allocated social worker, for a looked-after child or child in need."
    )


class Requester(ContractModel):
    """Who asked for EP involvement."""

    kind: RequesterKind = Field(description="Route the request came by.")
    person_id: PersonId
    name: str = Field(min_length=1, max_length=200, description="Requester's name.")
    organisation: str | None = Field(None, max_length=200, description="School, team or agency.")
    school_urn: SchoolUrn | None = Field(None, description="For a SENCO: the SENCO's school.")


class GraduatedApproachEvidence(ContractModel):
    """A school's evidence of assess-plan-do-review before asking for an EP (SEND CoP 6.44)."""

    sen_support_since: date = Field(description="Date the child was placed on SEN support.")
    review_cycles_completed: int = Field(ge=0, le=50, description="Plan-do-review cycles done.")
    strategies_tried: tuple[str, ...] = Field(description="Strategies and interventions tried.")
    attainment_summary: str = Field(max_length=2000, description="Current attainment.")
    attendance_percent: float = Field(ge=0, le=100, description="Attendance this school year.")


class ReferralRequested(Event):
    """A request for EP involvement, as published by an upstream local authority system."""

    event_type: ClassVar[str] = "eps.upstream.referral-requested.v1"
    topic: ClassVar[topics.Topic] = topics.UPSTREAM_REFERRAL_REQUESTS
    key_field: ClassVar[str] = "request_id"

    request_id: uuid.UUID = Field(description="The upstream system's id for this request.")
    requested_on: date = Field(description="Date of the request (Europe/London).")
    requester: Requester = personal_field(
        reason=UPSTREAM_PLAIN + "referrals keeps who asked, to answer them",
        description="Who asked.",
    )
    child: ChildDetails = personal_field(
        reason=UPSTREAM_PLAIN + "referrals keeps the child's record; consent needs the age",
        description="The child.",
    )
    concerns: str = personal_field(
        reason=UPSTREAM_PLAIN + "the EP triaging the referral reads them",
        min_length=1,
        max_length=5000,
        description="What the concerns are.",
    )
    priority_groups: tuple[PriorityGroup, ...] = Field(
        (), description="Priority groups that apply."
    )
    exclusion_tier: Literal[2, 3, 4] | None = Field(
        None, description="Partnership tier, when at risk of permanent exclusion."
    )
    graduated_approach: GraduatedApproachEvidence | None = Field(
        None, description="Required for a school SENCO's request."
    )


class ChildForConsent(ContractModel):
    """What consent needs of the child: who decides depends on age and on whether the child is
    looked after (then the social worker or the LA is asked too)."""

    date_of_birth: date = Field(description="Date of birth.")
    looked_after: bool = Field(description="Child is looked after by the local authority.")


class _ReferralReceived(Event):
    """What every version of ``referral-received`` carries (not an event type of its own)."""

    topic: ClassVar[topics.Topic] = topics.REFERRALS
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")
    request_id: uuid.UUID = Field(description="Id of the request it came from.")
    received_on: date = Field(description="Date received (Europe/London).")
    requester_kind: RequesterKind
    school_urn: SchoolUrn | None = Field(None, description="School the child attends, if any.")
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child in the EPS records.")
    parental_responsibility_holder_ids: tuple[PersonId, ...] = Field(
        description="People with parental responsibility."
    )
    social_worker_id: PersonId | None = Field(None, description="Allocated social worker.")
    priority_groups: tuple[PriorityGroup, ...] = Field((), description="Priority groups.")


class ReferralReceived(_ReferralReceived):
    """The referrals service accepted a request for processing; it now waits for consent.

    Carries only what consumers need: identifiers, and sealed for the child (``child``) its
    date of birth and looked-after status (consent rules depend on them), never names or
    concerns. Once the child is erased, ``child`` no longer opens: the rest still applies.
    """

    event_type: ClassVar[str] = "eps.referrals.referral-received.v2"

    child: Sealed = sealed_field(
        ChildForConsent,
        reason="consent decides who must consent by the child's age and looked-after status;"
        " the privacy service's retention counts from the date of birth",
        description="The child's date of birth and looked-after status, sealed for the child.",
    )


class ReferralReceivedV1(_ReferralReceived):
    """Superseded by ``eps.referrals.referral-received.v2`` (the child's details sealed):
    no longer published; consumers still apply it for records on the log from before.

    The referrals service accepted a request for processing; it now waits for consent.
    """

    event_type: ClassVar[str] = "eps.referrals.referral-received.v1"

    child_date_of_birth: date = Field(description="Needed by consent: who decides depends on age.")
    looked_after: bool = Field(description="Child is looked after by the local authority.")


class CaseworkStage(StrEnum):
    CONSULTATION = "consultation"
    ASSESSMENT = "assessment"
    JOINT_PLAN = "joint_plan"
    REVIEW = "review"


class RedirectDestination(StrEnum):
    SENDIASS = "sendiass"
    INCLUSION_FORUM = "inclusion_forum"
    PARTNERSHIP_PANEL = "partnership_panel"
    ANOTHER_SERVICE = "another_service"


class FeedbackRecipientKind(StrEnum):
    SCHOOL = "school"
    PARENTS = "parents"
    PROFESSIONAL = "professional"


class FeedbackRecipient(ContractModel):
    kind: FeedbackRecipientKind
    name: str = Field(min_length=1, max_length=200, description="Person or organisation.")


class AgreedActions(ContractModel):
    objectives: tuple[str, ...] = Field(min_length=1, description="What the work aims at.")
    outcomes: tuple[str, ...] = Field(min_length=1, description="Outcomes agreed.")
    strategies: tuple[str, ...] = Field((), description="Strategies to use.")
    interventions: tuple[str, ...] = Field((), description="Interventions to deliver.")


class FeedbackRecord(ContractModel):
    """The EP's written feedback on closing a piece of casework."""

    purpose: str = Field(min_length=1, max_length=5000, description="Purpose of involvement.")
    child_views: str = Field(min_length=1, max_length=5000, description="The child's views.")
    parents_views: str = Field(min_length=1, max_length=5000, description="The parents' views.")
    strengths: str = Field(min_length=1, max_length=5000, description="Strengths.")
    difficulties: str = Field(min_length=1, max_length=5000, description="Difficulties.")
    formulation: str = Field(min_length=1, max_length=5000, description="Formulation.")
    agreed_actions: AgreedActions
    review_arrangements: str = Field(min_length=1, max_length=2000, description="Review.")
    sent_to: tuple[FeedbackRecipient, ...] = Field(min_length=1, description="Recipients.")


class _ReferralEvent(Event):
    """A step in one referral's lifecycle, keyed by the referral id."""

    topic: ClassVar[topics.Topic] = topics.REFERRALS
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")


class ReferralRouted(_ReferralEvent):
    """The referral was routed to its school's named EP (None: the school has none yet)."""

    event_type: ClassVar[str] = "eps.referrals.referral-routed.v1"

    school_urn: SchoolUrn | None = Field(None, description="School the child attends, if any.")
    named_ep_id: PersonId | None = Field(None, description="The named EP; None: none yet.")


class ReferralAwaitingTriage(_ReferralEvent):
    """Involvement consent is valid: the referral waits for the named EP's triage."""

    event_type: ClassVar[str] = "eps.referrals.referral-awaiting-triage.v1"

    named_ep_id: PersonId | None = Field(None, description="Who triages; None: no named EP yet.")


class ReferralAwaitingConsent(_ReferralEvent):
    """Consent stopped being valid before triage: the referral waits for consent again."""

    event_type: ClassVar[str] = "eps.referrals.referral-awaiting-consent.v1"

    reason: str = Field(max_length=500, description="Why.")


class ReferralAccepted(_ReferralEvent):
    """The named EP (or a senior EP) accepted the referral for casework."""

    event_type: ClassVar[str] = "eps.referrals.referral-accepted.v1"

    ep_id: PersonId = Field(description="The EP who accepted it.")


class ReferralDeclined(_ReferralEvent):
    """The referral was declined at triage, with the reason."""

    event_type: ClassVar[str] = "eps.referrals.referral-declined.v1"

    reason: str = Field(min_length=1, max_length=500, description="Why it was declined.")


class ReferralRedirected(_ReferralEvent):
    """The referral was sent elsewhere (SENDIASS, Inclusion Forum, panel, another service)."""

    event_type: ClassVar[str] = "eps.referrals.referral-redirected.v1"

    destination: RedirectDestination
    service_name: str | None = Field(None, max_length=200, description="For another service.")
    reason: str = Field(min_length=1, max_length=500, description="Why.")


class CaseworkStageStarted(_ReferralEvent):
    """Casework moved on to a stage (only ever with valid involvement consent)."""

    event_type: ClassVar[str] = "eps.referrals.casework-stage-started.v1"

    stage: CaseworkStage
    skipped: tuple[CaseworkStage, ...] = Field(
        (), description="Stages passed over to reach this one (the EP recorded why)."
    )
    skip_reason: str | None = Field(
        None, max_length=500, description="Why the skipped stages were not needed."
    )


class CaseworkPaused(_ReferralEvent):
    """Involvement consent is no longer valid: work stops (scheduling cancels appointments)."""

    event_type: ClassVar[str] = "eps.referrals.casework-paused.v1"

    stage: CaseworkStage = Field(description="The stage that was under way.")
    reason: str = Field(max_length=500, description="Why.")


class CaseworkResumed(_ReferralEvent):
    """Involvement consent is valid again: paused casework goes on at the stage it stopped."""

    event_type: ClassVar[str] = "eps.referrals.casework-resumed.v1"

    stage: CaseworkStage


class ReferralClosed(_ReferralEvent):
    """Casework closed; the feedback record is kept by referrals, not carried here."""

    event_type: ClassVar[str] = "eps.referrals.referral-closed.v1"

    closed_on: date = Field(description="Date closed (Europe/London).")
    feedback_sent_to: tuple[FeedbackRecipientKind, ...] = Field(description="Recipient kinds.")


class DuplicateReferralLinked(_ReferralEvent):
    """A submission duplicated an open referral (same child and requester) and was linked."""

    event_type: ClassVar[str] = "eps.referrals.duplicate-linked.v1"

    duplicate_of: uuid.UUID = Field(description="The open referral it duplicates.")
