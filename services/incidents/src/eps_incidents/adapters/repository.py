"""Persistence of incidents, LA configuration and the rota. Every query is scoped to a tenant."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from eps_contracts.incidents import IncidentReport, ResponseClock
from eps_contracts.scheduling import AllocatedEp

from eps_incidents.domain.model import Escalation, FollowUp, Incident, IncidentStatus, Visit
from eps_incidents.domain.policy import IncidentPolicy, LevelTargets, Target
from eps_incidents.domain.rota import Rota, RotaEntry, RotaPosition

DEFAULTS = "*"  # the configuration rows every local authority inherits


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


class IncidentRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_report(self, tenant: str, report_id: uuid.UUID) -> None:
        """Serialise two submissions of one report (an HTTP retry racing the upstream event)."""
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"incident-report:{tenant}:{report_id}"
        )

    async def id_for_report(self, tenant: str, report_id: uuid.UUID) -> uuid.UUID | None:
        value = await self.conn.fetchval(
            "SELECT incident_id FROM incidents WHERE tenant = $1 AND report_id = $2",
            tenant,
            report_id,
        )
        return value if isinstance(value, uuid.UUID) else None

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

    async def update(self, incident: Incident) -> None:
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

    async def get(
        self, tenant: str, incident_id: uuid.UUID, *, lock: bool = True
    ) -> Incident | None:
        row = await self.conn.fetchrow(
            "SELECT incident_id, tenant, status, state FROM incidents"
            " WHERE tenant = $1 AND incident_id = $2" + (" FOR UPDATE" if lock else ""),
            tenant,
            incident_id,
        )
        return incident_from(row[0], row[1], row[2], row[3]) if row is not None else None

    async def open_incidents(self, tenant: str) -> list[Incident]:
        rows = await self.conn.fetch(
            "SELECT incident_id, tenant, status, state FROM incidents"
            " WHERE tenant = $1 AND status <> 'closed' ORDER BY reported_at",
            tenant,
        )
        return [incident_from(*r) for r in rows]

    async def lock_due(self, tenant: str, column: str, now: datetime) -> list[Incident]:
        """Incidents whose ``escalate_at`` or ``next_due_at`` has come, locked (others skip)."""
        assert column in ("escalate_at", "next_due_at")
        rows = await self.conn.fetch(
            "SELECT incident_id, tenant, status, state FROM incidents"
            f" WHERE tenant = $1 AND {column} <= $2 ORDER BY {column}"
            " FOR UPDATE SKIP LOCKED",
            tenant,
            now,
        )
        return [incident_from(*r) for r in rows]

    async def tenants_due(self, column: str, now: datetime) -> list[str]:
        """The local authorities with incidents due for a job (the job then works per tenant)."""
        assert column in ("escalate_at", "next_due_at")
        rows = await self.conn.fetch(
            f"SELECT DISTINCT tenant FROM incidents WHERE {column} <= $1", now
        )
        return [r[0] for r in rows]


class ConfigurationRepository:
    """The LA's targets and policy; a tenant without its own rows inherits the defaults."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def policy(self, tenant: str) -> IncidentPolicy:
        row = await self.conn.fetchrow(
            "SELECT acknowledge_within_minutes, principal_ep_id, rota_gap_lookahead_hours"
            " FROM incident_policy WHERE tenant = ANY($1::text[])"
            " ORDER BY tenant = $2 LIMIT 1",  # the tenant's own row before the defaults
            [tenant, DEFAULTS],
            DEFAULTS,
        )
        assert row is not None, "the default policy row is missing (migration 0001)"
        levels = await self.conn.fetch(
            "SELECT DISTINCT ON (level) * FROM level_targets WHERE tenant = ANY($1::text[])"
            " ORDER BY level, tenant = $2",
            [tenant, DEFAULTS],
            DEFAULTS,
        )
        return IncidentPolicy(
            acknowledge_within=timedelta(minutes=row["acknowledge_within_minutes"]),
            principal_ep_id=row["principal_ep_id"],
            rota_gap_lookahead=timedelta(hours=row["rota_gap_lookahead_hours"]),
            levels={r["level"]: _level_from_row(r) for r in levels},
        )

    async def set_policy(
        self,
        tenant: str,
        acknowledge_within_minutes: int,
        principal_ep_id: str | None,
        rota_gap_lookahead_hours: int,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO incident_policy VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE"
            " SET acknowledge_within_minutes = $2, principal_ep_id = $3,"
            " rota_gap_lookahead_hours = $4",
            tenant,
            acknowledge_within_minutes,
            principal_ep_id,
            rota_gap_lookahead_hours,
        )

    async def set_level_targets(self, tenant: str, t: LevelTargets) -> None:
        await self.conn.execute(
            "INSERT INTO level_targets VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (tenant, level) DO UPDATE SET eps_needed = $3, on_site = $4,"
            " senior_lead_required = $5, response_minutes = $6, allocate_within_minutes = $7,"
            " first_contact_within_minutes = $8, first_contact_same_day = $9,"
            " first_visit_within_minutes = $10",
            tenant,
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

    async def configured_tenants(self) -> list[str]:
        """Local authorities that have a rota or their own policy (for the rota-gap job)."""
        rows = await self.conn.fetch(
            "SELECT tenant FROM incident_policy WHERE tenant <> $1"
            " UNION SELECT DISTINCT tenant FROM rota_entries",
            DEFAULTS,
        )
        return sorted(r[0] for r in rows)


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


class RotaRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, tenant: str, entry: RotaEntry) -> uuid.UUID:
        entry_id = uuid.uuid4()
        await self.conn.execute(
            "INSERT INTO rota_entries VALUES ($1, $2, $3, $4, $5, $6, $7)",
            entry_id,
            tenant,
            entry.coordinator_id,
            str(entry.position),
            entry.starts_at,
            entry.ends_at,
            entry.is_override,
        )
        return entry_id

    async def rota(self, tenant: str, start: datetime, end: datetime) -> Rota:
        """The entries overlapping [start, end]."""
        rows = await self.conn.fetch(
            "SELECT coordinator_id, position, starts_at, ends_at, is_override FROM rota_entries"
            " WHERE tenant = $1 AND starts_at <= $3 AND ends_at > $2",
            tenant,
            start,
            end,
        )
        return Rota(RotaEntry(r[0], RotaPosition(r[1]), r[2], r[3], r[4]) for r in rows)

    async def record_gap(
        self, tenant: str, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> bool:
        """True when no gap overlapping this one had been reported (each is reported once)."""
        value = await self.conn.fetchval(
            "INSERT INTO rota_gaps_reported SELECT $1, $2, $3, $4 WHERE NOT EXISTS ("
            " SELECT 1 FROM rota_gaps_reported WHERE tenant = $1 AND starts_at < $3"
            " AND ends_at > $2) ON CONFLICT DO NOTHING RETURNING true",
            tenant,
            starts_at,
            ends_at,
            now,
        )
        return value is True
