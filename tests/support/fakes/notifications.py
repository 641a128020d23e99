"""In-memory notifications repositories and unit of work, behind the service's ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from eps_chassis.clock import Clock
from eps_contracts.notifications import Purpose
from eps_notifications.adapters.repository import (
    ContactRepository,
    IncidentFactsRepository,
    NotificationRepository,
    SchoolRepository,
)
from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.domain.model import ContactDirectory, Notification, School, Status
from eps_notifications.service_layer.unit_of_work import NotificationsUnitOfWork

from tests.support.fakes import TENANT, FakeUnitOfWork


class FakeNotificationRepository(NotificationRepository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.rows: dict[uuid.UUID, Notification] = {}

    async def add(self, notification: Notification) -> bool:
        n = notification
        if any(
            (o.cause_event_id, o.recipient, o.channel) == (n.cause_event_id, n.recipient, n.channel)
            for o in self.rows.values()
        ):
            return False
        self.rows[n.notification_id] = n
        self.uow.track(n)
        return True

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        found = self.rows.get(notification_id)
        return self.uow.track(found) if found is not None else None

    async def save(self, notification: Notification) -> None:
        self.rows[notification.notification_id] = notification

    async def already_paged(
        self, incident_id: uuid.UUID, recipient: str, purposes: Iterable[Purpose]
    ) -> bool:
        wanted = set(purposes)
        return any(
            n.incident_id == incident_id and n.recipient == recipient and n.purpose in wanted
            for n in self.rows.values()
        )

    async def waiting(self, incident_id: uuid.UUID) -> list[Notification]:
        return [
            self.uow.track(n)
            for n in self.rows.values()
            if n.incident_id == incident_id and n.status == Status.PENDING
        ]

    async def others_failed(self, notification: Notification) -> bool:
        n = notification
        return all(
            o.status in (Status.FAILED, Status.WITHDRAWN)
            for o in self.rows.values()
            if (o.cause_event_id, o.recipient) == (n.cause_event_id, n.recipient)
            and o.notification_id != n.notification_id
        )

    def to(self, recipient: str) -> list[Notification]:
        return [n for n in self.rows.values() if n.recipient == recipient]


class FakeIncidentFactsRepository(IncidentFactsRepository):
    def __init__(self) -> None:
        self.facts: dict[uuid.UUID, IncidentFacts] = {}

    async def get(self, incident_id: uuid.UUID) -> IncidentFacts | None:
        return self.facts.get(incident_id)

    async def record(self, facts: IncidentFacts) -> None:
        known = self.facts.get(facts.incident_id)
        acknowledged = known is not None and known.acknowledged
        self.facts[facts.incident_id] = IncidentFacts(
            facts.incident_id,
            facts.school_urn,
            facts.level,
            facts.kind,
            facts.reported_at,
            acknowledged,
        )

    async def acknowledge(self, incident_id: uuid.UUID) -> None:
        known = self.facts.get(incident_id) or IncidentFacts(incident_id)
        self.facts[incident_id] = IncidentFacts(
            incident_id, known.school_urn, known.level, known.kind, known.reported_at, True
        )


class FakeContactRepository(ContactRepository):
    def __init__(self) -> None:
        self.kept = ContactDirectory()

    async def directory(self) -> ContactDirectory:
        return self.kept

    async def replace(self, directory: ContactDirectory) -> None:
        self.kept = directory


class FakeSchoolRepository(SchoolRepository):
    def __init__(self) -> None:
        self.kept: dict[str, School] = {}

    async def get(self, school_urn: str) -> School | None:
        return self.kept.get(school_urn)

    async def all(self) -> tuple[School, ...]:
        return tuple(self.kept[urn] for urn in sorted(self.kept))

    async def replace(self, schools: tuple[School, ...]) -> None:
        self.kept = {s.school_urn: s for s in schools}


class FakeNotificationsUnitOfWork(FakeUnitOfWork, NotificationsUnitOfWork):
    notifications: FakeNotificationRepository
    incidents: FakeIncidentFactsRepository
    contacts: FakeContactRepository
    schools: FakeSchoolRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.notifications = FakeNotificationRepository(self)
        self.incidents = FakeIncidentFactsRepository()
        self.contacts = FakeContactRepository()
        self.schools = FakeSchoolRepository()
