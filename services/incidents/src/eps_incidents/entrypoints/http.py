"""HTTP entrypoints for the on-call coordinators and the principal and senior EPs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from eps_chassis.access import OneRecord, audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.http import Purpose, json_body
from eps_chassis.request_outcomes import request_record
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.common import PersonId
from eps_contracts.incidents import IncidentReport
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, Field

from eps_incidents import views
from eps_incidents.domain import commands
from eps_incidents.domain.policy import IncidentPolicy, LevelTargets, Target
from eps_incidents.domain.rota import RotaPosition
from eps_incidents.service_layer import handlers
from eps_incidents.service_layer.unit_of_work import (
    IncidentsUnitOfWork,
    PostgresIncidentsUnitOfWork,
)
from eps_incidents.views import (
    AddedRotaEntry,
    IncidentReportOutcome,
    IncidentView,
    OnCallView,
    OpenIncidents,
    ReportedIncident,
)

router = APIRouter(prefix="/incidents", tags=["incidents"])

RESPONDERS = require_roles(Role.COORDINATOR, Role.SENIOR_EP, Role.PRINCIPAL_EP)
MANAGERS = require_roles(Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)
CONFIGURERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)
CONFIGURATION_READERS = require_roles(
    Role.COORDINATOR, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN
)


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
    ep_ids: tuple[PersonId, ...] = Field(min_length=1, max_length=20)


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
    acknowledge_within_minutes: int = Field(
        gt=0, le=24 * 60, description="Then the incident escalates to the next person."
    )
    principal_ep_id: PersonId | None = Field(description="The end of every escalation chain.")
    rota_gap_lookahead_hours: int = Field(
        gt=0, le=24 * 31, description="How far ahead gaps in the on-call rota are reported."
    )


WEEK_MINUTES = 7 * 24 * 60  # no response target of an incident is further away


class LevelTargetsBody(ContractModel):
    eps_needed: int = Field(gt=0, le=20)
    on_site: bool = Field(description="False: a telephone consultation, with no visit.")
    senior_lead_required: bool
    response_minutes: int = Field(gt=0, le=12 * 60, description="Blocked in each EP's diary.")
    allocate_within_minutes: int = Field(gt=0, le=WEEK_MINUTES)
    first_contact_within_minutes: int = Field(gt=0, le=WEEK_MINUTES)
    first_contact_same_day: bool = Field(
        description="Due by the end of the London day, but never sooner than the minutes."
    )
    first_visit_within_minutes: int | None = Field(None, gt=0, le=WEEK_MINUTES)


class LevelsBody(ContractModel):
    """The targets of each level of incident (e.g. level 2: two EPs visit within 24 hours)."""

    level_1: LevelTargetsBody
    level_2: LevelTargetsBody
    level_3: LevelTargetsBody


Runtime = ServiceRuntime[PostgresIncidentsUnitOfWork]
INCIDENT = OneRecord("incident", views.incident)
# an upstream report, by the id its sender gave it
REPORT = request_record(
    "incident-report",
    views.report_outcome,
    service="incidents",
    field="report_id",
    record=lambda shown: f"incident/{shown.incident.incident_id}" if shown.incident else None,
)


# --- incidents -----------------------------------------------------------------------------


@router.post("", status_code=201, response_model=ReportedIncident)
async def report_incident(
    principal: Principal = RESPONDERS,
    body: IncidentReport = json_body(IncidentReport),
    runtime: Runtime = Depends(get_runtime),
) -> ReportedIncident:
    async with audited_access(
        runtime.uow, principal, action="report", resource="incidents"
    ) as access:
        incident_id = await handlers.report_incident(commands.ReportIncident(body), access.uow)
        access.resource = f"incident/{incident_id}"
    return ReportedIncident(incident_id=incident_id)


@router.get("", response_model=OpenIncidents)
async def open_incidents(
    principal: Principal = RESPONDERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> OpenIncidents:
    """Open incidents, oldest first, with their response clocks and allocated EPs."""
    async with audited_access(
        runtime.uow, principal, action="list", resource="incidents?open", purpose=x_purpose
    ) as access:
        return await views.open_incidents(access.uow)


@router.get("/rota", response_model=OnCallView)
async def read_on_call(
    principal: Principal = CONFIGURATION_READERS,
    runtime: Runtime = Depends(get_runtime),
    hours: int = Query(48, ge=1, le=24 * 31, description="How far ahead to look."),
) -> OnCallView:
    """Who is on call now and next, the escalation chain, the rota's entries and its gaps."""
    async with audited_access(runtime.uow, principal, action="read", resource="rota") as access:
        return await views.on_call(access.uow, hours)


@router.get("/reports/{report_id}", response_model=IncidentReportOutcome)
async def read_report_outcome(
    report_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> IncidentReportOutcome:
    """What became of a report (from an upstream system on ``eps.upstream.incident-reports.v1``
    or over HTTP), by the ``report_id`` its sender gave it: the incident it became. On Kafka the
    same news is ``eps.incidents.incident-reported.v1`` on ``eps.incidents.incident.v1``, whose
    ``causationid`` is the report's event ``id``."""
    return await REPORT.act(runtime.uow, principal, report_id, action="read", purpose=x_purpose)


@router.get("/{incident_id}", response_model=IncidentView)
async def read_incident(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> IncidentView:
    return await INCIDENT.act(runtime.uow, principal, incident_id, action="read", purpose=x_purpose)


@router.post("/{incident_id}/acknowledge", response_model=IncidentView)
async def acknowledge_incident(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: Runtime = Depends(get_runtime),
) -> IncidentView:
    cmd = commands.AcknowledgeIncident(
        incident_id,
        acknowledged_by=principal.subject,
        may_act_for_anyone=principal.role in (Role.PRINCIPAL_EP, Role.SENIOR_EP),
    )
    return await INCIDENT.act(
        runtime.uow,
        principal,
        incident_id,
        action="acknowledge",
        work=lambda uow: handlers.acknowledge_incident(cmd, uow),
    )


@router.post("/{incident_id}/fast-track-requests", status_code=202, response_model=IncidentView)
async def request_missing_eps(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    runtime: Runtime = Depends(get_runtime),
) -> IncidentView:
    """Ask scheduling again for the EPs the level still needs (those going are left out).

    409 when the incident is closed, when no EP is missing, or while scheduling has not yet
    answered the previous request. Scheduling's answer arrives on the fast track and shows in
    the incident (``allocated_eps``, ``eps_missing``, ``shortfall_reason``).
    """
    cmd = commands.RequestMissingEps(incident_id)
    return await INCIDENT.act(
        runtime.uow,
        principal,
        incident_id,
        action="request_missing_eps",
        work=lambda uow: handlers.request_missing_eps(cmd, uow),
    )


@router.post("/{incident_id}/first-contact", response_model=IncidentView)
async def record_first_contact(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    body: FirstContactBody = json_body(FirstContactBody),
    runtime: Runtime = Depends(get_runtime),
) -> IncidentView:
    cmd = commands.RecordFirstContact(
        incident_id, body.made_at, made_by=body.made_by, recorded_by=principal.subject
    )
    return await INCIDENT.act(
        runtime.uow,
        principal,
        incident_id,
        action="record_first_contact",
        work=lambda uow: handlers.record_first_contact(cmd, uow),
    )


@router.post("/{incident_id}/visits", response_model=IncidentView)
async def record_visit(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    body: VisitBody = json_body(VisitBody),
    runtime: Runtime = Depends(get_runtime),
) -> IncidentView:
    cmd = commands.RecordVisit(incident_id, body.visited_at, body.ep_ids)
    return await INCIDENT.act(
        runtime.uow,
        principal,
        incident_id,
        action="record_visit",
        work=lambda uow: handlers.record_visit(cmd, uow),
    )


@router.post("/{incident_id}/follow-up", response_model=IncidentView)
async def plan_follow_up(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    body: FollowUpBody = json_body(FollowUpBody),
    runtime: Runtime = Depends(get_runtime),
) -> IncidentView:
    cmd = commands.PlanFollowUp(incident_id, body.review_on, body.plan)
    return await INCIDENT.act(
        runtime.uow,
        principal,
        incident_id,
        action="plan_follow_up",
        work=lambda uow: handlers.plan_follow_up(cmd, uow),
    )


@router.post("/{incident_id}/close", response_model=IncidentView)
async def close_incident(
    incident_id: uuid.UUID,
    principal: Principal = RESPONDERS,
    body: CloseBody = json_body(CloseBody),
    runtime: Runtime = Depends(get_runtime),
) -> IncidentView:
    cmd = commands.CloseIncident(incident_id, body.summary)
    return await INCIDENT.act(
        runtime.uow,
        principal,
        incident_id,
        action="close",
        work=lambda uow: handlers.close_incident(cmd, uow),
    )


# --- rota and configuration -------------------------------------------------------------------


@router.post("/rota/entries", status_code=201, response_model=AddedRotaEntry)
async def add_rota_entry(
    principal: Principal = MANAGERS,
    body: RotaEntryBody = json_body(RotaEntryBody),
    runtime: Runtime = Depends(get_runtime),
) -> AddedRotaEntry:
    cmd = commands.AddRotaEntry(
        body.coordinator_id, body.position, body.starts_at, body.ends_at, body.is_override
    )
    async with audited_access(
        runtime.uow, principal, action="add_rota_entry", resource="rota"
    ) as access:
        entry_id = await handlers.add_rota_entry(cmd, access.uow)
        access.resource = f"rota/{entry_id}"
    return AddedRotaEntry(entry_id=entry_id)


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def _policy_body(policy: IncidentPolicy) -> PolicyBody:
    return PolicyBody(
        acknowledge_within_minutes=_minutes(policy.acknowledge_within),
        principal_ep_id=policy.principal_ep_id,
        rota_gap_lookahead_hours=int(policy.rota_gap_lookahead.total_seconds() // 3600),
    )


async def _read_policy(uow: IncidentsUnitOfWork) -> PolicyBody:
    return _policy_body(await uow.configuration.policy())


async def _set_policy(body: PolicyBody, uow: IncidentsUnitOfWork) -> PolicyBody:
    cmd = commands.SetIncidentPolicy(
        body.acknowledge_within_minutes, body.principal_ep_id, body.rota_gap_lookahead_hours
    )
    return _policy_body(await handlers.set_incident_policy(cmd, uow))


configuration_routes(
    router,
    "policy",
    PolicyBody,
    read=_read_policy,
    write=_set_policy,
    readers=CONFIGURATION_READERS,
    writers=CONFIGURERS,
    description="How soon an incident nobody acknowledges escalates, who ends every escalation"
    " chain, and how far ahead gaps in the on-call rota are reported.",
)


def _level_body(targets: LevelTargets) -> LevelTargetsBody:
    return LevelTargetsBody(
        eps_needed=targets.eps_needed,
        on_site=targets.on_site,
        senior_lead_required=targets.senior_lead_required,
        response_minutes=targets.response_minutes,
        allocate_within_minutes=_minutes(targets.allocate.within),
        first_contact_within_minutes=_minutes(targets.first_contact.within),
        first_contact_same_day=targets.first_contact.same_day,
        first_visit_within_minutes=(
            _minutes(targets.first_visit.within) if targets.first_visit else None
        ),
    )


def _level_targets(level: int, body: LevelTargetsBody) -> LevelTargets:
    def within(minutes: int) -> timedelta:
        return timedelta(minutes=minutes)

    return LevelTargets(
        level=level,
        eps_needed=body.eps_needed,
        on_site=body.on_site,
        senior_lead_required=body.senior_lead_required,
        response_minutes=body.response_minutes,
        allocate=Target(within(body.allocate_within_minutes)),
        first_contact=Target(
            within(body.first_contact_within_minutes), body.first_contact_same_day
        ),
        first_visit=(
            Target(within(body.first_visit_within_minutes))
            if body.first_visit_within_minutes is not None
            else None
        ),
    )


def _levels_body(policy: IncidentPolicy) -> LevelsBody:
    return LevelsBody(
        level_1=_level_body(policy.targets_for(1)),
        level_2=_level_body(policy.targets_for(2)),
        level_3=_level_body(policy.targets_for(3)),
    )


async def _read_levels(uow: IncidentsUnitOfWork) -> LevelsBody:
    return _levels_body(await uow.configuration.policy())


async def _set_levels(body: LevelsBody, uow: IncidentsUnitOfWork) -> LevelsBody:
    levels = (body.level_1, body.level_2, body.level_3)
    cmd = commands.SetLevelTargets(
        tuple(_level_targets(n, targets) for n, targets in enumerate(levels, start=1))
    )
    return _levels_body(await handlers.set_level_targets(cmd, uow))


configuration_routes(
    router,
    "levels",
    LevelsBody,
    read=_read_levels,
    write=_set_levels,
    readers=CONFIGURATION_READERS,
    writers=CONFIGURERS,
    description="What each level of incident needs and how fast: the EPs it needs, whether they"
    " go on site (with a senior lead), the time blocked in their diaries, and the targets for"
    " allocating them, the first contact and the first visit. Incidents already reported keep"
    " the targets they were reported under.",
)
