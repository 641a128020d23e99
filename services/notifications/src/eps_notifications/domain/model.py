"""Paging as a pure model: who is told what, on which channel, and what became of it.

A :class:`Notification` is one message to one person on one channel about one incident event.
It is recorded before it is sent (the intent), claimed for each attempt, and then sent,
delivered, failed (temporarily: tried again later, with a growing wait; or for good) or
withdrawn (the incident was acknowledged before it went). It records the contract events of
what happened to it; the unit of work publishes them.

Who is reachable how is the local authority's :class:`ContactDirectory`: a person with no
contact details cannot be paged, and that is recorded as a permanent failure (visible, and the
escalation chain moves on), never dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from eps_chassis.errors import Conflict
from eps_contracts import Event
from eps_contracts.notifications import (
    Channel,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationWithdrawn,
    Provider,
    Purpose,
)

E = TypeVar("E", NotificationSent, NotificationDelivered, NotificationFailed, NotificationWithdrawn)

CHAIN_PURPOSES = frozenset({Purpose.INCIDENT_REPORTED, Purpose.INCIDENT_ESCALATED})
"""Pages that ask someone to acknowledge: an acknowledgement makes those not yet sent moot."""
ONCE_PER_INCIDENT = {
    Purpose.INCIDENT_REPORTED: CHAIN_PURPOSES,
    Purpose.INCIDENT_ESCALATED: CHAIN_PURPOSES,
    Purpose.EPS_ALLOCATED: frozenset({Purpose.EPS_ALLOCATED}),
}
"""What a person is told once per incident, whichever event tells them again: asked to
acknowledge (a report then an escalation to the same person), told they are going (each of
scheduling's answers lists every EP going)."""


class Status(StrEnum):
    PENDING = "pending"  # recorded, due to be sent (first attempt or a retry)
    SENDING = "sending"  # claimed for an attempt; no outcome recorded yet
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # the provider says it reached the phone or mailbox
    FAILED = "failed"  # for good
    WITHDRAWN = "withdrawn"  # no longer needed before it went


FINAL = frozenset({Status.DELIVERED, Status.FAILED, Status.WITHDRAWN})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a temporary failure is retried: ``first`` then doubling up to ``longest``, at most
    ``max_attempts`` attempts in all."""

    first: timedelta
    longest: timedelta
    max_attempts: int

    def wait_after(self, attempts: int) -> timedelta | None:
        """The wait before the next attempt after ``attempts`` failed ones (None: give up)."""
        if attempts >= self.max_attempts:
            return None
        return min(self.first * (2 ** max(attempts - 1, 0)), self.longest)


@dataclass(frozen=True, slots=True)
class Contact:
    """How a person is reached: a mobile for SMS, an email address, and which carrier takes
    their email (GOV.UK Notify, or the LA's SMTP relay)."""

    person_id: str
    mobile: str | None = None
    email: str | None = None
    email_via: Provider = Provider.GOVUK_NOTIFY

    def channels(self) -> list[tuple[Channel, Provider, str]]:
        found: list[tuple[Channel, Provider, str]] = []
        if self.mobile:
            found.append((Channel.SMS, Provider.GOVUK_NOTIFY, self.mobile))
        if self.email:
            found.append((Channel.EMAIL, self.email_via, self.email))
        return found


@dataclass(frozen=True, slots=True)
class ContactDirectory:
    """The LA's contacts, and who is told when no principal EP is known (its duty person)."""

    contacts: tuple[Contact, ...] = ()
    duty_person_id: str | None = None

    def for_person(self, person_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.person_id == person_id), None)


@dataclass(frozen=True, slots=True)
class School:
    """A school as the LA names it to the people it sends there."""

    school_urn: str
    name: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What is said: the SMS text (also the email body) and the email's subject."""

    subject: str
    text: str


@dataclass
class Notification:
    notification_id: uuid.UUID
    incident_id: uuid.UUID
    recipient: str
    channel: Channel
    provider: Provider
    purpose: Purpose
    cause_event_id: uuid.UUID
    destination: str  # the phone number or address: kept here, never published
    message: Message
    created_at: datetime
    status: Status = Status.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    provider_id: str | None = None  # Notify's id of the message it accepted
    template_id: str | None = None
    last_error: str | None = None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def new(
        cls,
        *,
        incident_id: uuid.UUID,
        recipient: str,
        channel: Channel,
        provider: Provider,
        purpose: Purpose,
        cause_event_id: uuid.UUID,
        destination: str,
        message: Message,
        now: datetime,
    ) -> Notification:
        return cls(
            notification_id=uuid.uuid4(),
            incident_id=incident_id,
            recipient=recipient,
            channel=channel,
            provider=provider,
            purpose=purpose,
            cause_event_id=cause_event_id,
            destination=destination,
            message=message,
            created_at=now,
            next_attempt_at=now,
        )

    @classmethod
    def unreachable(
        cls,
        *,
        incident_id: uuid.UUID,
        recipient: str,
        purpose: Purpose,
        cause_event_id: uuid.UUID,
        message: Message,
        now: datetime,
        reason: str,
    ) -> Notification:
        """A page for someone the LA has no contact details for: failed at once, for good, and
        shown as such. The chain is not moved on for it: the person may be watching the
        console, so the level's timeout applies (a provider refusing every channel moves it
        on at once: the person was tried and could not be told)."""
        notification = cls.new(
            incident_id=incident_id,
            recipient=recipient,
            channel=Channel.SMS,
            provider=Provider.GOVUK_NOTIFY,
            purpose=purpose,
            cause_event_id=cause_event_id,
            destination="",
            message=message,
            now=now,
        )
        notification._fail(now, reason, permanent=True, person_unreached=False)
        return notification

    # --- sending ---------------------------------------------------------------------------

    def is_due(self, now: datetime, in_doubt_after: timedelta) -> bool:
        if self.status == Status.PENDING:
            return self.next_attempt_at is None or self.next_attempt_at <= now
        return (
            self.status == Status.SENDING
            and self.claimed_at is not None
            and now - self.claimed_at >= in_doubt_after
        )

    def claim(self, now: datetime) -> bool:
        """Record the intent to send (an attempt) before sending. Gives whether an earlier
        attempt is in doubt (claimed, no outcome recorded): it may have gone, so the provider
        is asked by reference before sending again."""
        if self.status not in (Status.PENDING, Status.SENDING):
            raise Conflict(f"cannot send: the notification is {self.status.value}")
        in_doubt = self.status == Status.SENDING
        if not in_doubt:
            self.attempts += 1
        self.status, self.claimed_at = Status.SENDING, now
        return in_doubt

    def accepted(self, now: datetime, provider_id: str | None, template_id: str | None) -> None:
        """The provider took it (the attempt's outcome)."""
        self._require(Status.SENDING, action="record it as sent")
        self.status, self.provider_id, self.template_id = Status.SENT, provider_id, template_id
        self.last_error = None
        self.events.append(
            self._event(
                NotificationSent,
                now,
                template_id=template_id,
                text=self.message.text,
                attempt=self.attempts,
            )
        )

    def delivered(self, now: datetime) -> None:
        if self.status == Status.DELIVERED:
            return
        self._require(Status.SENT, action="record it as delivered")
        self.status = Status.DELIVERED
        self.events.append(self._event(NotificationDelivered, now))

    def failed_temporarily(
        self, now: datetime, reason: str, retry: RetryPolicy, *, siblings_unreached: bool
    ) -> None:
        """A transient failure (the provider busy or away, a message it could not deliver yet):
        tried again after the policy's wait, or failed for good once attempts run out."""
        self._require(Status.SENDING, Status.SENT, action="record a failure")
        wait = retry.wait_after(self.attempts)
        if wait is None:
            self._fail(
                now,
                f"gave up after {self.attempts} attempts: {reason}",
                permanent=True,
                person_unreached=siblings_unreached,
            )
            return
        self.status, self.next_attempt_at, self.last_error = Status.PENDING, now + wait, reason
        self.events.append(
            self._event(
                NotificationFailed,
                now,
                permanent=False,
                reason=reason[:500],
                attempt=self.attempts,
                retry_at=self.next_attempt_at,
            )
        )

    def failed_permanently(self, now: datetime, reason: str, *, siblings_unreached: bool) -> None:
        self._require(Status.SENDING, Status.SENT, action="record a failure")
        self._fail(now, reason, permanent=True, person_unreached=siblings_unreached)

    def withdraw(self, now: datetime, reason: str) -> bool:
        """Not to be sent after all (waiting for its first attempt or a retry)."""
        if self.status != Status.PENDING:
            return False
        self.status, self.last_error = Status.WITHDRAWN, reason
        self.events.append(self._event(NotificationWithdrawn, now, reason=reason[:200]))
        return True

    # --- helpers ---------------------------------------------------------------------------

    def _fail(self, now: datetime, reason: str, *, permanent: bool, person_unreached: bool) -> None:
        self.status, self.last_error, self.next_attempt_at = Status.FAILED, reason, None
        self.events.append(
            self._event(
                NotificationFailed,
                now,
                permanent=permanent,
                reason=reason[:500],
                attempt=self.attempts,
                person_unreached=person_unreached,
            )
        )

    def _event(self, kind: type[E], now: datetime, **specific: Any) -> E:
        return kind(
            notification_id=self.notification_id,
            incident_id=self.incident_id,
            recipient=self.recipient,
            channel=self.channel,
            provider=self.provider,
            purpose=self.purpose,
            cause_event_id=self.cause_event_id,
            at=now,
            **specific,
        )

    def _require(self, *allowed: Status, action: str) -> None:
        if self.status not in allowed:
            raise Conflict(f"cannot {action}: the notification is {self.status.value}")


# --- what the far end said ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took the message (``provider_id``: its id, for status look-ups)."""

    provider_id: str | None
    template_id: str | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """The provider reports the message reached the phone or mailbox."""


@dataclass(frozen=True, slots=True)
class OnItsWay:
    """The provider has not finished with it yet: ask again later."""


@dataclass(frozen=True, slots=True)
class TemporaryFailure:
    """Worth trying again (the provider busy or away, a phone switched off)."""

    reason: str


@dataclass(frozen=True, slots=True)
class PermanentFailure:
    """Not worth trying again (a number that does not exist, a refused request)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SendOrder:
    """One attempt to hand over, as the sender needs it."""

    notification_id: str
    channel: Channel
    provider: Provider
    destination: str
    message: Message
    in_doubt: bool  # an earlier attempt may have gone: look it up before sending again


SendOutcome = Accepted | TemporaryFailure | PermanentFailure
DeliveryStatus = Delivered | OnItsWay | TemporaryFailure | PermanentFailure
