"""What the incidents service shows over HTTP: read straight from its tables, as response models
(so the OpenAPI document describes what comes back).

An incident's response clocks are read at the moment of asking (by the service's clock), from
the targets it was reported under. Times are shown on London's clock, with their offset.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated

from eps_chassis.london import LONDON
from eps_chassis.request_outcomes import RequestOutcome, waiting_events
from eps_contracts.incidents import IncidentKind, ResponseClock
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from eps_incidents.adapters.repository import incident_from
from eps_incidents.domain.model import ClockState, Incident, IncidentStatus
from eps_incidents.domain.rota import RotaPosition
from eps_incidents.entrypoints.events import upstream_reports
from eps_incidents.service_layer.unit_of_work import PostgresIncidentsUnitOfWork


def _on_london_clock(moment: datetime) -> str:
    return moment.astimezone(LONDON).isoformat()


LondonTime = Annotated[
    datetime,
    PlainSerializer(_on_london_clock, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An instant shown as London's wall-clock time with its offset (GMT or BST)."""


class EscalationView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: LondonTime
    from_person: str | None = Field(alias="from", description="None: nobody was on call.")
    to: str
    reason: str


class AllocatedEpView(BaseModel):
    ep_id: str
    starts_at: LondonTime
    is_named_ep: bool
    appointment_id: uuid.UUID


class ClockView(BaseModel):
    clock: ResponseClock
    due_at: LondonTime
    done_at: LondonTime | None
    state: ClockState
    elapsed_minutes: int = Field(description="From the report to done, or to now if not done.")


class VisitView(BaseModel):
    at: LondonTime
    ep_ids: list[str]


class FollowUpView(BaseModel):
    review_on: date
    plan: str


class IncidentView(BaseModel):
    """A critical incident: the report, who must act, the EPs going and the response clocks."""

    incident_id: uuid.UUID
    status: IncidentStatus
    school_urn: str
    kind: IncidentKind
    level: int
    occurred_at: LondonTime
    reported_at: LondonTime
    reported_by: str
    pupils_affected: int
    staff_affected: int
    description: str | None
    assigned_to: str | None = Field(description="Who must acknowledge now; None: nobody.")
    escalation_chain: list[str]
    escalations: list[EscalationView]
    acknowledged_by: str | None
    acknowledged_at: LondonTime | None
    allocated_eps: list[AllocatedEpView]
    eps_needed: int
    eps_missing: int = Field(description="EPs the level needs that are not yet allocated.")
    shortfall: int
    shortfall_reason: str | None
    answered_at: LondonTime | None = Field(description="Scheduling's latest answer.")
    fast_track_attempt: int = Field(description="The latest request for EPs sent to scheduling.")
    awaiting_fast_track_answer: bool
    first_contact_at: LondonTime | None
    first_contact_by: str | None
    clocks: list[ClockView]
    breaches: list[ResponseClock]
    visits: list[VisitView]
    follow_up: FollowUpView | None
    closed_at: LondonTime | None
    summary: str | None

    @classmethod
    def of(cls, incident: Incident, now: datetime) -> IncidentView:
        report = incident.report
        return cls(
            incident_id=incident.incident_id,
            status=incident.status,
            school_urn=report.school_urn,
            kind=report.kind,
            level=report.level,
            occurred_at=report.occurred_at,
            reported_at=incident.reported_at,
            reported_by=report.reported_by,
            pupils_affected=report.pupils_affected,
            staff_affected=report.staff_affected,
            description=report.description,
            assigned_to=incident.assigned_to,
            escalation_chain=list(incident.chain),
            escalations=[
                EscalationView(at=e.at, from_person=e.from_person, to=e.to_person, reason=e.reason)
                for e in incident.escalations
            ],
            acknowledged_by=incident.acknowledged_by,
            acknowledged_at=incident.acknowledged_at,
            allocated_eps=[
                AllocatedEpView(
                    ep_id=e.ep_id,
                    starts_at=e.starts_at,
                    is_named_ep=e.is_named_ep,
                    appointment_id=e.appointment_id,
                )
                for e in incident.allocated_eps
            ],
            eps_needed=incident.targets.eps_needed,
            eps_missing=incident.eps_missing,
            shortfall=incident.shortfall,
            shortfall_reason=incident.shortfall_reason,
            answered_at=incident.answered_at,
            fast_track_attempt=incident.fast_track_attempt,
            awaiting_fast_track_answer=incident.awaiting_answer,
            first_contact_at=incident.first_contact_at,
            first_contact_by=incident.first_contact_by,
            clocks=[
                ClockView(
                    clock=c.clock,
                    due_at=c.due_at,
                    done_at=c.done_at,
                    state=c.state,
                    elapsed_minutes=int(c.elapsed.total_seconds() // 60),
                )
                for c in incident.clocks(now)
            ],
            breaches=sorted(incident.breaches),
            visits=[VisitView(at=v.at, ep_ids=list(v.ep_ids)) for v in incident.visits],
            follow_up=(
                FollowUpView(review_on=incident.follow_up.review_on, plan=incident.follow_up.plan)
                if incident.follow_up
                else None
            ),
            closed_at=incident.closed_at,
            summary=incident.summary,
        )


class OpenIncidents(BaseModel):
    incidents: list[IncidentView] = Field(description="Open incidents, oldest first.")


class ReportedIncident(BaseModel):
    incident_id: uuid.UUID


class IncidentReportOutcome(RequestOutcome):
    """What became of an upstream report of a critical incident, by its ``report_id``."""

    report_id: uuid.UUID
    incident: IncidentView | None = Field(
        description="The incident it became (applied): who must act, the EPs going, the clocks."
    )


class AddedRotaEntry(BaseModel):
    entry_id: uuid.UUID


class RotaEntryView(BaseModel):
    coordinator_id: str
    position: RotaPosition
    starts_at: LondonTime
    ends_at: LondonTime
    is_override: bool


class PeriodView(BaseModel):
    starts_at: LondonTime
    ends_at: LondonTime


class HandoverView(BaseModel):
    at: LondonTime
    to: str | None = Field(description="Who is on call from then (None: nobody, a gap).")


class OnCallView(BaseModel):
    """Who is on call now and next, the escalation chain an incident reported now would follow,
    the rota's entries and its gaps over the coming hours."""

    at: LondonTime
    until: LondonTime
    primary: str | None = Field(description="The coordinator on call now (None: nobody).")
    backup: str | None
    next_primary: HandoverView | None = Field(
        description="When the coordinator on call changes next, and to whom (None: not before"
        " ``until``)."
    )
    escalation_chain: list[str]
    entries: list[RotaEntryView]
    gaps: list[PeriodView] = Field(description="When nobody is on call as coordinator.")


async def on_call(uow: PostgresIncidentsUnitOfWork, hours: int) -> OnCallView:
    now = uow.clock()
    until = now + timedelta(hours=hours)
    rota = await uow.rota.rota(now, until)
    policy = await uow.configuration.policy()
    handover = rota.handover(RotaPosition.PRIMARY, now, until)
    return OnCallView(
        at=now,
        until=until,
        primary=rota.on_call(RotaPosition.PRIMARY, now),
        backup=rota.on_call(RotaPosition.BACKUP, now),
        next_primary=HandoverView(at=handover[0], to=handover[1]) if handover else None,
        escalation_chain=list(rota.escalation_chain(now, policy.principal_ep_id)),
        entries=[
            RotaEntryView(
                coordinator_id=e.coordinator_id,
                position=e.position,
                starts_at=e.starts_at,
                ends_at=e.ends_at,
                is_override=e.is_override,
            )
            for e in sorted(rota.entries, key=lambda e: (e.starts_at, e.position))
        ],
        gaps=[PeriodView(starts_at=g.starts_at, ends_at=g.ends_at) for g in rota.gaps(now, until)],
    )


async def incident(uow: PostgresIncidentsUnitOfWork, incident_id: uuid.UUID) -> IncidentView | None:
    row = await uow.conn.fetchrow(
        "SELECT incident_id, tenant, status, state FROM incidents"
        " WHERE tenant = $1 AND incident_id = $2",
        uow.tenant,
        incident_id,
    )
    return IncidentView.of(incident_from(*row), uow.clock()) if row is not None else None


async def open_incidents(uow: PostgresIncidentsUnitOfWork) -> OpenIncidents:
    rows = await uow.conn.fetch(
        "SELECT incident_id, tenant, status, state FROM incidents"
        " WHERE tenant = $1 AND status <> 'closed' ORDER BY reported_at",
        uow.tenant,
    )
    now = uow.clock()
    return OpenIncidents(incidents=[IncidentView.of(incident_from(*r), now) for r in rows])


async def report_outcome(
    uow: PostgresIncidentsUnitOfWork, report_id: uuid.UUID
) -> IncidentReportOutcome | None:
    """The incident a report became, else its events held by the upstream consumer; None when
    neither (not received, or dead-lettered)."""
    incident_id = await uow.incidents.id_for_report(report_id)
    shown = await incident(uow, incident_id) if incident_id is not None else None
    if shown is not None:
        return IncidentReportOutcome(
            outcome="applied", report_id=report_id, incident=shown, waiting=[]
        )
    waiting = await waiting_events(uow, upstream_reports, report_id)
    if not waiting:
        return None
    return IncidentReportOutcome(
        outcome="waiting", report_id=report_id, incident=None, waiting=waiting
    )
