"""Events of the critical-incident bounded context.

The fast track: incidents asks scheduling for EPs on a dedicated topic that only the fast-track
consumer reads, so no backlog of routine events can delay it; scheduling answers on its own
dedicated topic.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from eps_contracts.base import ContractModel, Event
from eps_contracts.common import PersonId, SchoolUrn
from eps_contracts.sealed import UPSTREAM_PLAIN, personal_field
from eps_contracts.topics import Topic

FAST_TRACK_REQUESTS = Topic(
    "eps.incidents.fast-track-requests.v1",
    "High-priority requests for EPs for a critical incident, keyed by incident id. Read only by"
    " scheduling's fast-track consumer.",
    priority=True,
)


class FastTrackAllocationRequested(Event):
    """A critical incident needs EPs now; it takes precedence over routine appointments."""

    event_type: ClassVar[str] = "eps.incidents.fast-track-requested.v1"
    topic: ClassVar[Topic] = FAST_TRACK_REQUESTS
    key_field: ClassVar[str] = "incident_id"

    incident_id: uuid.UUID
    school_urn: SchoolUrn
    level: Literal[1, 2, 3] = Field(description="1 telephone, 2 visit by 2+ EPs, 3 major.")
    eps_needed: int = Field(
        ge=1,
        le=20,
        description="How many EPs to allocate: what the level needs, or on a later attempt"
        " those still missing.",
    )
    needed_by: AwareDatetime = Field(description="When the first contact or visit must start.")
    duration_minutes: int = Field(gt=0, le=12 * 60, description="Time to block in each diary.")
    senior_lead_required: bool = Field(description="Level 3: led by the principal or a senior EP.")
    attempt: int = Field(
        1,
        ge=1,
        le=100,
        description="Which request for this incident this is: 1 when it is reported, then one"
        " more each time the coordinator asks again for EPs still missing. Scheduling answers"
        " each attempt once (the same attempt again gets the same answer).",
    )
    exclude_ep_ids: tuple[PersonId, ...] = Field(
        (),
        max_length=50,
        description="EPs already going to the incident: not to be allocated again.",
    )


# --- reports from upstream local authority systems ------------------------------------------

UPSTREAM_INCIDENT_REPORTS = Topic(
    "eps.upstream.incident-reports.v1",
    "Critical incidents reported by upstream local authority systems (e.g. the out-of-hours"
    " contact centre), keyed by the upstream report id.",
)


class IncidentKind(StrEnum):
    SUDDEN_DEATH_OF_PUPIL = "sudden_death_of_pupil"
    SUDDEN_DEATH_OF_STAFF = "sudden_death_of_staff"
    SUICIDE = "suicide"
    SERIOUS_ACCIDENT = "serious_accident"
    FIRE = "fire"
    VIOLENCE_OR_ASSAULT = "violence_or_assault"
    COMMUNITY_OR_TERROR_EVENT = "community_or_terror_event"
    OTHER = "other"


IncidentLevel = Annotated[
    Literal[1, 2, 3],
    Field(description="1 telephone consultation, 2 visit by 2+ EPs, 3 major (multi-agency)."),
]


class IncidentReport(ContractModel):
    """What someone reports about a critical incident (an upstream event or an HTTP call)."""

    report_id: uuid.UUID = Field(description="The reporter's id for this report (idempotency).")
    school_urn: SchoolUrn
    kind: IncidentKind = Field(description="What happened.")
    occurred_at: AwareDatetime = Field(description="When it happened (best known).")
    reported_by: str = personal_field(
        reason=UPSTREAM_PLAIN + "the coordinator calls them back; kept by incidents alone",
        min_length=1,
        max_length=200,
        description="Who reported it (name and role at the school).",
    )
    pupils_affected: int = Field(ge=0, le=10_000, description="Pupils directly affected.")
    staff_affected: int = Field(ge=0, le=2_000, description="Staff directly affected.")
    level: IncidentLevel
    description: str | None = Field(
        None, max_length=2000, description="Short account; kept in the incident service only."
    )


class IncidentReportSubmitted(IncidentReport, Event):
    """An upstream local authority system passed on a report of a critical incident."""

    event_type: ClassVar[str] = "eps.upstream.incident-report-submitted.v1"
    topic: ClassVar[Topic] = UPSTREAM_INCIDENT_REPORTS
    key_field: ClassVar[str] = "report_id"


# --- the incident's own lifecycle -------------------------------------------------------------

INCIDENTS = Topic(
    "eps.incidents.incident.v1",
    "Lifecycle of each critical incident (report to closure, escalations, breaches), keyed by"
    " incident id.",
)
ON_CALL_ROTA = Topic(
    "eps.incidents.on-call-rota.v1",
    "Warnings about the coordinators' on-call rota (gaps before they happen), keyed by tenant.",
)


class ResponseClock(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ALLOCATE = "allocate"
    FIRST_CONTACT = "first_contact"
    FIRST_VISIT = "first_visit"


class _IncidentEvent(Event):
    """What every incident lifecycle event has in common (not an event type of its own)."""

    topic: ClassVar[Topic] = INCIDENTS
    key_field: ClassVar[str] = "incident_id"

    incident_id: uuid.UUID
    at: AwareDatetime = Field(description="When it happened.")


class ClockDue(ContractModel):
    """When one of an incident's response clocks is due."""

    clock: ResponseClock
    due_at: AwareDatetime


class IncidentReported(_IncidentEvent):
    """A critical incident was reported and handed to the coordinator on call."""

    event_type: ClassVar[str] = "eps.incidents.incident-reported.v1"

    school_urn: SchoolUrn
    kind: IncidentKind
    level: IncidentLevel
    occurred_at: AwareDatetime
    pupils_affected: int = Field(ge=0)
    staff_affected: int = Field(ge=0)
    assigned_to: PersonId | None = Field(
        description="Who must acknowledge it first (None: nobody on call, no principal EP set)."
    )
    due: tuple[ClockDue, ...] = Field(
        (),
        max_length=4,
        description="When each response clock is due, by the local authority's targets when it"
        " was reported (they keep those targets); empty from producers older than this field.",
    )


class IncidentAcknowledged(_IncidentEvent):
    """Someone on the escalation chain took charge of the incident."""

    event_type: ClassVar[str] = "eps.incidents.incident-acknowledged.v1"

    acknowledged_by: PersonId


class IncidentEscalated(_IncidentEvent):
    """Nobody acknowledged in time (or nobody was on call): the next person must act."""

    event_type: ClassVar[str] = "eps.incidents.incident-escalated.v1"

    from_person: PersonId | None = Field(description="Who failed to acknowledge (None: nobody).")
    to_person: PersonId
    reason: str = Field(max_length=200)


class IncidentLeftUnassigned(_IncidentEvent):
    """Nobody could be given the incident: no coordinator on call and no principal EP set.

    The LA's out-of-hours service must find someone; the incident is otherwise handled as usual
    (EPs are still asked for at once) and anyone with a coordinator role may acknowledge it."""

    event_type: ClassVar[str] = "eps.incidents.incident-left-unassigned.v1"

    reason: str = Field(max_length=200, description="Why nobody could be assigned.")
    principal_ep_id: PersonId | None = Field(
        None,
        description="The local authority's principal EP, who is told (None: none configured,"
        " as when nobody is on call and no principal EP is set).",
    )


class EpGoing(ContractModel):
    """One EP going to the incident and when their response starts."""

    ep_id: PersonId
    starts_at: AwareDatetime = Field(description="When the EP is due (scheduling's booking).")


class IncidentEpsAllocated(_IncidentEvent):
    """Scheduling's allocation of EPs was recorded on the incident."""

    event_type: ClassVar[str] = "eps.incidents.incident-eps-allocated.v1"

    ep_ids: tuple[PersonId, ...] = Field(
        description="Every EP now going to the incident (from all of scheduling's answers)."
    )
    eps_going: tuple[EpGoing, ...] = Field(
        (),
        max_length=50,
        description="The same EPs with when each is due, so each can be told when to go"
        " (empty from producers older than this field).",
    )
    shortfall: int = Field(ge=0, description="EPs the level needs that are still missing.")
    shortfall_reason: str | None = Field(
        None, max_length=500, description="Scheduling's reason for the shortfall, if any."
    )


class IncidentFirstContactMade(_IncidentEvent):
    """An EP (or, with no EP allocated, the coordinator) first spoke with the school's leaders."""

    event_type: ClassVar[str] = "eps.incidents.first-contact-made.v1"

    made_by: PersonId | None = Field(
        None,
        description="Who made the contact: an allocated EP, or the coordinator when no EP was"
        " allocated (None: not recorded).",
    )


class IncidentVisitRecorded(_IncidentEvent):
    """An EP visit to the school took place."""

    event_type: ClassVar[str] = "eps.incidents.visit-recorded.v1"

    ep_ids: tuple[PersonId, ...]


class IncidentFollowUpPlanned(_IncidentEvent):
    """Follow-up support for the school was agreed."""

    event_type: ClassVar[str] = "eps.incidents.follow-up-planned.v1"

    review_on: date = Field(description="Date of the follow-up review (Europe/London).")


class IncidentClosed(_IncidentEvent):
    """The response is over; the summary stays in the incident service."""

    event_type: ClassVar[str] = "eps.incidents.incident-closed.v1"


class IncidentResponseTargetBreached(_IncidentEvent):
    """A response clock passed its target for the incident's level."""

    event_type: ClassVar[str] = "eps.incidents.response-target-breached.v1"

    clock: ResponseClock
    due_at: AwareDatetime
    principal_ep_id: PersonId | None = Field(
        None,
        description="The local authority's principal EP, who is told of the breach (None: none"
        " configured, or a producer older than this field).",
    )


class OnCallRotaGapFound(Event):
    """Nobody is on call for a coming period: a coordinator must be found before it starts."""

    event_type: ClassVar[str] = "eps.incidents.on-call-rota-gap-found.v1"
    topic: ClassVar[Topic] = ON_CALL_ROTA
    key_field: ClassVar[str] = "tenant"

    tenant: str = Field(min_length=1, max_length=63, description="The local authority.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
