"""The console's read model: the port its handlers write through, and its PostgreSQL adapter.

Every write also announces the change (``pg_notify`` on :data:`CHANGES`, naming the schema,
the local authority and the incident); PostgreSQL delivers a notification only when its
transaction commits, so a board that hears of a change and asks for it finds it there.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime

from eps_chassis.unit_of_work import PostgresRepository
from eps_contracts.incidents import IncidentReported, ResponseClock
from eps_contracts.scheduling import AllocatedEp

CHANGES = "eps_console_changes"
"""The notification channel (one per database; the payload names the schema)."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event_id: uuid.UUID
    incident_id: uuid.UUID
    at: datetime
    actor: str
    what: str


@dataclass(frozen=True, slots=True)
class NotificationNews:
    notification_id: uuid.UUID
    incident_id: uuid.UUID
    recipient: str
    channel: str
    purpose: str
    status: str  # sent, delivered, retrying, failed, withdrawn
    detail: str | None
    at: datetime


class ReadModelRepository(abc.ABC):
    @abc.abstractmethod
    async def reported(self, event: IncidentReported) -> None: ...

    @abc.abstractmethod
    async def update(self, incident_id: uuid.UUID, **columns: object) -> None:
        """Set columns of an incident (kept for one its events were not all seen of yet)."""

    @abc.abstractmethod
    async def add_breach(self, incident_id: uuid.UUID, clock: str) -> None: ...

    @abc.abstractmethod
    async def first_visit(self, incident_id: uuid.UUID, at: datetime) -> None: ...

    @abc.abstractmethod
    async def allocated(
        self,
        incident_id: uuid.UUID,
        ep_ids: tuple[str, ...],
        shortfall: int,
        reason: str | None,
        at: datetime,
    ) -> None: ...

    @abc.abstractmethod
    async def eps_going(self, incident_id: uuid.UUID, eps: tuple[AllocatedEp, ...]) -> None: ...

    @abc.abstractmethod
    async def moved(
        self,
        appointment_id: uuid.UUID,
        ep_id: str,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
    ) -> None: ...

    @abc.abstractmethod
    async def rota_gap(self, starts_at: datetime, ends_at: datetime) -> None: ...

    @abc.abstractmethod
    async def record(self, entry: TimelineEntry) -> None: ...

    @abc.abstractmethod
    async def notified(self, news: NotificationNews) -> None:
        """What became of a message paging sent (newer news replaces older)."""


class PostgresReadModelRepository(PostgresRepository, ReadModelRepository):
    async def _changed(self, incident_id: uuid.UUID | None) -> None:
        payload = f"{self.tenant}:{incident_id or ''}"
        await self.conn.execute(
            "SELECT pg_notify($1, current_schema() || ':' || $2)", CHANGES, payload
        )

    async def _ensure(self, incident_id: uuid.UUID) -> None:
        await self.conn.execute(
            "INSERT INTO incidents (incident_id, tenant) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            incident_id,
            self.tenant,
        )

    async def reported(self, event: IncidentReported) -> None:
        await self._ensure(event.incident_id)
        due = {d.clock: d.due_at for d in event.due}
        await self.conn.execute(
            """
            UPDATE incidents SET school_urn = $3, kind = $4, level = $5, occurred_at = $6,
                   reported_at = $7, pupils_affected = $8, staff_affected = $9,
                   assigned_to = coalesce(assigned_to, $10), acknowledge_due_at = $11,
                   allocate_due_at = $12, first_contact_due_at = $13, first_visit_due_at = $14
             WHERE incident_id = $1 AND tenant = $2
            """,
            event.incident_id,
            self.tenant,
            event.school_urn,
            str(event.kind),
            event.level,
            event.occurred_at,
            event.at,
            event.pupils_affected,
            event.staff_affected,
            event.assigned_to,
            *(due.get(clock) for clock in ResponseClock),
        )
        await self._changed(event.incident_id)

    async def update(self, incident_id: uuid.UUID, **columns: object) -> None:
        await self._ensure(incident_id)
        names = list(columns)
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
        await self.conn.execute(
            f"UPDATE incidents SET {sets} WHERE incident_id = $1 AND tenant = $2",
            incident_id,
            self.tenant,
            *columns.values(),
        )
        await self._changed(incident_id)

    async def add_breach(self, incident_id: uuid.UUID, clock: str) -> None:
        await self._ensure(incident_id)
        await self.conn.execute(
            """
            UPDATE incidents SET breaches = array_append(breaches, $3)
             WHERE incident_id = $1 AND tenant = $2 AND NOT ($3 = ANY (breaches))
            """,
            incident_id,
            self.tenant,
            clock,
        )
        await self._changed(incident_id)

    async def first_visit(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._ensure(incident_id)
        await self.conn.execute(
            """
            UPDATE incidents SET first_visit_at = least(coalesce(first_visit_at, $3), $3),
                   status = 'visits_done'
             WHERE incident_id = $1 AND tenant = $2
            """,
            incident_id,
            self.tenant,
            at,
        )
        await self._changed(incident_id)

    async def allocated(
        self,
        incident_id: uuid.UUID,
        ep_ids: tuple[str, ...],
        shortfall: int,
        reason: str | None,
        at: datetime,
    ) -> None:
        await self._ensure(incident_id)
        await self.conn.execute(
            """
            UPDATE incidents SET ep_ids = $3, shortfall = $4, shortfall_reason = $5,
                   allocated_at = CASE WHEN allocated_at IS NULL AND cardinality($3::text[]) > 0
                                       THEN $6 ELSE allocated_at END
             WHERE incident_id = $1 AND tenant = $2
            """,
            incident_id,
            self.tenant,
            list(ep_ids),
            shortfall,
            reason,
            at,
        )
        await self._changed(incident_id)

    async def eps_going(self, incident_id: uuid.UUID, eps: tuple[AllocatedEp, ...]) -> None:
        await self.conn.executemany(
            """
            INSERT INTO allocations (appointment_id, tenant, incident_id, ep_id, starts_at,
                                     is_named_ep)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
            """,
            [
                (e.appointment_id, self.tenant, incident_id, e.ep_id, e.starts_at, e.is_named_ep)
                for e in eps
            ],
        )
        await self.conn.executemany(
            """
            INSERT INTO displaced (appointment_id, tenant, incident_id, ep_id)
            VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
            """,
            [
                (displaced, self.tenant, incident_id, e.ep_id)
                for e in eps
                for displaced in e.displaced_appointment_ids
            ],
        )
        await self._changed(incident_id)

    async def moved(
        self,
        appointment_id: uuid.UUID,
        ep_id: str,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
    ) -> None:
        await self.conn.execute(
            """
            INSERT INTO moves (appointment_id, tenant, ep_id, starts_at, ends_at, reason)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (appointment_id) DO UPDATE
               SET ep_id = excluded.ep_id, starts_at = excluded.starts_at,
                   ends_at = excluded.ends_at, reason = excluded.reason
             WHERE moves.tenant = excluded.tenant
            """,
            appointment_id,
            self.tenant,
            ep_id,
            starts_at,
            ends_at,
            reason,
        )
        incident_id = await self.conn.fetchval(
            "SELECT incident_id FROM displaced WHERE appointment_id = $1 AND tenant = $2",
            appointment_id,
            self.tenant,
        )
        if incident_id is not None:
            await self._changed(incident_id)

    async def rota_gap(self, starts_at: datetime, ends_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO rota_gaps VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            self.tenant,
            starts_at,
            ends_at,
        )
        await self._changed(None)

    async def record(self, entry: TimelineEntry) -> None:
        await self.conn.execute(
            """
            INSERT INTO timeline (event_id, tenant, incident_id, at, actor, what)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
            """,
            entry.event_id,
            self.tenant,
            entry.incident_id,
            entry.at,
            entry.actor,
            entry.what,
        )

    async def notified(self, news: NotificationNews) -> None:
        await self.conn.execute(
            """
            INSERT INTO notifications (notification_id, tenant, incident_id, recipient, channel,
                                       purpose, status, detail, at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (notification_id) DO UPDATE
               SET status = excluded.status, at = excluded.at,
                   detail = coalesce(excluded.detail, notifications.detail)
             WHERE notifications.tenant = excluded.tenant AND notifications.at <= excluded.at
            """,
            news.notification_id,
            self.tenant,
            news.incident_id,
            news.recipient,
            news.channel,
            news.purpose,
            news.status,
            news.detail,
            news.at,
        )
        await self._changed(news.incident_id)
