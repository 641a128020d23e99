"""Persistence of notifications, what paging knows of incidents, and the LA's contacts.

Each repository is an abstract port and its PostgreSQL adapter, bound to one unit of work (its
transaction and its local authority). In-memory fakes in ``tests/support/fakes/notifications.py``.
The functions at the end are the jobs' rounds: what is due across every local authority.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import PostgresRepository
from eps_contracts.notifications import Channel, Provider, Purpose

from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.domain.model import (
    Contact,
    ContactDirectory,
    Message,
    Notification,
    School,
    Status,
)


class NotificationRepository(abc.ABC):
    """One local authority's notifications; those loaded or added are tracked by the unit of
    work, which publishes the events they record."""

    @abc.abstractmethod
    async def add(self, notification: Notification) -> bool:
        """Keep a new notification; False when this event already has one for this recipient
        on this channel (the event delivered again)."""

    @abc.abstractmethod
    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        """The notification, locked for this transaction (None: unknown, or another
        transaction holds it)."""

    @abc.abstractmethod
    async def save(self, notification: Notification) -> None: ...

    @abc.abstractmethod
    async def already_paged(
        self, incident_id: uuid.UUID, recipient: str, purposes: Iterable[Purpose]
    ) -> bool:
        """Whether the person was already paged about the incident for one of ``purposes``."""

    @abc.abstractmethod
    async def waiting(self, incident_id: uuid.UUID) -> list[Notification]:
        """The incident's notifications waiting to be sent (first attempt or a retry), locked."""

    @abc.abstractmethod
    async def others_failed(self, notification: Notification) -> bool:
        """Whether every other channel of the same message to the same person has failed for
        good (or was withdrawn): with this one failing, the person was not reached."""


class IncidentFactsRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, incident_id: uuid.UUID) -> IncidentFacts | None: ...

    @abc.abstractmethod
    async def record(self, facts: IncidentFacts) -> None: ...

    @abc.abstractmethod
    async def acknowledge(self, incident_id: uuid.UUID) -> None: ...


class SchoolRepository(abc.ABC):
    """The schools the LA names to the people it sends there (name, address)."""

    @abc.abstractmethod
    async def get(self, school_urn: str) -> School | None: ...

    @abc.abstractmethod
    async def all(self) -> tuple[School, ...]: ...

    @abc.abstractmethod
    async def replace(self, schools: tuple[School, ...]) -> None: ...


class ContactRepository(abc.ABC):
    @abc.abstractmethod
    async def directory(self) -> ContactDirectory:
        """The LA's contacts and duty person (empty when it has set none)."""

    @abc.abstractmethod
    async def replace(self, directory: ContactDirectory) -> None: ...


_COLUMNS = (
    "notification_id, incident_id, recipient, channel, provider, purpose, cause_event_id,"
    " destination, subject, text, status, attempts, next_attempt_at, claimed_at, provider_id,"
    " template_id, last_error, created_at"
)


def _notification(row: asyncpg.Record) -> Notification:
    return Notification(
        notification_id=row["notification_id"],
        incident_id=row["incident_id"],
        recipient=row["recipient"],
        channel=Channel(row["channel"]),
        provider=Provider(row["provider"]),
        purpose=Purpose(row["purpose"]),
        cause_event_id=row["cause_event_id"],
        destination=row["destination"],
        message=Message(row["subject"], row["text"]),
        created_at=row["created_at"],
        status=Status(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        claimed_at=row["claimed_at"],
        provider_id=row["provider_id"],
        template_id=row["template_id"],
        last_error=row["last_error"],
    )


class PostgresNotificationRepository(NotificationRepository, PostgresRepository):
    async def add(self, notification: Notification) -> bool:
        n = notification
        inserted = await self.conn.fetchval(
            f"INSERT INTO notifications (tenant, {_COLUMNS}, updated_at, correlation_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,"
            " $17, $18, $19, $19, $20)"
            " ON CONFLICT (cause_event_id, recipient, channel) DO NOTHING RETURNING true",
            self.tenant,
            *self._values(n),
            n.created_at,
            self.uow.context.correlation_id,  # the conversation of the event that caused it
        )
        if inserted:
            self.uow.track(n)
        return bool(inserted)

    @staticmethod
    def _values(n: Notification) -> tuple[object, ...]:
        return (
            n.notification_id,
            n.incident_id,
            n.recipient,
            str(n.channel),
            str(n.provider),
            str(n.purpose),
            n.cause_event_id,
            n.destination,
            n.message.subject,
            n.message.text,
            str(n.status),
            n.attempts,
            n.next_attempt_at,
            n.claimed_at,
            n.provider_id,
            n.template_id,
            n.last_error,
        )

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        row = await self.conn.fetchrow(
            f"SELECT tenant, {_COLUMNS} FROM notifications WHERE notification_id = $1"
            " FOR UPDATE SKIP LOCKED",
            notification_id,
        )
        row = self.owned(row, "notification", notification_id, field="notification_id")
        return self.uow.track(_notification(row)) if row is not None else None

    async def save(self, notification: Notification) -> None:
        n = notification
        await self.conn.execute(
            "UPDATE notifications SET status = $2, attempts = $3, next_attempt_at = $4,"
            " claimed_at = $5, provider_id = $6, template_id = $7, last_error = $8,"
            " updated_at = $9 WHERE notification_id = $1 AND tenant = $10",
            n.notification_id,
            str(n.status),
            n.attempts,
            n.next_attempt_at,
            n.claimed_at,
            n.provider_id,
            n.template_id,
            n.last_error,
            self.uow.clock(),
            self.tenant,
        )

    async def already_paged(
        self, incident_id: uuid.UUID, recipient: str, purposes: Iterable[Purpose]
    ) -> bool:
        found = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE incident_id = $1 AND tenant = $2"
            " AND recipient = $3 AND purpose = ANY($4::text[]))",
            incident_id,
            self.tenant,
            recipient,
            [str(p) for p in purposes],
        )
        return bool(found)

    async def waiting(self, incident_id: uuid.UUID) -> list[Notification]:
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM notifications WHERE incident_id = $1 AND tenant = $2"
            " AND status = 'pending' ORDER BY created_at FOR UPDATE",
            incident_id,
            self.tenant,
        )
        return [self.uow.track(_notification(r)) for r in rows]

    async def others_failed(self, notification: Notification) -> bool:
        n = notification
        reached = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE cause_event_id = $1"
            " AND recipient = $2 AND notification_id <> $3"
            " AND status NOT IN ('failed', 'withdrawn'))",
            n.cause_event_id,
            n.recipient,
            n.notification_id,
        )
        return not reached


class PostgresIncidentFactsRepository(IncidentFactsRepository, PostgresRepository):
    async def get(self, incident_id: uuid.UUID) -> IncidentFacts | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, incident_id, school_urn, level, kind, reported_at, acknowledged"
            " FROM incidents WHERE incident_id = $1",
            incident_id,
        )
        row = self.owned(row, "incident", incident_id, field="incident_id")
        if row is None:
            return None
        return IncidentFacts(
            incident_id=row["incident_id"],
            school_urn=row["school_urn"],
            level=row["level"],
            kind=row["kind"],
            reported_at=row["reported_at"],
            acknowledged=row["acknowledged"],
        )

    async def record(self, facts: IncidentFacts) -> None:
        written = await self.conn.fetchval(
            "INSERT INTO incidents (incident_id, tenant, school_urn, level, kind, reported_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident_id) DO UPDATE SET"
            " school_urn = EXCLUDED.school_urn, level = EXCLUDED.level, kind = EXCLUDED.kind,"
            " reported_at = EXCLUDED.reported_at WHERE incidents.tenant = EXCLUDED.tenant"
            " RETURNING true",
            facts.incident_id,
            self.tenant,
            facts.school_urn,
            facts.level,
            facts.kind,
            facts.reported_at,
        )
        self.kept(written, "incident", facts.incident_id, field="incident_id")

    async def acknowledge(self, incident_id: uuid.UUID) -> None:
        written = await self.conn.fetchval(
            "INSERT INTO incidents (incident_id, tenant, acknowledged) VALUES ($1, $2, true)"
            " ON CONFLICT (incident_id) DO UPDATE SET acknowledged = true"
            " WHERE incidents.tenant = EXCLUDED.tenant RETURNING true",
            incident_id,
            self.tenant,
        )
        self.kept(written, "incident", incident_id, field="incident_id")


class PostgresContactRepository(ContactRepository, PostgresRepository):
    async def directory(self) -> ContactDirectory:
        rows = await self.conn.fetch(
            "SELECT person_id, mobile, email, email_via FROM contacts WHERE tenant = $1"
            " ORDER BY person_id",
            self.tenant,
        )
        duty = await self.conn.fetchval(
            "SELECT duty_person_id FROM paging_policy WHERE tenant = $1", self.tenant
        )
        return ContactDirectory(
            contacts=tuple(
                Contact(r["person_id"], r["mobile"], r["email"], Provider(r["email_via"]))
                for r in rows
            ),
            duty_person_id=duty,
        )

    async def replace(self, directory: ContactDirectory) -> None:
        await self.conn.execute("DELETE FROM contacts WHERE tenant = $1", self.tenant)
        await self.conn.executemany(
            "INSERT INTO contacts (tenant, person_id, mobile, email, email_via)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (self.tenant, c.person_id, c.mobile, c.email, str(c.email_via))
                for c in directory.contacts
            ],
        )
        await self.conn.execute(
            "INSERT INTO paging_policy (tenant, duty_person_id) VALUES ($1, $2)"
            " ON CONFLICT (tenant) DO UPDATE SET duty_person_id = EXCLUDED.duty_person_id",
            self.tenant,
            directory.duty_person_id,
        )


class PostgresSchoolRepository(SchoolRepository, PostgresRepository):
    async def get(self, school_urn: str) -> School | None:
        row = await self.conn.fetchrow(
            "SELECT school_urn, name, address FROM schools WHERE tenant = $1 AND school_urn = $2",
            self.tenant,
            school_urn,
        )
        return School(*row) if row is not None else None

    async def all(self) -> tuple[School, ...]:
        rows = await self.conn.fetch(
            "SELECT school_urn, name, address FROM schools WHERE tenant = $1 ORDER BY school_urn",
            self.tenant,
        )
        return tuple(School(*r) for r in rows)

    async def replace(self, schools: tuple[School, ...]) -> None:
        await self.conn.execute("DELETE FROM schools WHERE tenant = $1", self.tenant)
        await self.conn.executemany(
            "INSERT INTO schools (tenant, school_urn, name, address) VALUES ($1, $2, $3, $4)",
            [(self.tenant, s.school_urn, s.name, s.address) for s in schools],
        )


# --- the jobs' rounds (across every local authority) -------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A message due, and the conversation its events belong to."""

    tenant: str
    notification_id: uuid.UUID
    correlation_id: uuid.UUID | None
    cause_event_id: uuid.UUID

    def context(self, actor: str) -> MessageContext:
        """Acting as the service in the conversation of the incident event behind it."""
        if self.correlation_id is None:
            return MessageContext(self.tenant, actor, causation_id=self.cause_event_id)
        return MessageContext(self.tenant, actor, self.correlation_id, self.cause_event_id)


async def due_for_sending(
    conn: asyncpg.Connection, now: datetime, in_doubt_after: timedelta, limit: int = 100
) -> list[Due]:
    """Notifications to send now: due (first attempt or retry), or claimed so long ago with no
    outcome that the attempt is in doubt. Oldest first."""
    rows = await conn.fetch(
        "SELECT tenant, notification_id, correlation_id, cause_event_id FROM notifications"
        " WHERE (status = 'pending' AND next_attempt_at <= $1)"
        " OR (status = 'sending' AND claimed_at <= $2)"
        " ORDER BY next_attempt_at LIMIT $3",
        now,
        now - in_doubt_after,
        limit,
    )
    return [Due(*r) for r in rows]


async def awaiting_delivery(conn: asyncpg.Connection, limit: int = 200) -> list[tuple[Due, str]]:
    """Notifications Notify accepted and has not yet reported delivered or failed, with the id
    Notify gave each."""
    rows = await conn.fetch(
        "SELECT tenant, notification_id, correlation_id, cause_event_id, provider_id"
        " FROM notifications"
        " WHERE status = 'sent' AND provider = 'govuk_notify' AND provider_id IS NOT NULL"
        " ORDER BY updated_at LIMIT $1",
        limit,
    )
    return [(Due(*r[:4]), r["provider_id"]) for r in rows]


async def waiting_counts(conn: asyncpg.Connection, now: datetime) -> tuple[dict[str, int], float]:
    """How many messages are in each unsettled state, and the age in seconds of the oldest one
    still to be sent (for the gauges)."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n, min(created_at) FILTER (WHERE status = 'pending')"
        " AS oldest FROM notifications WHERE status IN ('pending', 'sending', 'sent')"
        " GROUP BY status"
    )
    oldest = min((r["oldest"] for r in rows if r["oldest"] is not None), default=None)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return {r["status"]: r["n"] for r in rows}, max(age, 0.0)
