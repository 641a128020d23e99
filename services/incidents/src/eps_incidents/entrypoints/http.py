"""HTTP entrypoints for the on-call coordinators and the principal and senior EPs."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from eps_chassis.access import audited_access
from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.common import PersonId
from eps_contracts.incidents import IncidentReport
from fastapi import APIRouter, Depends, Header, Path
from pydantic import AwareDatetime, Field

from eps_incidents.adapters.repository import (
    ConfigurationRepository,
    IncidentRepository,
    RotaRepository,
)
from eps_incidents.domain import commands
from eps_incidents.domain.model import Incident
from eps_incidents.domain.policy import LONDON, LevelTargets, Target
from eps_incidents.domain.rota import RotaEntry, RotaPosition
from eps_incidents.service_layer import handlers

router = APIRouter(prefix="/incidents", tags=["incidents"])

RESPONDERS = require_roles(Role.COORDINATOR, Role.SENIOR_EP, Role.PRINCIPAL_EP)
MANAGERS = require_roles(Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)
CONFIGURERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)


# --- request bodies (strict: invalid input -> 422 naming the field) ------------------------


class FirstContactBody(ContractModel):
    made_at: AwareDatetime
    made_by: PersonId | None = Field(
        None,
        description="Who made the contact (an EP, or the coordinator). Not given and no EP"
        " allocated: the caller.",
    )


class VisitBody(ContractModel):
    visited_at: AwareDatetime
    ep_ids: tuple[PersonId, ...] = Field(min_length=1)


class FollowUpBody(ContractModel):
    review_on: date
    plan: str = Field(min_length=1, max_length=4000)


class CloseBody(ContractModel):
    summary: str = Field(min_length=1, max_length=8000)


class RotaEntryBody(ContractModel):
    coordinator_id: PersonId
    position: RotaPosition
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    is_override: bool = False


class PolicyBody(ContractModel):
    acknowledge_within_minutes: int = Field(gt=0, le=24 * 60)
    principal_ep_id: PersonId | None
    rota_gap_lookahead_hours: int = Field(gt=0, le=24 * 31)


class LevelTargetsBody(ContractModel):
    eps_needed: int = Field(gt=0, le=20)
    on_site: bool
    senior_lead_required: bool
    response_minutes: int = Field(gt=0, le=12 * 60)
    allocate_within_minutes: int = Field(gt=0)
    first_contact_within_minutes: int = Field(gt=0)
    first_contact_same_day: bool
    first_visit_within_minutes: int | None = Field(None, gt=0)


# --- views -----------------------------------------------------------------------------


def _local(value: datetime | None) -> str | None:
    return value.astimezone(LONDON).isoformat() if value is not None else None


def incident_view(incident: Incident, now: datetime) -> dict[str, Any]:
    report = incident.report
    return {
        "incident_id": str(incident.incident_id),
        "status": incident.status.value,
        "school_urn": report.school_urn,
        "kind": report.kind.value,
        "level": report.level,
        "occurred_at": _local(report.occurred_at),
        "reported_at": _local(incident.reported_at),
        "reported_by": report.reported_by,
        "pupils_affected": report.pupils_affected,
        "staff_affected": report.staff_affected,
        "description": report.description,
        "assigned_to": incident.assigned_to,
        "escalation_chain": list(incident.chain),
        "escalations": [
            {"at": _local(e.at), "from": e.from_person, "to": e.to_person, "reason": e.reason}
            for e in incident.escalations
        ],
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": _local(incident.acknowledged_at),
        "allocated_eps": [
            {
                "ep_id": e.ep_id,
                "starts_at": _local(e.starts_at),
                "is_named_ep": e.is_named_ep,
                "appointment_id": str(e.appointment_id),
            }
            for e in incident.allocated_eps
        ],
        "eps_needed": incident.targets.eps_needed,
        "eps_missing": incident.eps_missing,
        "shortfall": incident.shortfall,
        "shortfall_reason": incident.shortfall_reason,
        "answered_at": _local(incident.answered_at),
        "fast_track_attempt": incident.fast_track_attempt,
        "awaiting_fast_track_answer": incident.awaiting_answer,
        "first_contact_at": _local(incident.first_contact_at),
        "first_contact_by": incident.first_contact_by,
        "clocks": [
            {
                "clock": c.clock.value,
                "due_at": _local(c.due_at),
                "done_at": _local(c.done_at),
                "state": c.state.value,
                "elapsed_minutes": int(c.elapsed.total_seconds() // 60),
            }
            for c in incident.clocks(now)
        ],
        "breaches": sorted(incident.breaches),
        "visits": [{"at": _local(v.at), "ep_ids": list(v.ep_ids)} for v in incident.visits],
        "follow_up": (
            {"review_on": incident.follow_up.review_on.isoformat(), "plan": incident.follow_up.plan}
            if incident.follow_up
            else None
        ),
        "closed_at": _local(incident.closed_at),
        "summary": incident.summary,
    }


# --- incidents -----------------------------------------------------------------------------


@router.post("", status_code=201)
async def report_incident(
    body: IncidentReport = json_body(IncidentReport),
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        incident_id = await handlers.report_incident(
            commands.ReportIncident(body), uow, runtime.clock()
        )
        await record_access(
            uow.conn, principal, action="report", resource=f"incident/{incident_id}"
        )
    return {"incident_id": str(incident_id)}


@router.get("")
async def open_incidents(
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> dict[str, Any]:
    """Open incidents, oldest first, with their response clocks and allocated EPs."""
    now = runtime.clock()
    async with runtime.uow(MessageContext.of(principal)) as uow:
        incidents = await IncidentRepository(uow.conn).open_incidents(principal.tenant)
        await record_access(
            uow.conn, principal, action="list", resource="incidents?open", purpose=x_purpose
        )
    return {"incidents": [incident_view(i, now) for i in incidents]}


@router.get("/{incident_id}")
async def read_incident(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> dict[str, Any]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        incident = await IncidentRepository(uow.conn).get(principal.tenant, incident_id, lock=False)
        await record_access(
            uow.conn,
            principal,
            action="read",
            resource=f"incident/{incident_id}",
            purpose=x_purpose,
            outcome="allowed" if incident is not None else "not_found",
        )
    if incident is None:
        raise NotFound("no such incident")
    return incident_view(incident, runtime.clock())


async def _act(
    runtime: ServiceRuntime,
    principal: Principal,
    incident_id: uuid.UUID,
    action: str,
    handle: Any,
) -> dict[str, Any]:
    """Run one lifecycle step; audit it (a refused step too, with why it was refused)."""
    now = runtime.clock()
    async with audited_access(
        runtime.uow, principal, action=action, resource=f"incident/{incident_id}"
    ) as access:
        incident = await handle(access.uow, now)
    return incident_view(incident, now)


@router.post("/{incident_id}/acknowledge")
async def acknowledge_incident(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.AcknowledgeIncident(
        incident_id,
        acknowledged_by=principal.subject,
        may_act_for_anyone=principal.role in (Role.PRINCIPAL_EP, Role.SENIOR_EP),
    )
    return await _act(
        runtime,
        principal,
        incident_id,
        "acknowledge",
        lambda uow, now: handlers.acknowledge_incident(cmd, uow, now),
    )


@router.post("/{incident_id}/fast-track-requests", status_code=202)
async def request_missing_eps(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Ask scheduling again for the EPs the level still needs (those going are left out).

    409 when the incident is closed, when no EP is missing, or while scheduling has not yet
    answered the previous request. Scheduling's answer arrives on the fast track and shows in
    the incident (``allocated_eps``, ``eps_missing``, ``shortfall_reason``).
    """
    cmd = commands.RequestMissingEps(incident_id)
    return await _act(
        runtime,
        principal,
        incident_id,
        "request_missing_eps",
        lambda uow, now: handlers.request_missing_eps(cmd, uow, now),
    )


@router.post("/{incident_id}/first-contact")
async def record_first_contact(
    incident_id: uuid.UUID,
    body: FirstContactBody = json_body(FirstContactBody),
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.RecordFirstContact(
        incident_id, body.made_at, made_by=body.made_by, recorded_by=principal.subject
    )
    return await _act(
        runtime,
        principal,
        incident_id,
        "record_first_contact",
        lambda uow, now: handlers.record_first_contact(cmd, uow, now),
    )


@router.post("/{incident_id}/visits")
async def record_visit(
    incident_id: uuid.UUID,
    body: VisitBody = json_body(VisitBody),
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.RecordVisit(incident_id, body.visited_at, body.ep_ids)
    return await _act(
        runtime,
        principal,
        incident_id,
        "record_visit",
        lambda uow, now: handlers.record_visit(cmd, uow, now),
    )


@router.post("/{incident_id}/follow-up")
async def plan_follow_up(
    incident_id: uuid.UUID,
    body: FollowUpBody = json_body(FollowUpBody),
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.PlanFollowUp(incident_id, body.review_on, body.plan)
    return await _act(
        runtime,
        principal,
        incident_id,
        "plan_follow_up",
        lambda uow, now: handlers.plan_follow_up(cmd, uow, now),
    )


@router.post("/{incident_id}/close")
async def close_incident(
    incident_id: uuid.UUID,
    body: CloseBody = json_body(CloseBody),
    principal: Principal = RESPONDERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.CloseIncident(incident_id, body.summary)
    return await _act(
        runtime,
        principal,
        incident_id,
        "close",
        lambda uow, now: handlers.close_incident(cmd, uow, now),
    )


# --- rota and configuration -------------------------------------------------------------------


@router.post("/rota/entries", status_code=201)
async def add_rota_entry(
    body: RotaEntryBody = json_body(RotaEntryBody),
    principal: Principal = MANAGERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    entry = RotaEntry(
        body.coordinator_id, body.position, body.starts_at, body.ends_at, body.is_override
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        entry_id = await RotaRepository(uow.conn).add(principal.tenant, entry)
    return {"entry_id": str(entry_id)}


@router.put("/configuration/policy")
async def set_policy(
    body: PolicyBody = json_body(PolicyBody),
    principal: Principal = CONFIGURERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await ConfigurationRepository(uow.conn).set_policy(
            principal.tenant,
            body.acknowledge_within_minutes,
            body.principal_ep_id,
            body.rota_gap_lookahead_hours,
        )
    return body.model_dump(mode="json")


@router.put("/configuration/levels/{level}")
async def set_level_targets(
    level: int = Path(ge=1, le=3, description="The incident level, 1 to 3."),
    body: LevelTargetsBody = json_body(LevelTargetsBody),
    principal: Principal = CONFIGURERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    def minutes(value: int) -> timedelta:
        return timedelta(minutes=value)

    targets = LevelTargets(
        level=level,
        eps_needed=body.eps_needed,
        on_site=body.on_site,
        senior_lead_required=body.senior_lead_required,
        response_minutes=body.response_minutes,
        allocate=Target(minutes(body.allocate_within_minutes)),
        first_contact=Target(
            minutes(body.first_contact_within_minutes), body.first_contact_same_day
        ),
        first_visit=(
            Target(minutes(body.first_visit_within_minutes))
            if body.first_visit_within_minutes is not None
            else None
        ),
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await ConfigurationRepository(uow.conn).set_level_targets(principal.tenant, targets)
    return {"level": level, **body.model_dump(mode="json")}
