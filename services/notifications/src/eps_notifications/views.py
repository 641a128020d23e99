"""What the notifications service shows over HTTP: read straight from its tables, as response
models. A person's phone number or address is never shown here: who was told (a person id),
how, what it said and what became of it."""

from __future__ import annotations

import uuid
from datetime import datetime

from eps_contracts.notifications import Channel, Provider, Purpose
from pydantic import BaseModel, Field

from eps_notifications.domain.model import Status
from eps_notifications.service_layer.unit_of_work import PostgresNotificationsUnitOfWork


class NotificationView(BaseModel):
    notification_id: uuid.UUID
    incident_id: uuid.UUID
    recipient: str
    channel: Channel
    provider: Provider
    purpose: Purpose
    status: Status
    text: str = Field(description="What it said (no child's personal data).")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending).")
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class Notifications(BaseModel):
    notifications: list[NotificationView]


async def notifications_for(
    uow: PostgresNotificationsUnitOfWork, incident_id: uuid.UUID
) -> Notifications:
    rows = await uow.conn.fetch(
        "SELECT notification_id, incident_id, recipient, channel, provider, purpose, status,"
        " text, attempts, next_attempt_at, last_error, created_at, updated_at"
        " FROM notifications WHERE incident_id = $1 AND tenant = $2"
        " ORDER BY created_at, recipient, channel",
        incident_id,
        uow.tenant,
    )
    return Notifications(notifications=[NotificationView(**dict(r)) for r in rows])
