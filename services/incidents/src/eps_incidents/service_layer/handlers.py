"""Service-layer handlers of the incidents service: each takes a command and the unit of work,
loads through its repositories, asks the domain, and saves. The unit of work publishes what the
incidents recorded when it commits.

What time it is comes from the unit of work's clock (the service's, a test's stopped one); an
upstream report and scheduling's answer carry their own time in the command.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from eps_chassis.errors import NotFound
from eps_contracts.incidents import OnCallRotaGapFound

from eps_incidents.domain import commands
from eps_incidents.domain.model import Incident
from eps_incidents.domain.policy import IncidentPolicy
from eps_incidents.domain.rota import RotaEntry
from eps_incidents.service_layer.unit_of_work import IncidentsUnitOfWork


async def _load(uow: IncidentsUnitOfWork, incident_id: uuid.UUID) -> Incident:
    incident = await uow.incidents.get(incident_id)
    if incident is None:
        raise NotFound("no such incident")
    return incident


async def report_incident(cmd: commands.ReportIncident, uow: IncidentsUnitOfWork) -> uuid.UUID:
    """Record a new incident, assign it to whoever is on call and ask for EPs at once.

    A report already recorded (same report id) is not doubled.
    """
    await uow.incidents.lock_report(cmd.report.report_id)
    existing = await uow.incidents.id_for_report(cmd.report.report_id)
    if existing is not None:
        return existing
    now = cmd.reported_at or uow.clock()
    policy = await uow.configuration.policy()
    rota = await uow.rota.rota(now, now)
    incident = Incident.report_new(uow.tenant, cmd.report, now, policy, rota)
    await uow.incidents.add(incident)
    return incident.incident_id


async def acknowledge_incident(cmd: commands.AcknowledgeIncident, uow: IncidentsUnitOfWork) -> None:
    incident = await _load(uow, cmd.incident_id)
    incident.acknowledge(
        cmd.acknowledged_by, uow.clock(), may_act_for_anyone=cmd.may_act_for_anyone
    )
    await uow.incidents.save(incident)


async def record_fast_track_allocation(
    cmd: commands.RecordFastTrackAllocation, uow: IncidentsUnitOfWork
) -> None:
    incident = await _load(uow, cmd.incident_id)
    incident.record_allocation(
        cmd.eps, cmd.shortfall, cmd.allocated_at, cmd.shortfall_reason, cmd.attempt
    )
    await uow.incidents.save(incident)


async def escalate_unreachable(cmd: commands.EscalateUnreachable, uow: IncidentsUnitOfWork) -> bool:
    """Hand the incident to the next person now when the one it waits on could not be paged
    (an incident this service does not hold, or no longer waiting on them, is left alone)."""
    incident = await uow.incidents.get(cmd.incident_id)
    if incident is None or not incident.escalate_unreachable(cmd.person, uow.clock(), cmd.reason):
        return False
    await uow.incidents.save(incident)
    return True


async def request_missing_eps(cmd: commands.RequestMissingEps, uow: IncidentsUnitOfWork) -> None:
    """Publish a new fast-track request (next attempt) for the EPs the level still needs."""
    incident = await _load(uow, cmd.incident_id)
    incident.request_more_eps(uow.clock())
    await uow.incidents.save(incident)


async def record_first_contact(cmd: commands.RecordFirstContact, uow: IncidentsUnitOfWork) -> None:
    incident = await _load(uow, cmd.incident_id)
    incident.record_first_contact(cmd.made_at, uow.clock(), cmd.made_by, cmd.recorded_by)
    await uow.incidents.save(incident)


async def record_visit(cmd: commands.RecordVisit, uow: IncidentsUnitOfWork) -> None:
    incident = await _load(uow, cmd.incident_id)
    incident.record_visit(cmd.visited_at, cmd.ep_ids, uow.clock())
    await uow.incidents.save(incident)


async def plan_follow_up(cmd: commands.PlanFollowUp, uow: IncidentsUnitOfWork) -> None:
    incident = await _load(uow, cmd.incident_id)
    incident.plan_follow_up(cmd.review_on, cmd.plan, uow.clock())
    await uow.incidents.save(incident)


async def close_incident(cmd: commands.CloseIncident, uow: IncidentsUnitOfWork) -> None:
    incident = await _load(uow, cmd.incident_id)
    incident.close(cmd.summary, uow.clock())
    await uow.incidents.save(incident)


# --- the rota and configuration ------------------------------------------------------------


async def add_rota_entry(cmd: commands.AddRotaEntry, uow: IncidentsUnitOfWork) -> uuid.UUID:
    entry = RotaEntry(cmd.coordinator_id, cmd.position, cmd.starts_at, cmd.ends_at, cmd.is_override)
    return await uow.rota.add(entry)


async def set_incident_policy(
    cmd: commands.SetIncidentPolicy, uow: IncidentsUnitOfWork
) -> IncidentPolicy:
    """Configuration, not code: applies to incidents reported from now on (and to the rota
    gaps looked for from now on). Gives the policy now in force."""
    await uow.configuration.set_policy(
        timedelta(minutes=cmd.acknowledge_within_minutes),
        cmd.principal_ep_id,
        timedelta(hours=cmd.rota_gap_lookahead_hours),
    )
    return await uow.configuration.policy()


async def set_level_targets(
    cmd: commands.SetLevelTargets, uow: IncidentsUnitOfWork
) -> IncidentPolicy:
    """Configuration, not code: an incident keeps the targets of its level when it was
    reported; those reported from now on get these. Gives the policy now in force."""
    await uow.configuration.set_level_targets(cmd.levels)
    return await uow.configuration.policy()


# --- time-driven work (the periodic jobs, one local authority per unit of work) -------------


async def escalate_unacknowledged(uow: IncidentsUnitOfWork) -> int:
    """Hand each incident nobody acknowledged in time to the next person on its chain."""
    now, escalated = uow.clock(), 0
    for incident in await uow.incidents.due_for_escalation(now):
        if incident.escalate_if_due(now):
            escalated += 1
        await uow.incidents.save(incident)
    return escalated


async def report_breached_targets(uow: IncidentsUnitOfWork) -> int:
    """Publish a breach for each response target that has passed without being met."""
    now, breaches = uow.clock(), 0
    for incident in await uow.incidents.due_for_target_check(now):
        breaches += len(incident.check_breaches(now))
        await uow.incidents.save(incident)
    return breaches


async def report_rota_gaps(uow: IncidentsUnitOfWork) -> int:
    """Publish each gap in the on-call rota once, as soon as it comes within the look-ahead.

    A gap overlapping one already reported is the same gap seen again (its ends move as the
    look-ahead window slides), so it is not reported twice.
    """
    now = uow.clock()
    until = now + (await uow.configuration.policy()).rota_gap_lookahead
    rota = await uow.rota.rota(now, until)
    found = 0
    for gap in rota.gaps(now, until):
        if await uow.rota.record_gap(gap.starts_at, gap.ends_at, now):
            # the rota is no aggregate: its gap is published by the handler
            uow.publish(
                OnCallRotaGapFound(tenant=uow.tenant, starts_at=gap.starts_at, ends_at=gap.ends_at)
            )
            found += 1
    return found
