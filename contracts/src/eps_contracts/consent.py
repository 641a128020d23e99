"""Events of the consent bounded context."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from eps_contracts import topics
from eps_contracts.base import Event
from eps_contracts.common import PersonId


class ConsentCaseOpened(Event):
    """The consent service opened a consent case for a referral and knows who may consent."""

    event_type: ClassVar[str] = "eps.consent.case-opened.v1"
    topic: ClassVar[topics.Topic] = topics.CONSENT
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral the case is for.")
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child.")
    consenters: tuple[PersonId, ...] = Field(
        description="People whose decision is needed for valid involvement consent."
    )


class InvolvementConsent(StrEnum):
    AWAITING = "awaiting"
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class ConsentStatusChanged(Event):
    """The current consent state of a referral, published on every change.

    ``involvement_valid`` is the single answer consumers act on: referrals moves a referral to
    active casework only when it is true and pauses casework when it becomes false; scheduling
    books a child's appointments only when it is true and cancels future ones when it turns
    false.
    """

    event_type: ClassVar[str] = "eps.consent.status-changed.v1"
    topic: ClassVar[topics.Topic] = topics.CONSENT
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child.")
    involvement: InvolvementConsent = Field(description="State of consent to involvement.")
    involvement_valid: bool = Field(description="Work on the referral may go ahead.")
    valid_until: date | None = Field(None, description="Re-consent date, if any.")
    sharing_agencies: tuple[str, ...] = Field(
        (), description="Agencies information may be shared with (separate grants)."
    )
    reason: str | None = Field(None, max_length=500, description="Why it changed.")


class ConsentScope(StrEnum):
    """What a consent decision is about: involvement and information sharing are separate."""

    INVOLVEMENT = "involvement"
    INFORMATION_SHARING = "information_sharing"


class ConsentDecisionKind(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class ConsentMethod(StrEnum):
    SIGNED_FORM = "signed_form"
    VERBAL = "verbal"
    ONLINE = "online"


class ConsentDecisionRecorded(Event):
    """One person's decision on one scope was recorded (identifiers only, no names)."""

    event_type: ClassVar[str] = "eps.consent.decision-recorded.v1"
    topic: ClassVar[topics.Topic] = topics.CONSENT
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")
    decision_id: uuid.UUID = Field(description="Id of this decision.")
    consenter_id: PersonId = Field(description="Who decided.")
    scope: ConsentScope
    agency: str | None = Field(
        None, max_length=200, description="For information sharing: the named agency."
    )
    decision: ConsentDecisionKind
    method: ConsentMethod = Field(description="How the decision was given.")
    decided_on: date = Field(description="Date of the decision (Europe/London).")
    expires_on: date | None = Field(None, description="Re-consent date of a grant, if any.")


class CapacityAssessmentRecorded(Event):
    """A decision-specific capacity assessment of a young person was recorded (MCA 2005)."""

    event_type: ClassVar[str] = "eps.consent.capacity-assessed.v1"
    topic: ClassVar[topics.Topic] = topics.CONSENT
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")
    scope: ConsentScope = Field(description="The decision the assessment is about.")
    has_capacity: bool = Field(description="The young person can make this decision.")
    assessed_on: date = Field(description="Date of the assessment (Europe/London).")


class ConsentCaseClosed(Event):
    """The consent case closed: its referral was closed, declined or redirected.

    A closed case takes no new grants or capacity assessments and no longer expires by time; a
    refusal or withdrawal is still recorded and published (consent can be withdrawn at any
    time, e.g. of information sharing after casework).
    """

    event_type: ClassVar[str] = "eps.consent.case-closed.v1"
    topic: ClassVar[topics.Topic] = topics.CONSENT
    key_field: ClassVar[str] = "referral_id"

    referral_id: uuid.UUID = Field(description="The referral.")
    closed_on: date = Field(description="Date the referral's work finished (Europe/London).")
    reason: str = Field(
        min_length=1, max_length=500, description="Why: the referral's outcome (e.g. closed)."
    )
