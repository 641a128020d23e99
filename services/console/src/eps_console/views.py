"""What the console's pages show, read straight from its read model, one local authority's.

Every query names the tenant: a person sees their own local authority's incidents only (an id
of another's is not found)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
from eps_contracts.incidents import ResponseClock

from eps_console.domain.clocks import ClockReading, readings

STATUS_LABELS = {
    "reported": "Awaiting acknowledgement",
    "acknowledged": "Acknowledged",
    "first_contact_made": "First contact made",
    "visits_done": "Visited",
    "follow_up_planned": "Follow-up planned",
    "closed": "Closed",
}


@dataclass
class IncidentRow:
    incident_id: uuid.UUID
    school_urn: str | None
    kind: str | None
    level: int | None
    occurred_at: datetime | None
    reported_at: datetime | None
    pupils_affected: int | None
    staff_affected: int | None
    assigned_to: str | None
    status: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    allocated_at: datetime | None
    ep_ids: list[str]
    shortfall: int
    shortfall_reason: str | None
    first_contact_at: datetime | None
    first_visit_at: datetime | None
    review_on: date | None
    closed_at: datetime | None
    breaches: list[str]
    unassigned_reason: str | None
    acknowledge_due_at: datetime | None
    allocate_due_at: datetime | None
    first_contact_due_at: datetime | None
    first_visit_due_at: datetime | None
    clocks: list[ClockReading] = field(default_factory=list)

    @property
    def what(self) -> str:
        return (self.kind or "not yet known").replace("_", " ").capitalize()

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status.replace("_", " ").capitalize())

    def with_clocks(self, now: datetime) -> IncidentRow:
        """Its response clocks as they stand at ``now``."""
        if self.reported_at is None:
            return self
        due = {
            ResponseClock.ACKNOWLEDGE: self.acknowledge_due_at,
            ResponseClock.ALLOCATE: self.allocate_due_at,
            ResponseClock.FIRST_CONTACT: self.first_contact_due_at,
            ResponseClock.FIRST_VISIT: self.first_visit_due_at,
        }
        done = {
            ResponseClock.ACKNOWLEDGE: self.acknowledged_at,
            ResponseClock.ALLOCATE: self.allocated_at,
            ResponseClock.FIRST_CONTACT: self.first_contact_at,
            ResponseClock.FIRST_VISIT: self.first_visit_at,
        }
        known = {clock: at for clock, at in due.items() if at is not None}
        self.clocks = readings(self.reported_at, known, done, now)
        return self


@dataclass(frozen=True)
class Allocation:
    ep_id: str
    starts_at: datetime
    is_named_ep: bool


@dataclass(frozen=True)
class Displaced:
    appointment_id: uuid.UUID
    ep_id: str
    moved_to: datetime | None
    moved_until: datetime | None
    moved_to_ep: str | None


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    actor: str
    what: str


# why a person was told, as the coordinator reads it (eps_contracts.notifications.Purpose)
PURPOSE_LABELS = {
    "incident_reported": "Incident reported",
    "incident_escalated": "Escalated to them",
    "eps_allocated": "EP allocated",
    "target_breached": "Target breached",
    "left_unassigned": "Left unassigned",
}


@dataclass(frozen=True)
class Notification:
    incident_id: uuid.UUID
    recipient: str
    channel: str
    purpose: str
    status: str
    detail: str | None
    at: datetime

    @property
    def why(self) -> str:
        return PURPOSE_LABELS.get(self.purpose, self.purpose.replace("_", " ").capitalize())


@dataclass
class IncidentDetail:
    incident: IncidentRow
    allocations: list[Allocation]
    displaced: list[Displaced]
    timeline: list[TimelineLine]
    notifications: list[Notification]


@dataclass(frozen=True)
class EpAssignment:
    incident_id: uuid.UUID
    school_urn: str | None
    kind: str | None
    level: int | None
    starts_at: datetime
    status: str
    coordinator: str | None


@dataclass(frozen=True)
class RotaGap:
    starts_at: datetime
    ends_at: datetime


_COLUMNS = """incident_id, school_urn, kind, level, occurred_at, reported_at, pupils_affected,
    staff_affected, assigned_to, status, acknowledged_by, acknowledged_at, allocated_at, ep_ids,
    shortfall, shortfall_reason, first_contact_at, first_visit_at, review_on, closed_at,
    breaches, unassigned_reason, acknowledge_due_at, allocate_due_at, first_contact_due_at,
    first_visit_due_at"""


def _row(record: asyncpg.Record) -> IncidentRow:
    columns: dict[str, Any] = dict(record.items())
    return IncidentRow(**columns)


async def open_incidents(conn: asyncpg.Connection, tenant: str) -> list[IncidentRow]:
    """The LA's open incidents, newest first (what was just reported is at the top)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM incidents
             WHERE tenant = $1 AND closed_at IS NULL AND reported_at IS NOT NULL
             ORDER BY reported_at DESC LIMIT 200""",
        tenant,
    )
    return [_row(r) for r in rows]


async def incident(
    conn: asyncpg.Connection, tenant: str, incident_id: uuid.UUID
) -> IncidentDetail | None:
    found = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM incidents WHERE incident_id = $1 AND tenant = $2",
        incident_id,
        tenant,
    )
    if found is None:
        return None
    allocations = await conn.fetch(
        """SELECT ep_id, starts_at, is_named_ep FROM allocations
            WHERE incident_id = $1 AND tenant = $2 ORDER BY starts_at, ep_id""",
        incident_id,
        tenant,
    )
    displaced = await conn.fetch(
        """SELECT d.appointment_id, d.ep_id, m.starts_at AS moved_to, m.ends_at AS moved_until,
                  m.ep_id AS moved_to_ep
             FROM displaced d LEFT JOIN moves m
               ON m.appointment_id = d.appointment_id AND m.tenant = d.tenant
            WHERE d.incident_id = $1 AND d.tenant = $2 ORDER BY m.starts_at NULLS LAST""",
        incident_id,
        tenant,
    )
    timeline = await conn.fetch(
        """SELECT at, actor, what FROM timeline
            WHERE incident_id = $1 AND tenant = $2 ORDER BY at, event_id""",
        incident_id,
        tenant,
    )
    return IncidentDetail(
        _row(found),
        [Allocation(**dict(r)) for r in allocations],
        [Displaced(**dict(r)) for r in displaced],
        [TimelineLine(**dict(r)) for r in timeline],
        await notifications(conn, tenant, incident_id),
    )


async def notifications(
    conn: asyncpg.Connection, tenant: str, incident_id: uuid.UUID | None = None
) -> list[Notification]:
    """What paging sent: about one incident (oldest first), or the LA's latest 100."""
    columns = "incident_id, recipient, channel, purpose, status, detail, at"
    if incident_id is not None:
        rows = await conn.fetch(
            f"""SELECT {columns} FROM notifications
                 WHERE tenant = $1 AND incident_id = $2 ORDER BY at""",
            tenant,
            incident_id,
        )
    else:
        rows = await conn.fetch(
            f"""SELECT {columns} FROM notifications
                 WHERE tenant = $1 ORDER BY at DESC LIMIT 100""",
            tenant,
        )
    return [Notification(**dict(r)) for r in rows]


async def assignments(conn: asyncpg.Connection, tenant: str, ep_id: str) -> list[EpAssignment]:
    """The incidents an EP is going to, soonest first."""
    rows = await conn.fetch(
        """SELECT a.incident_id, i.school_urn, i.kind, i.level, a.starts_at, i.status,
                  coalesce(i.acknowledged_by, i.assigned_to) AS coordinator
             FROM allocations a JOIN incidents i ON i.incident_id = a.incident_id
            WHERE a.tenant = $1 AND i.tenant = $1 AND a.ep_id = $2 AND i.closed_at IS NULL
            ORDER BY a.starts_at""",
        tenant,
        ep_id,
    )
    return [EpAssignment(**dict(r)) for r in rows]


async def rota_gaps(conn: asyncpg.Connection, tenant: str, now: datetime) -> list[RotaGap]:
    rows = await conn.fetch(
        """SELECT starts_at, ends_at FROM rota_gaps WHERE tenant = $1 AND ends_at > $2
            ORDER BY starts_at""",
        tenant,
        now,
    )
    return [RotaGap(**dict(r)) for r in rows]


@dataclass(frozen=True)
class RotaEntry:
    coordinator_id: str
    position: str
    starts_at: datetime
    ends_at: datetime
    is_override: bool


@dataclass(frozen=True)
class OnCall:
    """Incidents' answer to ``GET /incidents/rota``, for the page."""

    primary: str | None
    backup: str | None
    next_at: datetime | None
    next_primary: str | None
    escalation_chain: list[str]
    entries: list[RotaEntry]
    gaps: list[RotaGap]


def on_call(body: dict[str, Any]) -> OnCall:
    def at(value: str) -> datetime:
        return datetime.fromisoformat(value)

    handover = body.get("next_primary") or {}
    return OnCall(
        primary=body.get("primary"),
        backup=body.get("backup"),
        next_at=at(handover["at"]) if handover else None,
        next_primary=handover.get("to"),
        escalation_chain=list(body.get("escalation_chain", [])),
        entries=[
            RotaEntry(
                e["coordinator_id"],
                e["position"],
                at(e["starts_at"]),
                at(e["ends_at"]),
                bool(e["is_override"]),
            )
            for e in body.get("entries", [])
        ],
        gaps=[RotaGap(at(g["starts_at"]), at(g["ends_at"])) for g in body.get("gaps", [])],
    )
