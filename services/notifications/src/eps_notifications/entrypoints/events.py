"""Kafka entrypoints: each incident event becomes the pages it calls for (recorded in the same
transaction as the event's inbox entry; the send job sends them), nothing more.

One incident's events share a partition, so they arrive in order: the report before its
escalations and its acknowledgement.
"""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_contracts import Envelope
from eps_contracts.incidents import (
    INCIDENTS,
    IncidentAcknowledged,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentLeftUnassigned,
    IncidentReported,
    IncidentResponseTargetBreached,
)
from eps_contracts.notifications import Purpose

from eps_notifications.domain import commands
from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.service_layer import handlers
from eps_notifications.service_layer.unit_of_work import NotificationsUnitOfWork

incidents = EventConsumer(
    name="incidents",
    topics=[INCIDENTS],
    batch_size=50,
    batch_timeout_ms=20,
    description="The incident lifecycle: who must acknowledge, who is going, what was missed.",
)


@incidents.on(IncidentReported)
async def on_incident_reported(
    event: Envelope[IncidentReported], uow: NotificationsUnitOfWork
) -> None:
    data = event.data
    facts = IncidentFacts(data.incident_id, data.school_urn, data.level, str(data.kind), data.at)
    await handlers.record_incident(commands.RecordIncident(facts), uow)
    if data.assigned_to is not None:
        await handlers.page(
            commands.Page(data.incident_id, event.id, Purpose.INCIDENT_REPORTED, data.assigned_to),
            uow,
        )


@incidents.on(IncidentEscalated)
async def on_incident_escalated(
    event: Envelope[IncidentEscalated], uow: NotificationsUnitOfWork
) -> None:
    data = event.data
    cmd = commands.Page(
        data.incident_id, event.id, Purpose.INCIDENT_ESCALATED, data.to_person, data.reason
    )
    await handlers.page(cmd, uow)


@incidents.on(IncidentAcknowledged)
async def on_incident_acknowledged(
    event: Envelope[IncidentAcknowledged], uow: NotificationsUnitOfWork
) -> None:
    await handlers.stop_chain(commands.StopChain(event.data.incident_id), uow)


@incidents.on(IncidentEpsAllocated)
async def on_incident_eps_allocated(
    event: Envelope[IncidentEpsAllocated], uow: NotificationsUnitOfWork
) -> None:
    data = event.data
    when = {ep.ep_id: ep.starts_at for ep in data.eps_going}
    for ep_id in data.ep_ids:
        cmd = commands.Page(
            data.incident_id, event.id, Purpose.EPS_ALLOCATED, ep_id, starts_at=when.get(ep_id)
        )
        await handlers.page(cmd, uow)


@incidents.on(IncidentResponseTargetBreached)
async def on_response_target_breached(
    event: Envelope[IncidentResponseTargetBreached], uow: NotificationsUnitOfWork
) -> None:
    data = event.data
    cmd = commands.Page(
        data.incident_id,
        event.id,
        Purpose.TARGET_BREACHED,
        data.principal_ep_id,
        clock=str(data.clock),
        due_at=data.due_at,
    )
    await handlers.page(cmd, uow)


@incidents.on(IncidentLeftUnassigned)
async def on_incident_left_unassigned(
    event: Envelope[IncidentLeftUnassigned], uow: NotificationsUnitOfWork
) -> None:
    data = event.data
    cmd = commands.Page(
        data.incident_id,
        event.id,
        Purpose.LEFT_UNASSIGNED,
        data.principal_ep_id,
        reason=data.reason,
    )
    await handlers.page(cmd, uow)
