"""What the statutory service shows over HTTP: read straight from its tables, as response models
(so the OpenAPI document describes what comes back). Whether open advice is at risk is the
advice's own rule, so that list asks the aggregate."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime, timedelta

from eps_chassis.london import london_date
from eps_chassis.request_outcomes import RequestOutcome, waiting_events
from eps_chassis.subject_access import HeldRecord, held_rows
from eps_contracts.statutory import (
    AdviceDocument,
    AllocationRoute,
    AssessmentPurpose,
    AtRiskReason,
    ExceptionKind,
    TribunalTaskKind,
)
from pydantic import BaseModel, Field

from eps_statutory.adapters.repository import OPEN_ADVICE, advice_exceptions, bookings_from
from eps_statutory.domain import clock, reporting
from eps_statutory.domain.model import AdviceStatus
from eps_statutory.domain.reporting import MonthlyTimeliness
from eps_statutory.entrypoints.events import upstream
from eps_statutory.service_layer.unit_of_work import PostgresStatutoryUnitOfWork


class AdviceSummary(BaseModel):
    """Where an advice stands, and its last days."""

    advice_id: uuid.UUID
    status: AdviceStatus
    ep_id: str | None
    version: int = Field(description="The draft's version (0 before the first draft).")
    six_week_due_on: date = Field(description="Last day without exceptions (reg 8(1)).")
    due_on: date | None = Field(description="Last day after exceptions; empty when disapplied.")
    time_limit_disapplied: bool
    plan_due_on: date = Field(description="Context: the final EHC plan's last day (reg 13).")
    submitted_on: date | None
    withdrawn_on: date | None


class AtRiskAdvice(AdviceSummary):
    days_remaining: int = Field(description="Whole days to the last day; negative once missed.")
    overdue: bool
    reasons: list[AtRiskReason] = Field(description="The work still missing.")


class OpenAdvice(BaseModel):
    advice_id: uuid.UUID
    la_case_ref: str
    status: AdviceStatus
    ep_id: str | None
    received_on: date
    six_week_due_on: date
    due_on: date | None
    exception_applied: bool
    assessment_booked: bool
    drafted: bool
    assessment_requested_on: date
    plan_due_on: date
    days_remaining: int | None = Field(description="Whole days to the last day, if it has one.")


class BookingView(BaseModel):
    """One piece of assessment work asked of scheduling."""

    purpose: AssessmentPurpose
    request_id: uuid.UUID | None
    failure: str | None = Field(description="Why scheduling could not book it, if it could not.")
    appointment_id: uuid.UUID | None
    starts_at: datetime | None
    completed_at: datetime | None


class ExceptionView(BaseModel):
    """A reg 8(2) exception recorded on the advice."""

    exception_id: uuid.UUID
    kind: ExceptionKind
    starts_on: date
    ends_on: date
    reason: str
    evidence: list[str]
    parents_notified_on: date
    recorded_on: date
    recorded_by: str


class AdviceView(BaseModel):
    """An advice: the child, the request, its allocation, bookings, document and clock."""

    advice_id: uuid.UUID
    request_id: uuid.UUID
    la_case_ref: str
    child_id: uuid.UUID
    child_given_name: str
    child_family_name: str
    child_date_of_birth: date
    school_urn: str | None
    received_at: datetime
    received_on: date
    assessment_requested_on: date
    status: AdviceStatus
    route: AllocationRoute | None
    ep_id: str | None
    booking_failure: str | None
    appointment_id: uuid.UUID | None
    appointment_starts_at: datetime | None
    bookings: list[BookingView] = Field(description="Each purpose's booking.")
    assessment_completed_at: datetime | None
    document: AdviceDocument | None
    version: int
    drafted_by: str | None
    approved_by: str | None
    submitted_on: date | None
    six_week_due_on: date
    due_on: date | None
    exception_applied: bool
    withdrawn_on: date | None
    withdrawal_reason: str | None
    plan_due_on: date
    exceptions: list[ExceptionView]


class TribunalTaskView(BaseModel):
    task_id: uuid.UUID
    appeal_id: uuid.UUID
    advice_id: uuid.UUID
    kind: TribunalTaskKind
    ep_id: str | None = Field(description="Empty: the statutory team's.")
    due_on: date


class AdviceRequestOutcome(RequestOutcome):
    """What became of the SEN team's request for advice, by its ``request_id``: the advice (its
    withdrawal too) and the tribunal tasks of appeals registered on it."""

    request_id: uuid.UUID
    advice: AdviceSummary | None = Field(description="The advice it became (applied).")
    tribunal_tasks: list[TribunalTaskView] = Field(
        description="Tasks the appeals registered on it gave, soonest first."
    )


class TimelinessReport(BaseModel):
    """Share of advice submitted within 6 weeks per month, with and without exceptions."""

    local_authority: str
    months: list[MonthlyTimeliness]


async def advice_summary(
    uow: PostgresStatutoryUnitOfWork, advice_id: uuid.UUID
) -> AdviceSummary | None:
    row = await uow.conn.fetchrow(
        "SELECT advice_id, status, ep_id, version, six_week_due_on, due_on, submitted_on,"
        " withdrawn_on, assessment_requested_on FROM advice WHERE tenant = $1 AND advice_id = $2",
        uow.tenant,
        advice_id,
    )
    if row is None:
        return None
    values = dict(row)
    plan_due_on = clock.plan_due_on(values.pop("assessment_requested_on"))
    return AdviceSummary(
        **values, time_limit_disapplied=values["due_on"] is None, plan_due_on=plan_due_on
    )


async def advice(uow: PostgresStatutoryUnitOfWork, advice_id: uuid.UUID) -> AdviceView | None:
    row = await uow.conn.fetchrow(
        "SELECT advice_id, request_id, la_case_ref, child_id, child_given_name,"
        " child_family_name, child_date_of_birth, school_urn, received_at, received_on,"
        " assessment_requested_on, status, route, ep_id, booking_request_id, booking_failure,"
        " appointment_id, appointment_starts_at, bookings, assessment_completed_at, document,"
        " version, drafted_by, approved_by, submitted_on, six_week_due_on, due_on,"
        " exception_applied, withdrawn_on, withdrawal_reason"
        " FROM advice WHERE tenant = $1 AND advice_id = $2",
        uow.tenant,
        advice_id,
    )
    if row is None:
        return None
    values = dict(row)
    bookings = bookings_from({**values})  # each purpose's, or the single one of older advice
    del values["booking_request_id"], values["bookings"]
    raw_document = values.pop("document")
    exceptions = await advice_exceptions(uow.conn, uow.tenant, advice_id)
    return AdviceView(
        **values,
        bookings=[BookingView(**asdict(b)) for b in bookings],
        document=AdviceDocument.model_validate_json(raw_document) if raw_document else None,
        plan_due_on=clock.plan_due_on(values["assessment_requested_on"]),
        exceptions=[ExceptionView(**asdict(e)) for e in exceptions],
    )


async def open_advice(uow: PostgresStatutoryUnitOfWork) -> list[OpenAdvice]:
    """Open advice of the LA, soonest last day first, with days remaining."""
    today = london_date(uow.clock())
    rows = await uow.conn.fetch(
        "SELECT advice_id, la_case_ref, status, ep_id, received_on, six_week_due_on, due_on,"
        " exception_applied, appointment_id IS NOT NULL AS assessment_booked,"
        " document IS NOT NULL AS drafted, assessment_requested_on FROM advice"
        f" WHERE tenant = $1 AND {OPEN_ADVICE} ORDER BY due_on NULLS LAST, advice_id",
        uow.tenant,
    )
    return [
        OpenAdvice(
            **r,
            plan_due_on=clock.plan_due_on(r["assessment_requested_on"]),
            days_remaining=clock.days_remaining(r["due_on"], today) if r["due_on"] else None,
        )
        for r in rows
    ]


async def at_risk_advice(uow: PostgresStatutoryUnitOfWork) -> list[AtRiskAdvice]:
    """Open advice due within the LA's at-risk days with work missing, and advice overdue."""
    today, policy = london_date(uow.clock()), await uow.policies.get()
    listed = []
    for subject in await uow.advice.open_due_by(today + timedelta(days=policy.at_risk_days)):
        due = subject.due_on
        assert due is not None  # due on or before the horizon
        overdue = today > due
        if overdue or subject.is_at_risk(today, policy.at_risk_days):
            listed.append(
                AtRiskAdvice(
                    advice_id=subject.advice_id,
                    status=subject.status,
                    ep_id=subject.ep_id,
                    version=subject.version,
                    six_week_due_on=subject.six_week_due_on,
                    due_on=due,
                    time_limit_disapplied=False,
                    plan_due_on=subject.plan_due_on,
                    submitted_on=subject.submitted_on,
                    withdrawn_on=subject.withdrawn_on,
                    days_remaining=clock.days_remaining(due, today),
                    overdue=overdue,
                    reasons=list(subject.at_risk_reasons()),
                )
            )
    return listed


async def tribunal_tasks(
    uow: PostgresStatutoryUnitOfWork, ep_id: str | None
) -> list[TribunalTaskView]:
    """The tasks of ``ep_id`` and the statutory team's; every task of the LA when None."""
    rows = await uow.conn.fetch(
        "SELECT task_id, appeal_id, advice_id, kind, ep_id, due_on FROM tribunal_tasks"
        " WHERE tenant = $1 AND ($2::text IS NULL OR ep_id = $2 OR ep_id IS NULL)"
        " ORDER BY due_on, task_id",
        uow.tenant,
        ep_id,
    )
    return [TribunalTaskView(**r) for r in rows]


async def timeliness(uow: PostgresStatutoryUnitOfWork, start: date, end: date) -> TimelinessReport:
    """Advice submitted from ``start`` up to, not including, ``end``, per month."""
    rows = await uow.conn.fetch(
        "SELECT submitted_on, submitted_on <= six_week_due_on AS within_six_weeks,"
        " (due_on IS NULL OR submitted_on <= due_on) AS within_time_limit,"
        " exception_applied FROM advice WHERE tenant = $1 AND status = 'submitted'"
        " AND submitted_on >= $2 AND submitted_on < $3",
        uow.tenant,
        start,
        end,
    )
    submitted = [reporting.SubmittedAdvice(**dict(r)) for r in rows]
    return TimelinessReport(
        local_authority=uow.tenant, months=reporting.monthly_timeliness(submitted)
    )


async def request_outcome(
    uow: PostgresStatutoryUnitOfWork, request_id: uuid.UUID
) -> AdviceRequestOutcome | None:
    """The advice a request became, with its appeals' tasks and any of the request's events
    still held (an appeal or a withdrawal that came first waits for its request); None when
    none of them (not received, or dead-lettered)."""
    advice_id = await uow.advice.id_for_request(request_id)
    summary = await advice_summary(uow, advice_id) if advice_id is not None else None
    waiting = await waiting_events(uow, upstream, request_id)
    if summary is None and not waiting:
        return None
    tasks = await uow.conn.fetch(
        "SELECT task_id, appeal_id, advice_id, kind, ep_id, due_on FROM tribunal_tasks"
        " WHERE tenant = $1 AND advice_id = $2 ORDER BY due_on, task_id",
        uow.tenant,
        advice_id,
    )
    return AdviceRequestOutcome(
        outcome="applied" if summary is not None else "waiting",
        request_id=request_id,
        advice=summary,
        tribunal_tasks=[TribunalTaskView(**t) for t in tasks],
        waiting=waiting,
    )


async def held_about_child(
    uow: PostgresStatutoryUnitOfWork, child_id: uuid.UUID
) -> list[HeldRecord]:
    """The child's requests for advice (the advice itself, drafts and bookings), their
    exceptions and tribunal tasks (subject access)."""
    by_child = "SELECT advice_id FROM advice WHERE tenant = $1 AND child_id = $2"
    advice = await held_rows(
        uow, "advice",
        "SELECT * FROM advice WHERE tenant = $1 AND child_id = $2 ORDER BY received_at",
        uow.tenant, child_id, key="advice_id", json_columns=("document", "bookings"),
        third_party=("ep_id", "drafted_by", "approved_by", "document", "withdrawal_reason"),
    )  # fmt: skip
    exceptions = await held_rows(
        uow, "advice exception",
        f"SELECT * FROM advice_exceptions WHERE advice_id IN ({by_child}) ORDER BY recorded_on",
        uow.tenant, child_id, key="exception_id", audited_as=("advice", "advice_id"),
        third_party=("reason", "evidence", "recorded_by"),
    )  # fmt: skip
    tasks = await held_rows(
        uow, "tribunal task",
        f"SELECT * FROM tribunal_tasks WHERE advice_id IN ({by_child}) ORDER BY due_on",
        uow.tenant, child_id, key="task_id", audited_as=("advice", "advice_id"),
        third_party=("ep_id",),
    )  # fmt: skip
    return advice + exceptions + tasks
