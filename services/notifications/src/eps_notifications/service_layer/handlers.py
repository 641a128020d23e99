"""Service-layer handlers of the notifications service: each takes a command and the unit of
work, loads, asks the domain, and saves; the unit of work publishes what the notifications
recorded when it commits.

Sending is split in three so that a message is sent once where that can be known: the intent
is recorded (``page``, in the transaction that consumed the incident event), each attempt is
claimed in a transaction of its own (``claim_for_sending``) before anything leaves, and the
outcome is recorded afterwards (``record_send_outcome``). An attempt claimed whose outcome was
never recorded (the process stopped mid-send) is in doubt: the sender asks Notify by reference
before sending it again.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from eps_chassis.logging import get_logger
from eps_contracts.notifications import Purpose

from eps_notifications.domain import commands, messages
from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.domain.model import (
    CHAIN_PURPOSES,
    ONCE_PER_INCIDENT,
    Accepted,
    ContactDirectory,
    Delivered,
    Message,
    Notification,
    OnItsWay,
    PermanentFailure,
    RetryPolicy,
    School,
    SendOrder,
    TemporaryFailure,
)
from eps_notifications.service_layer.unit_of_work import NotificationsUnitOfWork

log = get_logger()

NO_CONTACT = "no contact details for this person: add them to the LA's contacts"
ACKNOWLEDGED = "the incident was acknowledged"


async def record_incident(cmd: commands.RecordIncident, uow: NotificationsUnitOfWork) -> None:
    await uow.incidents.record(cmd.facts)


def _message(cmd: commands.Page, facts: IncidentFacts) -> Message:
    match cmd.purpose:
        case Purpose.INCIDENT_REPORTED:
            return messages.reported(facts)
        case Purpose.INCIDENT_ESCALATED:
            return messages.escalated(facts, cmd.reason or "not acknowledged in time")
        case Purpose.EPS_ALLOCATED:
            return messages.allocated(facts, cmd.starts_at)
        case Purpose.TARGET_BREACHED:
            assert cmd.clock is not None and cmd.due_at is not None
            return messages.breached(facts, cmd.clock, cmd.due_at)
        case _:
            return messages.left_unassigned(facts, cmd.reason or "nobody on call")


async def page(cmd: commands.Page, uow: NotificationsUnitOfWork) -> list[Notification]:
    """Record a message to the person on each channel they have (the intent; the send job
    sends it). Once per event, person and channel; a person asked to acknowledge an incident
    is asked once (the same person reached again by an escalation is not paged twice), an EP
    is told once that they are going, and nobody is asked to acknowledge an incident already
    acknowledged."""
    facts = await uow.incidents.get(cmd.incident_id) or IncidentFacts(cmd.incident_id)
    if cmd.purpose in CHAIN_PURPOSES and facts.acknowledged:
        return []
    directory = await uow.contacts.directory()
    recipient = cmd.recipient or _duty(cmd, directory)
    if recipient is None:
        log.warning(
            "nobody to tell: no principal EP and no duty person in the LA's contacts",
            incident_id=str(cmd.incident_id),
            purpose=str(cmd.purpose),
        )
        return []
    told_already = ONCE_PER_INCIDENT.get(cmd.purpose)
    if told_already and await uow.notifications.already_paged(
        cmd.incident_id, recipient, told_already
    ):
        return []
    school = await uow.schools.get(facts.school_urn) if facts.school_urn else None
    if school is not None:
        facts = replace(facts, school_name=school.name, school_address=school.address)
    message, now = _message(cmd, facts), uow.clock()
    contact = directory.for_person(recipient)
    channels = contact.channels() if contact is not None else []
    if not channels:
        notes = [
            Notification.unreachable(
                incident_id=cmd.incident_id,
                recipient=recipient,
                purpose=cmd.purpose,
                cause_event_id=cmd.cause_event_id,
                message=message,
                now=now,
                reason=NO_CONTACT,
            )
        ]
    else:
        notes = [
            Notification.new(
                incident_id=cmd.incident_id,
                recipient=recipient,
                channel=channel,
                provider=provider,
                purpose=cmd.purpose,
                cause_event_id=cmd.cause_event_id,
                destination=destination,
                message=message,
                now=now,
            )
            for channel, provider, destination in channels
        ]
    return [n for n in notes if await uow.notifications.add(n)]


def _duty(cmd: commands.Page, directory: ContactDirectory) -> str | None:
    if cmd.purpose in (Purpose.TARGET_BREACHED, Purpose.LEFT_UNASSIGNED):
        return directory.duty_person_id
    return None


async def stop_chain(cmd: commands.StopChain, uow: NotificationsUnitOfWork) -> int:
    """The incident was acknowledged: withdraw the pages asking for it not yet sent."""
    await uow.incidents.acknowledge(cmd.incident_id)
    now, withdrawn = uow.clock(), 0
    for n in await uow.notifications.waiting(cmd.incident_id):
        if n.purpose in CHAIN_PURPOSES and n.withdraw(now, ACKNOWLEDGED):
            await uow.notifications.save(n)
            withdrawn += 1
    return withdrawn


# --- sending (the jobs) --------------------------------------------------------------------


async def claim_for_sending(
    cmd: commands.ClaimForSending, uow: NotificationsUnitOfWork
) -> SendOrder | None:
    """Record the attempt before anything is sent (None: not due any more, or another
    replica has it)."""
    n = await uow.notifications.get(cmd.notification_id)
    now = uow.clock()
    if n is None or not n.is_due(now, cmd.in_doubt_after):
        return None
    in_doubt = n.claim(now)
    await uow.notifications.save(n)
    return SendOrder(
        str(n.notification_id), n.channel, n.provider, n.destination, n.message, in_doubt
    )


async def record_send_outcome(
    cmd: commands.RecordSendOutcome, uow: NotificationsUnitOfWork
) -> None:
    n = await uow.notifications.get(cmd.notification_id)
    if n is None:
        return
    if isinstance(cmd.outcome, Accepted):
        n.accepted(uow.clock(), cmd.outcome.provider_id, cmd.outcome.template_id)
    else:
        await _record_failure(n, cmd.outcome, cmd.retry, uow)
    await uow.notifications.save(n)


async def record_delivery_status(
    cmd: commands.RecordDeliveryStatus, uow: NotificationsUnitOfWork
) -> None:
    """What Notify says became of a message it accepted. A temporary failure (a phone switched
    off for days) is sent again, as the retry policy allows."""
    n = await uow.notifications.get(cmd.notification_id)
    if n is None or isinstance(cmd.status, OnItsWay):
        return
    if isinstance(cmd.status, Delivered):
        n.delivered(uow.clock())
    else:
        await _record_failure(n, cmd.status, cmd.retry, uow)
    await uow.notifications.save(n)


async def _record_failure(
    n: Notification,
    failure: TemporaryFailure | PermanentFailure,
    retry: RetryPolicy,
    uow: NotificationsUnitOfWork,
) -> None:
    """A failure of one channel; when every other channel to the person has failed for good
    too, its event says the person was not reached (the escalation chain moves on). A page
    asking for an acknowledgement that came while it was being sent is not tried again."""
    unreached = await uow.notifications.others_failed(n)
    if isinstance(failure, TemporaryFailure):
        n.failed_temporarily(uow.clock(), failure.reason, retry, siblings_unreached=unreached)
    else:
        n.failed_permanently(uow.clock(), failure.reason, siblings_unreached=unreached)
    if n.purpose in CHAIN_PURPOSES and await _acknowledged(n.incident_id, uow):
        n.withdraw(uow.clock(), ACKNOWLEDGED)


async def _acknowledged(incident_id: uuid.UUID, uow: NotificationsUnitOfWork) -> bool:
    facts = await uow.incidents.get(incident_id)
    return facts is not None and facts.acknowledged


# --- configuration ---------------------------------------------------------------------------


async def set_contacts(cmd: commands.SetContacts, uow: NotificationsUnitOfWork) -> ContactDirectory:
    await uow.contacts.replace(cmd.directory)
    return await uow.contacts.directory()


async def set_schools(cmd: commands.SetSchools, uow: NotificationsUnitOfWork) -> tuple[School, ...]:
    await uow.schools.replace(cmd.schools)
    return await uow.schools.all()
