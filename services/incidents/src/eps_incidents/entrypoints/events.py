"""Kafka entrypoints: translate each consumed event into a command, nothing more.

A report or an answer the domain refuses is dead-lettered by the chassis with the field and the
rule. Scheduling's fast-track answers have a consumer of their own (own group, small batches)
so that nothing else the service reads can sit in front of them.
"""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_contracts import Envelope
from eps_contracts.incidents import UPSTREAM_INCIDENT_REPORTS, IncidentReportSubmitted
from eps_contracts.notifications import NOTIFICATIONS, NotificationFailed, Purpose
from eps_contracts.scheduling import FAST_TRACK_ALLOCATIONS, FastTrackEpsAllocated

from eps_incidents.domain import commands
from eps_incidents.service_layer import handlers
from eps_incidents.service_layer.unit_of_work import IncidentsUnitOfWork

upstream_reports = EventConsumer(
    name="upstream-reports",
    topics=[UPSTREAM_INCIDENT_REPORTS],
    batch_size=20,
    batch_timeout_ms=10,
    description="Critical incidents reported by upstream local authority systems.",
)
fast_track_allocations = EventConsumer(
    name="fast-track-allocations",
    topics=[FAST_TRACK_ALLOCATIONS],
    batch_size=5,
    batch_timeout_ms=100,  # a poll returns as soon as a record arrives (priority: no idle sleep)
    description="Scheduling's answers to fast-track requests: who is going and when.",
)

notification_failures = EventConsumer(
    name="notification-failures",
    topics=[NOTIFICATIONS],
    batch_size=50,
    batch_timeout_ms=20,
    description="Pages that could not reach the person an incident waits on: escalate now.",
)
PAGES_ASKING_TO_ACKNOWLEDGE = {Purpose.INCIDENT_REPORTED, Purpose.INCIDENT_ESCALATED}


@upstream_reports.on(IncidentReportSubmitted)
async def on_incident_report_submitted(
    event: Envelope[IncidentReportSubmitted], uow: IncidentsUnitOfWork
) -> None:
    await handlers.report_incident(commands.ReportIncident(event.data, reported_at=event.time), uow)


@fast_track_allocations.on(FastTrackEpsAllocated)
async def on_fast_track_eps_allocated(
    event: Envelope[FastTrackEpsAllocated], uow: IncidentsUnitOfWork
) -> None:
    data = event.data
    cmd = commands.RecordFastTrackAllocation(
        incident_id=data.incident_id,
        eps=data.eps,
        shortfall=data.shortfall,
        allocated_at=event.time,
        shortfall_reason=data.reason,
        attempt=data.attempt,
    )
    await handlers.record_fast_track_allocation(cmd, uow)


@notification_failures.on(NotificationFailed)
async def on_notification_failed(
    event: Envelope[NotificationFailed], uow: IncidentsUnitOfWork
) -> None:
    data = event.data
    if data.permanent and data.person_unreached and data.purpose in PAGES_ASKING_TO_ACKNOWLEDGE:
        cmd = commands.EscalateUnreachable(data.incident_id, data.recipient, data.reason)
        await handlers.escalate_unreachable(cmd, uow)
