"""The notifications service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_notifications.adapters.repository import (
    ContactRepository,
    IncidentFactsRepository,
    NotificationRepository,
    PostgresContactRepository,
    PostgresIncidentFactsRepository,
    PostgresNotificationRepository,
    PostgresSchoolRepository,
    SchoolRepository,
)


class NotificationsUnitOfWork(UnitOfWork):
    notifications: NotificationRepository
    incidents: IncidentFactsRepository
    contacts: ContactRepository
    schools: SchoolRepository


class PostgresNotificationsUnitOfWork(PostgresUnitOfWork, NotificationsUnitOfWork):
    repositories = {
        "notifications": PostgresNotificationRepository,
        "incidents": PostgresIncidentFactsRepository,
        "contacts": PostgresContactRepository,
        "schools": PostgresSchoolRepository,
    }
