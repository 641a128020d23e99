"""What the notifications service is asked to do, in the imperative (its events, past tense,
are the shared contracts in ``eps_contracts.notifications``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from eps_contracts.notifications import Purpose

from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.domain.model import (
    ContactDirectory,
    DeliveryStatus,
    RetryPolicy,
    School,
    SendOutcome,
)


@dataclass(frozen=True, slots=True)
class RecordIncident:
    facts: IncidentFacts


@dataclass(frozen=True, slots=True)
class Page:
    """Tell ``recipient`` (None: the LA's duty person, for a breach or an unassigned
    incident) about an incident event."""

    incident_id: uuid.UUID
    cause_event_id: uuid.UUID
    purpose: Purpose
    recipient: str | None
    reason: str | None = None  # why escalated, or why nobody could be assigned
    starts_at: datetime | None = None  # an allocated EP: when to be there
    clock: str | None = None  # a breach: which response target
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StopChain:
    """The incident was acknowledged: pages asking for an acknowledgement are moot."""

    incident_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ClaimForSending:
    notification_id: uuid.UUID
    in_doubt_after: timedelta


@dataclass(frozen=True, slots=True)
class RecordSendOutcome:
    notification_id: uuid.UUID
    outcome: SendOutcome
    retry: RetryPolicy


@dataclass(frozen=True, slots=True)
class RecordDeliveryStatus:
    notification_id: uuid.UUID
    status: DeliveryStatus
    retry: RetryPolicy


@dataclass(frozen=True, slots=True)
class SetContacts:
    directory: ContactDirectory


@dataclass(frozen=True, slots=True)
class SetSchools:
    schools: tuple[School, ...]
