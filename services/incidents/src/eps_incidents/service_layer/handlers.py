"""Service-layer handlers: load, call the domain, save, publish, all in one unit of work.

``now`` comes from the caller's clock (the runtime's injectable clock for HTTP and jobs, the
event's time for events), so tests can drive time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from eps_chassis.errors import NotFound
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.incidents import OnCallRotaGapFound

from eps_incidents.adapters.repository import (
    ConfigurationRepository,
    IncidentRepository,
    RotaRepository,
)
from eps_incidents.domain import commands
from eps_incidents.domain.model import Incident


def _publish(uow: UnitOfWork, incident: Incident) -> None:
    events, incident.events = incident.events, []
    for event in events:
        uow.publish(event)


async def report_incident(
    cmd: commands.ReportIncident, uow: UnitOfWork, now: datetime
) -> uuid.UUID:
    """Record a new incident, assign it to whoever is on call and ask for EPs at once.

    A report already recorded (same report id) is not doubled.
    """
    incidents = IncidentRepository(uow.conn)
    await incidents.lock_report(uow.tenant, cmd.report.report_id)
    existing = await incidents.id_for_report(uow.tenant, cmd.report.report_id)
    if existing is not None:
        return existing
    policy = await ConfigurationRepository(uow.conn).policy(uow.tenant)
    rota = await RotaRepository(uow.conn).rota(uow.tenant, now, now)
    incident = Incident.report_new(uow.tenant, cmd.report, now, policy, rota)
    await incidents.add(incident)
    _publish(uow, incident)
    return incident.incident_id


async def _change(
    uow: UnitOfWork, incident_id: uuid.UUID, change: Callable[[Incident], object]
) -> Incident:
    incidents = IncidentRepository(uow.conn)
    incident = await incidents.get(uow.tenant, incident_id)
    if incident is None:
        raise NotFound("no such incident")
    change(incident)
    await incidents.update(incident)
    _publish(uow, incident)
    return incident


async def acknowledge_incident(
    cmd: commands.AcknowledgeIncident, uow: UnitOfWork, now: datetime
) -> Incident:
    return await _change(
        uow,
        cmd.incident_id,
        lambda i: i.acknowledge(
            cmd.acknowledged_by, now, may_act_for_anyone=cmd.may_act_for_anyone
        ),
    )


async def record_fast_track_allocation(
    cmd: commands.RecordFastTrackAllocation, uow: UnitOfWork
) -> Incident:
    return await _change(
        uow,
        cmd.incident_id,
        lambda i: i.record_allocation(
            cmd.eps, cmd.shortfall, cmd.allocated_at, cmd.shortfall_reason, cmd.attempt
        ),
    )


async def request_missing_eps(
    cmd: commands.RequestMissingEps, uow: UnitOfWork, now: datetime
) -> Incident:
    """Publish a new fast-track request (next attempt) for the EPs the level still needs."""
    return await _change(uow, cmd.incident_id, lambda i: i.request_more_eps(now))


async def record_first_contact(
    cmd: commands.RecordFirstContact, uow: UnitOfWork, now: datetime
) -> Incident:
    return await _change(
        uow,
        cmd.incident_id,
        lambda i: i.record_first_contact(cmd.made_at, now, cmd.made_by, cmd.recorded_by),
    )


async def record_visit(cmd: commands.RecordVisit, uow: UnitOfWork, now: datetime) -> Incident:
    return await _change(
        uow, cmd.incident_id, lambda i: i.record_visit(cmd.visited_at, cmd.ep_ids, now)
    )


async def plan_follow_up(cmd: commands.PlanFollowUp, uow: UnitOfWork, now: datetime) -> Incident:
    return await _change(
        uow, cmd.incident_id, lambda i: i.plan_follow_up(cmd.review_on, cmd.plan, now)
    )


async def close_incident(cmd: commands.CloseIncident, uow: UnitOfWork, now: datetime) -> Incident:
    return await _change(uow, cmd.incident_id, lambda i: i.close(cmd.summary, now))


# --- time-driven work (called by the periodic jobs, one tenant per unit of work) ----------


async def escalate_unacknowledged(uow: UnitOfWork, now: datetime) -> int:
    """Hand each incident nobody acknowledged in time to the next person on its chain."""
    incidents = IncidentRepository(uow.conn)
    escalated = 0
    for incident in await incidents.lock_due(uow.tenant, "escalate_at", now):
        if incident.escalate_if_due(now):
            escalated += 1
        await incidents.update(incident)
        _publish(uow, incident)
    return escalated


async def report_breached_targets(uow: UnitOfWork, now: datetime) -> int:
    """Publish a breach for each response target that has passed without being met."""
    incidents = IncidentRepository(uow.conn)
    breaches = 0
    for incident in await incidents.lock_due(uow.tenant, "next_due_at", now):
        breaches += len(incident.check_breaches(now))
        await incidents.update(incident)
        _publish(uow, incident)
    return breaches


async def report_rota_gaps(uow: UnitOfWork, now: datetime) -> int:
    """Publish each gap in the on-call rota once, as soon as it comes within the look-ahead.

    A gap overlapping one already reported is the same gap seen again (its ends move as the
    look-ahead window slides), so it is not reported twice.
    """
    policy = await ConfigurationRepository(uow.conn).policy(uow.tenant)
    until = now + policy.rota_gap_lookahead
    rotas = RotaRepository(uow.conn)
    rota = await rotas.rota(uow.tenant, now, until)
    found = 0
    for gap in rota.gaps(now, until):
        if await rotas.record_gap(uow.tenant, gap.starts_at, gap.ends_at, now):
            uow.publish(
                OnCallRotaGapFound(tenant=uow.tenant, starts_at=gap.starts_at, ends_at=gap.ends_at)
            )
            found += 1
    return found
