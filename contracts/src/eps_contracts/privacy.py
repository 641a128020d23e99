"""Events of data protection (the privacy service): subject access requests, erasure of a child's
records when their retention ends, and rectification of a child's details.

- ``subject-access`` (keyed by request id): a request opened, extended, due soon, answered.
  They name the child by its pseudonymous id only.
- ``child-records`` (keyed by child id): orders every service holding a child's records acts on
  (erase them; correct the child's details). One child's orders stay in order.
- ``erasure-confirmations`` (keyed by erasure id): each service's answer to an erasure order.
  The one topic of the platform with many producers: it is the reply channel of the privacy
  service's orders, and every service that holds children's records publishes its own
  confirmation on it (``service`` names which).

Personal data: an order names the child by id; a rectification carries the corrected details
its holders need, sealed for the child (``eps_contracts.sealed``), nothing else.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from eps_contracts.base import ContractModel, Event
from eps_contracts.sealed import Sealed, sealed_field
from eps_contracts.topics import Topic

SUBJECT_ACCESS = Topic(
    "eps.privacy.subject-access.v1",
    "Subject access requests about a child: opened, extended, due soon, answered; keyed by"
    " request id.",
)
CHILD_RECORDS = Topic(
    "eps.privacy.child-records.v1",
    "Orders about one child's records that every service holding them acts on (erase,"
    " rectify), keyed by child id.",
)
ERASURE_CONFIRMATIONS = Topic(
    "eps.privacy.erasure-confirmations.v1",
    "Each service's confirmation that it erased a child's records (every holder publishes"
    " here), keyed by erasure id.",
)


class _SubjectAccessEvent(Event):
    topic: ClassVar[Topic] = SUBJECT_ACCESS
    key_field: ClassVar[str] = "request_id"

    request_id: uuid.UUID = Field(description="The subject access request.")
    child_id: uuid.UUID = Field(description="Pseudonymous id of the child it is about.")
    due_on: date = Field(description="When the answer is due (Europe/London).")


class SubjectAccessRequestOpened(_SubjectAccessEvent):
    """A principal EP or the LA's data-protection officer opened a subject access request."""

    event_type: ClassVar[str] = "eps.privacy.subject-access-request-opened.v1"

    received_on: date = Field(description="The day it was received (Europe/London).")
    opened_by: str = Field(min_length=1, max_length=200, description="Who opened it (actor).")


class SubjectAccessRequestExtended(_SubjectAccessEvent):
    """A complex request's deadline was extended (by up to two further months)."""

    event_type: ClassVar[str] = "eps.privacy.subject-access-request-extended.v1"

    reason: str = Field(min_length=1, max_length=1000, description="Why it is complex.")
    extended_by: str = Field(min_length=1, max_length=200)


class SubjectAccessRequestDueSoon(_SubjectAccessEvent):
    """A reminder: an unanswered request is due within the LA's reminder period."""

    event_type: ClassVar[str] = "eps.privacy.subject-access-request-due-soon.v1"

    days_left: int = Field(ge=0, description="Calendar days until it is due.")


class SubjectAccessRequestAnswered(_SubjectAccessEvent):
    """The bundle was assembled and the request closed as answered."""

    event_type: ClassVar[str] = "eps.privacy.subject-access-request-answered.v1"

    answered_on: date
    records: int = Field(ge=0, description="How many records the bundle holds.")


class ErasureRule(StrEnum):
    """Why a child's records are erased."""

    RETENTION_ENDED = "retention_ended"  # the LA's schedule: e.g. date of birth + 25 years
    ERASURE_REQUEST = "erasure_request"  # a person exercised the right to erasure


class ChildErasureOrdered(Event):
    """Every service holding this child's records erases or anonymises them and confirms."""

    event_type: ClassVar[str] = "eps.privacy.child-erasure-ordered.v1"
    topic: ClassVar[Topic] = CHILD_RECORDS
    key_field: ClassVar[str] = "child_id"

    child_id: uuid.UUID = Field(description="Pseudonymous id of the child.")
    erasure_id: uuid.UUID = Field(description="This erasure; the confirmations name it.")
    rule: ErasureRule
    record_type: str = Field(
        min_length=1, max_length=60, description="The retention schedule's record type."
    )
    ordered_at: AwareDatetime


class RectifiedDetails(ContractModel):
    """A child's corrected details (sealed for the child): a field left out is unchanged."""

    given_name: str | None = Field(None, min_length=1, max_length=100)
    family_name: str | None = Field(None, min_length=1, max_length=100)
    date_of_birth: date | None = None
    reason: str = Field(min_length=1, max_length=1000, description="What was wrong.")


class ChildDetailsRectified(Event):
    """A child's details were corrected: every service holding them applies the new values."""

    event_type: ClassVar[str] = "eps.privacy.child-details-rectified.v1"
    topic: ClassVar[Topic] = CHILD_RECORDS
    key_field: ClassVar[str] = "child_id"

    child_id: uuid.UUID = Field(description="Pseudonymous id of the child.")
    rectification_id: uuid.UUID
    details: Sealed = sealed_field(
        RectifiedDetails,
        reason="each holder applies the correction where it keeps the child's details:"
        " referrals and statutory the name and date of birth, consent the date of birth (who"
        " decides depends on age), privacy the date of birth (retention counts from it)",
        description="The corrected details and why, sealed for the child.",
    )
    at: AwareDatetime


class ChildErasureConfirmed(Event):
    """One service erased (or anonymised) what it held about the child."""

    event_type: ClassVar[str] = "eps.privacy.child-erasure-confirmed.v1"
    topic: ClassVar[Topic] = ERASURE_CONFIRMATIONS
    key_field: ClassVar[str] = "erasure_id"

    erasure_id: uuid.UUID
    child_id: uuid.UUID
    service: str = Field(min_length=1, max_length=60, description="Which service confirms.")
    rows: int = Field(ge=0, description="Rows it erased or anonymised.")
    at: AwareDatetime
