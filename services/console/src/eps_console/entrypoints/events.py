"""Kafka entrypoints: the incidents, scheduling and rota topics feed the read model.

Scheduling's fast-track answers (who is going, what they displaced) are on a priority topic,
read by a consumer of its own; the rest share one consumer group."""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_contracts.incidents import INCIDENTS, ON_CALL_ROTA, OnCallRotaGapFound
from eps_contracts.notifications import NOTIFICATIONS
from eps_contracts.scheduling import (
    APPOINTMENTS,
    FAST_TRACK_ALLOCATIONS,
    AppointmentRescheduled,
    FastTrackEpsAllocated,
)

from eps_console.service_layer import handlers

incident_room = EventConsumer(
    name="incident-room",
    topics=[INCIDENTS, ON_CALL_ROTA, APPOINTMENTS, NOTIFICATIONS],
    batch_size=200,
    batch_timeout_ms=10,  # the board shows a change within a second of it reaching Kafka
    description="Incidents' lifecycle, the rota's gaps, appointments moved and what paging sent,"
    " for the board.",
)
allocations = EventConsumer(
    name="allocations",
    topics=[FAST_TRACK_ALLOCATIONS],
    batch_size=20,
    batch_timeout_ms=10,
    description="Scheduling's fast-track answers: the EPs going and the work they displaced.",
)

for incident_event in handlers.INCIDENT_EVENTS:
    incident_room.on(incident_event)(handlers.on_incident_event)
for notification_event in handlers.NOTIFICATION_EVENTS:
    incident_room.on(notification_event)(handlers.on_notification)
incident_room.on(OnCallRotaGapFound)(handlers.on_rota_gap)
incident_room.on(AppointmentRescheduled)(handlers.on_rescheduled)
allocations.on(FastTrackEpsAllocated)(handlers.on_eps_allocated)
