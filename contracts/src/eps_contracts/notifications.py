"""Events of paging: what was sent to whom about a critical incident, and what became of it.

Notifications reads the incident lifecycle and tells people by SMS and email. Each notification
is one message to one person on one channel about one incident event; its events say it was
sent, delivered, failed (temporarily: it will be retried; or permanently) or withdrawn (the
incident was acknowledged before it could be sent).

Personal data: a notification names its recipient by person id only (never a phone number or an
address). Its ``text`` is the message as sent: it is built only from the incident's events,
which carry no child's name or other personal data about a child (the school, the level, the
kind of incident, counts, times), so it may travel; the recipient's contact details stay in the
notifications service.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from eps_contracts.base import Event
from eps_contracts.common import PersonId
from eps_contracts.topics import Topic

NOTIFICATIONS = Topic(
    "eps.notifications.notification.v1",
    "Pages and messages about critical incidents: sent, delivered, failed or withdrawn, keyed by"
    " notification id.",
)


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Provider(StrEnum):
    GOVUK_NOTIFY = "govuk_notify"
    SMTP = "smtp"


class Purpose(StrEnum):
    """Why the person was told."""

    INCIDENT_REPORTED = "incident_reported"  # the first on the chain must acknowledge
    INCIDENT_ESCALATED = "incident_escalated"  # the next on the chain must acknowledge
    EPS_ALLOCATED = "eps_allocated"  # an EP is going: where and when
    TARGET_BREACHED = "target_breached"  # the principal EP: a response target was missed
    LEFT_UNASSIGNED = "left_unassigned"  # nobody could be given the incident


class _NotificationEvent(Event):
    """What every notification event has in common (not an event type of its own)."""

    topic: ClassVar[Topic] = NOTIFICATIONS
    key_field: ClassVar[str] = "notification_id"

    notification_id: uuid.UUID = Field(
        description="This message (one event, one recipient, one channel); also the reference"
        " given to GOV.UK Notify."
    )
    incident_id: uuid.UUID
    recipient: PersonId = Field(description="Who it is for (a person id, never a contact).")
    channel: Channel
    provider: Provider = Field(description="Who carries it: GOV.UK Notify, or SMTP for email.")
    purpose: Purpose
    cause_event_id: uuid.UUID = Field(description="The incident event the message is about.")
    at: AwareDatetime = Field(description="When it happened.")


class NotificationSent(_NotificationEvent):
    """The provider accepted the message for delivery."""

    event_type: ClassVar[str] = "eps.notifications.notification-sent.v1"

    template_id: str | None = Field(
        None, max_length=100, description="The GOV.UK Notify template used (None: SMTP)."
    )
    text: str = Field(
        max_length=2000,
        description="The message as sent. Built from the incident's events only: no child's"
        " name or other personal data about a child.",
    )
    attempt: int = Field(ge=1, description="Which attempt was accepted (1: the first).")


class NotificationDelivered(_NotificationEvent):
    """The provider reports the message reached the phone or mailbox."""

    event_type: ClassVar[str] = "eps.notifications.notification-delivered.v1"


class NotificationFailed(_NotificationEvent):
    """Sending failed: temporarily (it will be tried again) or permanently (it will not)."""

    event_type: ClassVar[str] = "eps.notifications.notification-failed.v1"

    permanent: bool = Field(description="True: it will not be tried again.")
    reason: str = Field(max_length=500, description="What the provider said, or why not sent.")
    attempt: int = Field(ge=0, description="Attempts made so far (0: none could be made).")
    retry_at: AwareDatetime | None = Field(
        None, description="When it will be tried again (temporary failures only)."
    )
    person_unreached: bool = Field(
        False,
        description="Every channel of this message to this person was tried and failed"
        " permanently: the person could not be told (the escalation chain should move on)."
        " False for a person with no contact details: nothing was tried.",
    )


class NotificationWithdrawn(_NotificationEvent):
    """A message not yet sent (or waiting to be retried) will not be: it is no longer needed."""

    event_type: ClassVar[str] = "eps.notifications.notification-withdrawn.v1"

    reason: str = Field(max_length=200, description="e.g. the incident was acknowledged.")
