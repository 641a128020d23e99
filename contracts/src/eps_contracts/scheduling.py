"""Events of the scheduling bounded context: named EPs, appointments and delivered time.

Other contexts depend on these: referrals routes by ``NamedEpAssigned``; billing prices
``DeliveredTime*``; statutory advice books through ``AppointmentBookingRequested`` and follows
``Appointment*``.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from eps_contracts.base import ContractModel, Event
from eps_contracts.common import PersonId, SchoolUrn
from eps_contracts.topics import Topic

SCHOOLS = Topic(
    "eps.scheduling.school.v1",
    "Schools' named EPs and allocations, keyed by school URN.",
)
APPOINTMENTS = Topic(
    "eps.scheduling.appointment.v1",
    "Appointments booked, moved, cancelled and completed, keyed by appointment id.",
)
BOOKING_REQUESTS = Topic(
    "eps.scheduling.booking-requests.v1",
    "Requests from other services for EP time to be booked, keyed by case reference.",
)
DELIVERED_TIME = Topic(
    "eps.scheduling.delivered-time.v1",
    "EP time actually delivered, with corrections and voids, keyed by delivery id.",
)


class FundingStream(StrEnum):
    CORE = "core"
    TRADED = "traded"
    STATUTORY = "statutory"
    CRITICAL_INCIDENT = "critical_incident"


class AppointmentKind(StrEnum):
    CONSULTATION = "consultation"
    ASSESSMENT_VISIT = "assessment_visit"
    PARENT_MEETING = "parent_meeting"
    PLANNING_MEETING = "planning_meeting"
    TRAINING = "training"
    STATUTORY_ASSESSMENT_VISIT = "statutory_assessment_visit"
    CRITICAL_INCIDENT_RESPONSE = "critical_incident_response"


class NamedEpAssigned(Event):
    """A school's named EP (every school has exactly one; this replaces the previous one)."""

    event_type: ClassVar[str] = "eps.scheduling.named-ep-assigned.v1"
    topic: ClassVar[Topic] = SCHOOLS
    key_field: ClassVar[str] = "school_urn"

    school_urn: SchoolUrn
    ep_id: PersonId = Field(description="The named EP.")
    effective_from: date = Field(description="First day the EP is the school's named EP.")


class PlanningMeetingNotPlaced(Event):
    """A term's planning meeting found no slot in the named EP's diary within the LA's window.

    Told once per school, year and term; scheduling keeps looking (hourly) and publishes
    ``AppointmentBooked`` when a slot frees up, so the principal EP can act meanwhile.
    """

    event_type: ClassVar[str] = "eps.scheduling.planning-meeting-not-placed.v1"
    topic: ClassVar[Topic] = SCHOOLS
    key_field: ClassVar[str] = "school_urn"

    school_urn: SchoolUrn
    academic_year: int = Field(ge=2000, le=2100, description="Year the school year starts in.")
    term: str = Field(pattern=r"^(autumn|spring)$", description="'autumn' or 'spring'.")
    ep_id: PersonId = Field(description="The named EP whose diary had no room.")
    window_start: date = Field(description="First day of the term's planning window (London).")
    window_end: date = Field(description="Last day of the term's planning window (London).")


class AppointmentBookingRequested(Event):
    """Another service asks scheduling to book EP time (e.g. a statutory assessment visit)."""

    event_type: ClassVar[str] = "eps.scheduling.booking-requested.v1"
    topic: ClassVar[Topic] = BOOKING_REQUESTS
    key_field: ClassVar[str] = "case_ref"

    request_id: uuid.UUID = Field(description="Idempotency key of the request.")
    case_ref: str = Field(
        min_length=1, max_length=100, description="'referral:<id>' or 'advice:<id>'."
    )
    kind: AppointmentKind
    school_urn: SchoolUrn | None = Field(None, description="Where, if at a school.")
    child_id: uuid.UUID | None = Field(None, description="Child, for consent checks.")
    referral_id: uuid.UUID | None = Field(None, description="Referral, for consent checks.")
    ep_id: PersonId | None = Field(None, description="A specific EP, if the requester chose.")
    duration_minutes: int = Field(gt=0, le=8 * 60, description="Length of the appointment.")
    earliest: AwareDatetime = Field(description="Not before.")
    latest: AwareDatetime = Field(description="Not after (the deadline the requester needs).")
    funding_stream: FundingStream
    advice_id: uuid.UUID | None = Field(
        None,
        description="The statutory advice request this booking serves. Its lawful basis is the"
        " LA's request for advice under the SEND Regulations 2014 (reg 6(1)(d), 8), not casework"
        " consent: scheduling books it without a consent record, and cancels it when the advice"
        " request is withdrawn or the advice submitted.",
    )


class AppointmentBooked(Event):
    """An appointment is in an EP's diary."""

    event_type: ClassVar[str] = "eps.scheduling.appointment-booked.v1"
    topic: ClassVar[Topic] = APPOINTMENTS
    key_field: ClassVar[str] = "appointment_id"

    appointment_id: uuid.UUID
    request_id: uuid.UUID | None = Field(None, description="Booking request it answers, if any.")
    case_ref: str | None = Field(None, description="'referral:<id>' or 'advice:<id>'.")
    kind: AppointmentKind
    ep_id: PersonId
    school_urn: SchoolUrn | None = None
    referral_id: uuid.UUID | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    funding_stream: FundingStream
    advice_id: uuid.UUID | None = Field(
        None, description="The statutory advice request it serves (its lawful basis), if any."
    )


class AppointmentBookingFailed(Event):
    """A booking request could not be met (no EP free in the window, no consent, ...)."""

    event_type: ClassVar[str] = "eps.scheduling.booking-failed.v1"
    topic: ClassVar[Topic] = APPOINTMENTS
    key_field: ClassVar[str] = "request_id"

    request_id: uuid.UUID
    case_ref: str
    reason: str = Field(max_length=500)


class CancellationParty(StrEnum):
    """Who called an appointment off."""

    SCHOOL = "school"
    """The school (or the family through it) asked for the cancellation."""
    SERVICE = "service"
    """The EPS called it off: displaced by a critical incident, consent no longer valid, the EP
    unavailable. A school is never charged for these."""


class AppointmentCancelled(Event):
    """An appointment is cancelled (consent withdrawn, displaced by a critical incident, ...).

    The appointment's school, funding stream and times, and when and by whom it was cancelled,
    let billing charge a late cancellation of traded time by the authority's tariff. They are
    optional only because producers before them did not send them; scheduling always does now.
    """

    event_type: ClassVar[str] = "eps.scheduling.appointment-cancelled.v1"
    topic: ClassVar[Topic] = APPOINTMENTS
    key_field: ClassVar[str] = "appointment_id"

    appointment_id: uuid.UUID
    case_ref: str | None = None
    reason: str = Field(max_length=500)
    school_urn: SchoolUrn | None = Field(
        None, description="School the appointment was for (None: not at or for a school)."
    )
    funding_stream: FundingStream | None = Field(
        None, description="How the appointment was funded (None: not sent by older producers)."
    )
    starts_at: AwareDatetime | None = Field(
        None, description="When the cancelled appointment was to start (its latest time)."
    )
    ends_at: AwareDatetime | None = Field(
        None, description="When the cancelled appointment was to end."
    )
    cancelled_at: AwareDatetime | None = Field(
        None, description="When it was cancelled: the notice given is starts_at - cancelled_at."
    )
    cancelled_by: CancellationParty | None = Field(
        None,
        description="Who called it off, where scheduling knows (None: not stated). A"
        " cancellation by the service is never charged to the school.",
    )


class AppointmentRescheduled(Event):
    """An appointment moved to another time (and perhaps another EP)."""

    event_type: ClassVar[str] = "eps.scheduling.appointment-rescheduled.v1"
    topic: ClassVar[Topic] = APPOINTMENTS
    key_field: ClassVar[str] = "appointment_id"

    appointment_id: uuid.UUID
    case_ref: str | None = None
    ep_id: PersonId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(max_length=500)


class AppointmentCompleted(Event):
    """An appointment took place."""

    event_type: ClassVar[str] = "eps.scheduling.appointment-completed.v1"
    topic: ClassVar[Topic] = APPOINTMENTS
    key_field: ClassVar[str] = "appointment_id"

    appointment_id: uuid.UUID
    case_ref: str | None = None
    completed_at: AwareDatetime


class DeliveredTimeRecorded(Event):
    """EP time actually delivered. Billing prices each delivery exactly once.

    Time is in whole minutes so that sums are exact; ``delivered_on`` is the Europe/London date.
    """

    event_type: ClassVar[str] = "eps.scheduling.delivered-time-recorded.v1"
    topic: ClassVar[Topic] = DELIVERED_TIME
    key_field: ClassVar[str] = "delivery_id"

    delivery_id: uuid.UUID = Field(description="Id of this delivery; corrections refer to it.")
    appointment_id: uuid.UUID | None = None
    school_urn: SchoolUrn
    referral_id: uuid.UUID | None = None
    ep_id: PersonId
    activity: AppointmentKind
    minutes: int = Field(gt=0, le=24 * 60, description="Time delivered, in minutes.")
    delivered_on: date = Field(description="Date delivered (Europe/London).")
    funding_stream: FundingStream


class DeliveredTimeCorrected(Event):
    """A delivery's minutes or funding stream were wrong; this states the corrected values."""

    event_type: ClassVar[str] = "eps.scheduling.delivered-time-corrected.v1"
    topic: ClassVar[Topic] = DELIVERED_TIME
    key_field: ClassVar[str] = "delivery_id"

    delivery_id: uuid.UUID
    correction_id: uuid.UUID = Field(description="Id of this correction.")
    minutes: int = Field(gt=0, le=24 * 60, description="Corrected minutes.")
    funding_stream: FundingStream
    reason: str = Field(max_length=500)


class DeliveredTimeVoided(Event):
    """A delivery should never have been recorded."""

    event_type: ClassVar[str] = "eps.scheduling.delivered-time-voided.v1"
    topic: ClassVar[Topic] = DELIVERED_TIME
    key_field: ClassVar[str] = "delivery_id"

    delivery_id: uuid.UUID
    reason: str = Field(max_length=500)


FAST_TRACK_ALLOCATIONS = Topic(
    "eps.scheduling.fast-track-allocations.v1",
    "Scheduling's answers to critical-incident fast-track requests, keyed by incident id.",
    priority=True,
)


class AllocatedEp(ContractModel):
    """One EP going to a critical incident."""

    ep_id: PersonId
    appointment_id: uuid.UUID
    starts_at: AwareDatetime
    is_named_ep: bool = Field(description="The school's own named EP.")
    displaced_appointment_ids: tuple[uuid.UUID, ...] = Field(
        (), description="Routine appointments moved to make room."
    )


class FastTrackEpsAllocated(Event):
    """EPs allocated to a critical incident (possibly fewer than asked: see ``shortfall``)."""

    event_type: ClassVar[str] = "eps.scheduling.fast-track-allocated.v1"
    topic: ClassVar[Topic] = FAST_TRACK_ALLOCATIONS
    key_field: ClassVar[str] = "incident_id"

    incident_id: uuid.UUID
    eps: tuple[AllocatedEp, ...]
    shortfall: int = Field(ge=0, description="EPs asked for but not found in time.")
    reason: str | None = Field(
        None,
        max_length=500,
        description="Why EPs are short (None when none are): e.g. too few free in time, no"
        " senior lead, or a school scheduling does not know. The coordinator must arrange"
        " the rest by hand.",
    )
    attempt: int = Field(
        1,
        ge=1,
        le=100,
        description="The request this answers (``FastTrackAllocationRequested.attempt``): a"
        " later attempt adds EPs to those of earlier ones.",
    )
