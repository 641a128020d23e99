"""Events of the critical-incident bounded context.

The fast track: incidents asks scheduling for EPs on a dedicated topic that only the fast-track
consumer reads, so no backlog of routine events can delay it; scheduling answers on its own
dedicated topic.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from eps_contracts.base import Event
from eps_contracts.common import SchoolUrn
from eps_contracts.topics import Topic

FAST_TRACK_REQUESTS = Topic(
    "eps.incidents.fast-track-requests.v1",
    "High-priority requests for EPs for a critical incident, keyed by incident id. Read only by"
    " scheduling's fast-track consumer.",
)


class FastTrackAllocationRequested(Event):
    """A critical incident needs EPs now; it takes precedence over routine appointments."""

    event_type: ClassVar[str] = "eps.incidents.fast-track-requested.v1"
    topic: ClassVar[Topic] = FAST_TRACK_REQUESTS
    key_field: ClassVar[str] = "incident_id"

    incident_id: uuid.UUID
    school_urn: SchoolUrn
    level: Literal[1, 2, 3] = Field(description="1 telephone, 2 visit by 2+ EPs, 3 major.")
    eps_needed: int = Field(ge=1, le=20, description="How many EPs the level needs.")
    needed_by: AwareDatetime = Field(description="When the first contact or visit must start.")
    duration_minutes: int = Field(gt=0, le=12 * 60, description="Time to block in each diary.")
    senior_lead_required: bool = Field(description="Level 3: led by the principal or a senior EP.")
