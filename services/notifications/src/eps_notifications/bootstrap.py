"""Composition root of the notifications service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_contracts.notifications import NOTIFICATIONS

from eps_notifications.adapters.channels import Senders
from eps_notifications.entrypoints import events, http
from eps_notifications.entrypoints.jobs import notifications_jobs
from eps_notifications.service_layer.unit_of_work import PostgresNotificationsUnitOfWork
from eps_notifications.settings import NotificationsSettings


def definition(settings: NotificationsSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="notifications",
        local_port=8007,
        description="Pages people about critical incidents by SMS and email (GOV.UK Notify,"
        " SMTP): once, retried, with delivery status.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresNotificationsUnitOfWork,
        consumers=[events.incidents],
        routers=[http.router],
        publishes=[NOTIFICATIONS],
        jobs=notifications_jobs(settings, Senders(settings)),
    )


SERVICE = Service(NotificationsSettings, definition)
