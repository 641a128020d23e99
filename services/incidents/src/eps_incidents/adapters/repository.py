"""Persistence of incidents, the on-call rota and the LA's configuration.

Each repository is an abstract port (what the service layer needs) and its PostgreSQL adapter,
bound to one unit of work: its transaction and its local authority. Tests use in-memory fakes
(``tests/support/fakes/incidents.py``). The jobs' cross-tenant queries (which local authorities
have work due) are plain functions taking ``(conn, now)``.
"""

from __future__ import annotations

import abc
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from eps_chassis.unit_of_work import PostgresRepository
from eps_contracts.incidents import IncidentReport, ResponseClock
from eps_contracts.scheduling import AllocatedEp

from eps_incidents.domain.model import Escalation, FollowUp, Incident, IncidentStatus, Visit
from eps_incidents.domain.policy import IncidentPolicy, LevelTargets, Target
from eps_incidents.domain.rota import Rota, RotaEntry, RotaPosition

DEFAULTS = "*"  # the configuration rows every local authority inherits


class IncidentRepository(abc.ABC):
    """One local authority's incidents. Incidents loaded or added are tracked by the unit of
    work, which publishes the events they record."""

    @abc.abstractmethod
    async def lock_report(self, report_id: uuid.UUID) -> None:
        """Serialise two submissions of one report (an HTTP retry racing the upstream event)."""

    @abc.abstractmethod
    async def id_for_report(self, report_id: uuid.UUID) -> uuid.UUID | None:
        """The incident a report already became, if any."""

    @abc.abstractmethod
    async def add(self, incident: Incident) -> None: ...

    @abc.abstractmethod
    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        """The incident, locked for this transaction."""

    @abc.abstractmethod
    async def save(self, incident: Incident) -> None:
        """Keep an incident's new state (and when its jobs must look at it again)."""

    @abc.abstractmethod
    async def due_for_escalation(self, now: datetime) -> list[Incident]:
        """Incidents whose assignee had to acknowledge by ``now``, locked (others skip them)."""

    @abc.abstractmethod
    async def due_for_target_check(self, now: datetime) -> list[Incident]:
        """Incidents with a response target due by ``now`` neither met nor reported as
        breached, locked (others skip them)."""


class RotaRepository(abc.ABC):
    """The local authority's on-call rota, and the gaps in it already reported."""

    @abc.abstractmethod
    async def add(self, entry: RotaEntry) -> uuid.UUID: ...

    @abc.abstractmethod
    async def rota(self, start: datetime, end: datetime) -> Rota:
        """The entries overlapping [start, end]."""

    @abc.abstractmethod
    async def record_gap(self, starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
        """True when no gap overlapping this one had been reported (each is reported once)."""


class ConfigurationRepository(abc.ABC):
    """The LA's policy and level targets; one without its own inherits the defaults."""

    @abc.abstractmethod
    async def policy(self) -> IncidentPolicy: ...

    @abc.abstractmethod
    async def set_policy(
        self, acknowledge_within: timedelta, principal_ep_id: str | None, lookahead: timedelta
    ) -> None: ...

    @abc.abstractmethod
    async def set_level_targets(self, levels: tuple[LevelTargets, ...]) -> None: ...


async def tenants_due_for_escalation(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with an incident to escalate (the escalation job's round)."""
    rows = await conn.fetch("SELECT DISTINCT tenant FROM incidents WHERE escalate_at <= $1", now)
    return [r[0] for r in rows]


async def tenants_with_targets_due(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with a response target due (the breach job's round)."""
    rows = await conn.fetch("SELECT DISTINCT tenant FROM incidents WHERE next_due_at <= $1", now)
    return [r[0] for r in rows]


async def tenants_with_a_rota(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities that have a rota or their own policy (the rota-gap job's round)."""
    rows = await conn.fetch(
        "SELECT tenant FROM incident_policy WHERE tenant <> $1"
        " UNION SELECT DISTINCT tenant FROM rota_entries",
        DEFAULTS,
    )
    return sorted(r[0] for r in rows)


class PostgresIncidentRepository(IncidentRepository, PostgresRepository):
    async def lock_report(self, report_id: uuid.UUID) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"incident-report:{self.tenant}:{report_id}",
        )

    async def id_for_report(self, report_id: uuid.UUID) -> uuid.UUID | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, incident_id FROM incidents WHERE report_id = $1", report_id
        )
        row = self.owned(row, "incident report", report_id, field="report_id")
        return row["incident_id"] if row is not None else None

    async def add(self, incident: Incident) -> None:
        await self.conn.execute(
            "INSERT INTO incidents (incident_id, tenant, report_id, school_urn, level, status,"
            " reported_at, escalate_at, next_due_at, state)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            incident.incident_id,
            incident.tenant,
            incident.report.report_id,
            incident.report.school_urn,
            incident.report.level,
            str(incident.status),
            incident.reported_at,
            incident.escalation_due_at,
            incident.next_clock_due_at,
            incident_state(incident),
        )
        self.uow.track(incident)

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        row = await self.conn.fetchrow(
            "SELECT incident_id, tenant, status, state FROM incidents"
            " WHERE incident_id = $1 FOR UPDATE",
            incident_id,
        )
        row = self.owned(row, "incident", incident_id, field="incident_id")
        return self.uow.track(incident_from(*row)) if row is not None else None

    async def save(self, incident: Incident) -> None:
        await self.conn.execute(
            "UPDATE incidents SET status = $3, escalate_at = $4, next_due_at = $5, state = $6,"
            " updated_at = clock_timestamp() WHERE tenant = $1 AND incident_id = $2",
            incident.tenant,
            incident.incident_id,
            str(incident.status),
            incident.escalation_due_at,
            incident.next_clock_due_at,
            incident_state(incident),
        )

    async def due_for_escalation(self, now: datetime) -> list[Incident]:
        return await self._due("escalate_at", now)

    async def due_for_target_check(self, now: datetime) -> list[Incident]:
        return await self._due("next_due_at", now)

    async def _due(self, column: str, now: datetime) -> list[Incident]:
        rows = await self.conn.fetch(
            "SELECT incident_id, tenant, status, state FROM incidents"
            f" WHERE tenant = $1 AND {column} <= $2 ORDER BY {column}"
            " FOR UPDATE SKIP LOCKED",
            self.tenant,
            now,
        )
        return [self.uow.track(incident_from(*r)) for r in rows]


class PostgresRotaRepository(RotaRepository, PostgresRepository):
    async def add(self, entry: RotaEntry) -> uuid.UUID:
        entry_id = uuid.uuid4()
        await self.conn.execute(
            "INSERT INTO rota_entries VALUES ($1, $2, $3, $4, $5, $6, $7)",
            entry_id,
            self.tenant,
            entry.coordinator_id,
            str(entry.position),
            entry.starts_at,
            entry.ends_at,
            entry.is_override,
        )
        return entry_id

    async def rota(self, start: datetime, end: datetime) -> Rota:
        rows = await self.conn.fetch(
            "SELECT coordinator_id, position, starts_at, ends_at, is_override FROM rota_entries"
            " WHERE tenant = $1 AND starts_at <= $3 AND ends_at > $2",
            self.tenant,
            start,
            end,
        )
        return Rota(RotaEntry(r[0], RotaPosition(r[1]), r[2], r[3], r[4]) for r in rows)

    async def record_gap(self, starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
        value = await self.conn.fetchval(
            "INSERT INTO rota_gaps_reported SELECT $1, $2, $3, $4 WHERE NOT EXISTS ("
            " SELECT 1 FROM rota_gaps_reported WHERE tenant = $1 AND starts_at < $3"
            " AND ends_at > $2) ON CONFLICT DO NOTHING RETURNING true",
            self.tenant,
            starts_at,
            ends_at,
            now,
        )
        return value is True


class PostgresConfigurationRepository(ConfigurationRepository, PostgresRepository):
    async def policy(self) -> IncidentPolicy:
        row = await self.conn.fetchrow(
            "SELECT acknowledge_within_minutes, principal_ep_id, rota_gap_lookahead_hours"
            " FROM incident_policy WHERE tenant = ANY($1::text[])"
            " ORDER BY tenant = $2 LIMIT 1",  # the tenant's own row before the defaults
            [self.tenant, DEFAULTS],
            DEFAULTS,
        )
        assert row is not None, "the default policy row is missing (migration 0001)"
        levels = await self.conn.fetch(
            "SELECT DISTINCT ON (level) * FROM level_targets WHERE tenant = ANY($1::text[])"
            " ORDER BY level, tenant = $2",
            [self.tenant, DEFAULTS],
            DEFAULTS,
        )
        return IncidentPolicy(
            acknowledge_within=timedelta(minutes=row["acknowledge_within_minutes"]),
            principal_ep_id=row["principal_ep_id"],
            rota_gap_lookahead=timedelta(hours=row["rota_gap_lookahead_hours"]),
            levels={r["level"]: _level_from_row(r) for r in levels},
        )

    async def set_policy(
        self, acknowledge_within: timedelta, principal_ep_id: str | None, lookahead: timedelta
    ) -> None:
        await self.conn.execute(
            "INSERT INTO incident_policy VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE"
            " SET acknowledge_within_minutes = $2, principal_ep_id = $3,"
            " rota_gap_lookahead_hours = $4",
            self.tenant,
            _minutes(acknowledge_within),
            principal_ep_id,
            int(lookahead.total_seconds() // 3600),
        )

    async def set_level_targets(self, levels: tuple[LevelTargets, ...]) -> None:
        await self.conn.executemany(
            "INSERT INTO level_targets VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (tenant, level) DO UPDATE SET eps_needed = $3, on_site = $4,"
            " senior_lead_required = $5, response_minutes = $6, allocate_within_minutes = $7,"
            " first_contact_within_minutes = $8, first_contact_same_day = $9,"
            " first_visit_within_minutes = $10",
            [
                (
                    self.tenant,
                    t.level,
                    t.eps_needed,
                    t.on_site,
                    t.senior_lead_required,
                    t.response_minutes,
                    _minutes(t.allocate.within),
                    _minutes(t.first_contact.within),
                    t.first_contact.same_day,
                    _minutes(t.first_visit.within) if t.first_visit else None,
                )
                for t in levels
            ],
        )


def _level_from_row(r: asyncpg.Record) -> LevelTargets:
    visit = r["first_visit_within_minutes"]
    return LevelTargets(
        level=r["level"],
        eps_needed=r["eps_needed"],
        on_site=r["on_site"],
        senior_lead_required=r["senior_lead_required"],
        response_minutes=r["response_minutes"],
        allocate=Target(timedelta(minutes=r["allocate_within_minutes"])),
        first_contact=Target(
            timedelta(minutes=r["first_contact_within_minutes"]), r["first_contact_same_day"]
        ),
        first_visit=Target(timedelta(minutes=visit)) if visit is not None else None,
    )


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def _target_state(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    return {"within_minutes": _minutes(target.within), "same_day": target.same_day}


def _target(state: dict[str, Any] | None) -> Target | None:
    if state is None:
        return None
    return Target(timedelta(minutes=state["within_minutes"]), state["same_day"])


def targets_state(t: LevelTargets) -> dict[str, Any]:
    return {
        "level": t.level,
        "eps_needed": t.eps_needed,
        "on_site": t.on_site,
        "senior_lead_required": t.senior_lead_required,
        "response_minutes": t.response_minutes,
        "allocate": _target_state(t.allocate),
        "first_contact": _target_state(t.first_contact),
        "first_visit": _target_state(t.first_visit),
    }


def targets_from(state: dict[str, Any]) -> LevelTargets:
    allocate, first_contact = _target(state["allocate"]), _target(state["first_contact"])
    assert allocate is not None and first_contact is not None
    return LevelTargets(
        level=state["level"],
        eps_needed=state["eps_needed"],
        on_site=state["on_site"],
        senior_lead_required=state["senior_lead_required"],
        response_minutes=state["response_minutes"],
        allocate=allocate,
        first_contact=first_contact,
        first_visit=_target(state["first_visit"]),
    )


def incident_state(i: Incident) -> str:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return json.dumps(
        {
            "report": i.report.model_dump(mode="json"),
            "reported_at": iso(i.reported_at),
            "targets": targets_state(i.targets),
            "acknowledge_within_minutes": _minutes(i.acknowledge_within),
            "chain": list(i.chain),
            "chain_position": i.chain_position,
            "principal_ep_id": i.principal_ep_id,
            "assigned_at": iso(i.assigned_at),
            "escalations": [
                {"at": iso(e.at), "from": e.from_person, "to": e.to_person, "reason": e.reason}
                for e in i.escalations
            ],
            "acknowledged_at": iso(i.acknowledged_at),
            "acknowledged_by": i.acknowledged_by,
            "allocated_eps": [e.model_dump(mode="json") for e in i.allocated_eps],
            "shortfall": i.shortfall,
            "shortfall_reason": i.shortfall_reason,
            "answered_at": iso(i.answered_at),
            "allocated_at": iso(i.allocated_at),
            "fast_track_attempt": i.fast_track_attempt,
            "answered_attempts": sorted(i.answered_attempts),
            "first_contact_at": iso(i.first_contact_at),
            "first_contact_by": i.first_contact_by,
            "visits": [{"at": iso(v.at), "ep_ids": list(v.ep_ids)} for v in i.visits],
            "follow_up": (
                {"review_on": i.follow_up.review_on.isoformat(), "plan": i.follow_up.plan}
                if i.follow_up
                else None
            ),
            "closed_at": iso(i.closed_at),
            "summary": i.summary,
            "breaches": sorted(i.breaches),
        }
    )


def incident_from(incident_id: uuid.UUID, tenant: str, status: str, raw: str) -> Incident:
    s = json.loads(raw)
    reported_at = _dt(s["reported_at"])
    assert reported_at is not None
    follow_up = s["follow_up"]
    answered_at = _dt(s.get("answered_at", s["allocated_at"]))
    return Incident(
        incident_id=incident_id,
        tenant=tenant,
        report=IncidentReport.model_validate_json(json.dumps(s["report"])),
        reported_at=reported_at,
        targets=targets_from(s["targets"]),
        acknowledge_within=timedelta(minutes=s["acknowledge_within_minutes"]),
        chain=tuple(s["chain"]),
        status=IncidentStatus(status),
        chain_position=s["chain_position"],
        principal_ep_id=s.get("principal_ep_id"),  # stored before it was kept: unknown
        assigned_at=_dt(s["assigned_at"]),
        escalations=[
            Escalation(datetime.fromisoformat(e["at"]), e["from"], e["to"], e["reason"])
            for e in s["escalations"]
        ],
        acknowledged_at=_dt(s["acknowledged_at"]),
        acknowledged_by=s["acknowledged_by"],
        allocated_eps=tuple(
            AllocatedEp.model_validate_json(json.dumps(e)) for e in s["allocated_eps"]
        ),
        shortfall=s["shortfall"],
        # state stored before these keys existed: an answer was recorded iff EPs were
        shortfall_reason=s.get("shortfall_reason"),
        answered_at=answered_at,
        allocated_at=_dt(s["allocated_at"]),
        # state stored before repeated requests existed: one request, answered iff answered_at
        fast_track_attempt=s.get("fast_track_attempt", 1),
        answered_attempts=set(s.get("answered_attempts", [1] if answered_at else [])),
        first_contact_at=_dt(s["first_contact_at"]),
        first_contact_by=s.get("first_contact_by"),
        visits=[Visit(datetime.fromisoformat(v["at"]), tuple(v["ep_ids"])) for v in s["visits"]],
        follow_up=(
            FollowUp(date.fromisoformat(follow_up["review_on"]), follow_up["plan"])
            if follow_up
            else None
        ),
        closed_at=_dt(s["closed_at"]),
        summary=s["summary"],
        breaches={ResponseClock(b) for b in s["breaches"]},
    )
