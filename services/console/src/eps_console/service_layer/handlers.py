"""What each event changes in the console's read model (it decides nothing: it shows).

Each incident event also becomes a line of the incident's timeline: who (the event's actor),
what, and when (the event's own ``at``)."""

from __future__ import annotations

from typing import Any

from eps_contracts import Envelope
from eps_contracts.incidents import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentFirstContactMade,
    IncidentFollowUpPlanned,
    IncidentLeftUnassigned,
    IncidentReported,
    IncidentResponseTargetBreached,
    IncidentVisitRecorded,
    OnCallRotaGapFound,
)
from eps_contracts.notifications import (
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationWithdrawn,
)
from eps_contracts.scheduling import AppointmentRescheduled, FastTrackEpsAllocated

from eps_console.adapters.repository import NotificationNews, TimelineEntry
from eps_console.service_layer.unit_of_work import ConsoleUnitOfWork

INCIDENT_EVENTS = (
    IncidentReported,
    IncidentAcknowledged,
    IncidentEscalated,
    IncidentLeftUnassigned,
    IncidentEpsAllocated,
    IncidentFirstContactMade,
    IncidentVisitRecorded,
    IncidentFollowUpPlanned,
    IncidentClosed,
    IncidentResponseTargetBreached,
)
NOTIFICATION_EVENTS = (
    NotificationSent,
    NotificationDelivered,
    NotificationFailed,
    NotificationWithdrawn,
)


def describe(data: Any) -> str:
    """The timeline's line for an incident event."""
    match data:
        case IncidentReported():
            who = data.assigned_to or "nobody (no coordinator on call)"
            return f"Reported: level {data.level}, {data.kind.replace('_', ' ')}; assigned to {who}"
        case IncidentAcknowledged():
            return f"Acknowledged by {data.acknowledged_by}"
        case IncidentEscalated():
            return (
                f"Escalated from {data.from_person or 'nobody'} to {data.to_person}: {data.reason}"
            )
        case IncidentLeftUnassigned():
            return f"Left unassigned: {data.reason}"
        case IncidentEpsAllocated():
            going = ", ".join(data.ep_ids) or "none"
            short = f"; {data.shortfall} short: {data.shortfall_reason}" if data.shortfall else ""
            return f"EPs allocated: {going}{short}"
        case IncidentFirstContactMade():
            return f"First contact made by {data.made_by or 'someone not recorded'}"
        case IncidentVisitRecorded():
            return f"Visit by {', '.join(data.ep_ids)}"
        case IncidentFollowUpPlanned():
            return f"Follow-up planned: review on {data.review_on.isoformat()}"
        case IncidentClosed():
            return "Closed"
        case IncidentResponseTargetBreached():
            return f"Response target breached: {data.clock.replace('_', ' ')}"
        case FastTrackEpsAllocated():
            moved = sum(len(e.displaced_appointment_ids) for e in data.eps)
            return (
                f"Scheduling answered request {data.attempt}: {len(data.eps)} EPs,"
                f" {moved} appointments moved"
            )
    return type(data).__name__


async def on_incident_event(event: Envelope[Any], uow: ConsoleUnitOfWork) -> None:
    data = event.data
    board = uow.board
    match data:
        case IncidentReported():
            await board.reported(data)
        case IncidentAcknowledged():
            await board.update(
                data.incident_id,
                status="acknowledged",
                acknowledged_by=data.acknowledged_by,
                acknowledged_at=data.at,
            )
        case IncidentEscalated():
            await board.update(data.incident_id, assigned_to=data.to_person)
        case IncidentLeftUnassigned():
            await board.update(data.incident_id, unassigned_reason=data.reason)
        case IncidentEpsAllocated():
            await board.allocated(
                data.incident_id, data.ep_ids, data.shortfall, data.shortfall_reason, data.at
            )
        case IncidentFirstContactMade():
            await board.update(
                data.incident_id, status="first_contact_made", first_contact_at=data.at
            )
        case IncidentVisitRecorded():
            await board.first_visit(data.incident_id, data.at)
        case IncidentFollowUpPlanned():
            await board.update(
                data.incident_id, status="follow_up_planned", review_on=data.review_on
            )
        case IncidentClosed():
            await board.update(data.incident_id, status="closed", closed_at=data.at)
        case IncidentResponseTargetBreached():
            await board.add_breach(data.incident_id, str(data.clock))
    await board.record(
        TimelineEntry(event.id, data.incident_id, data.at, event.actor, describe(data))
    )


async def on_eps_allocated(event: Envelope[FastTrackEpsAllocated], uow: ConsoleUnitOfWork) -> None:
    data = event.data
    await uow.board.eps_going(data.incident_id, data.eps)
    await uow.board.record(
        TimelineEntry(event.id, data.incident_id, event.time, event.actor, describe(data))
    )


async def on_rescheduled(event: Envelope[AppointmentRescheduled], uow: ConsoleUnitOfWork) -> None:
    data = event.data
    await uow.board.moved(
        data.appointment_id, data.ep_id, data.starts_at, data.ends_at, data.reason
    )


async def on_rota_gap(event: Envelope[OnCallRotaGapFound], uow: ConsoleUnitOfWork) -> None:
    await uow.board.rota_gap(event.data.starts_at, event.data.ends_at)


def _news(data: Any) -> tuple[str, str | None]:
    """A notification event's status and what to show beside it."""
    match data:
        case NotificationSent():
            return "sent", data.text
        case NotificationDelivered():
            return "delivered", None
        case NotificationFailed():
            return ("failed" if data.permanent else "retrying"), data.reason
        case NotificationWithdrawn():
            return "withdrawn", data.reason
    raise TypeError(f"not a notification event: {type(data).__name__}")


async def on_notification(event: Envelope[Any], uow: ConsoleUnitOfWork) -> None:
    data = event.data
    status, detail = _news(data)
    await uow.board.notified(
        NotificationNews(
            data.notification_id,
            data.incident_id,
            data.recipient,
            str(data.channel),
            str(data.purpose),
            status,
            detail,
            data.at,
        )
    )
