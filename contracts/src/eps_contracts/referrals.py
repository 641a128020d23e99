"""Events of the referrals bounded context, and the upstream request that starts a referral."""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from eps_contracts import topics
from eps_contracts.base import ContractModel, Event
from eps_contracts.common import PersonId, PriorityGroup, RequesterKind, SchoolUrn, Upn


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
    requester: Requester
    child: ChildDetails
    concerns: str = Field(min_length=1, max_length=5000, description="What the concerns are.")
    priority_groups: tuple[PriorityGroup, ...] = Field(
        (), description="Priority groups that apply."
    )
    exclusion_tier: Literal[2, 3, 4] | None = Field(
        None, description="Partnership tier, when at risk of permanent exclusion."
    )
    graduated_approach: GraduatedApproachEvidence | None = Field(
        None, description="Required for a school SENCO's request."
    )


class ReferralReceived(Event):
    """The referrals service accepted a request for processing; it now waits for consent.

    Carries only what consumers need: identifiers, the child's date of birth (consent rules
    depend on age) and the looked-after flag, never names or concerns.
    """

    event_type: ClassVar[str] = "eps.referrals.referral-received.v1"
    topic: ClassVar[topics.Topic] = topics.REFERRALS
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")
    request_id: uuid.UUID = Field(description="Id of the request it came from.")
    received_on: date = Field(description="Date received (Europe/London).")
    requester_kind: RequesterKind
    school_urn: SchoolUrn | None = Field(None, description="School the child attends, if any.")
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child in the EPS records.")
    child_date_of_birth: date = Field(description="Needed by consent: who decides depends on age.")
    looked_after: bool = Field(description="Child is looked after by the local authority.")
    parental_responsibility_holder_ids: tuple[PersonId, ...] = Field(
        description="People with parental responsibility."
    )
    social_worker_id: PersonId | None = Field(None, description="Allocated social worker.")
    priority_groups: tuple[PriorityGroup, ...] = Field((), description="Priority groups.")
