"""HTTP entrypoints for EPs and senior EPs: read, draft, approve, submit, record exceptions,
see the open and at-risk advice, timeliness reports and the LA's policy.

School staff have no access to statutory advice (it goes to the LA's SEN team, not the school).
Every read and write of an advice, and every list, is audited, refusals included.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from typing import Annotated

from eps_chassis.access import OneRecord, audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.http import Purpose, json_body
from eps_chassis.request_outcomes import request_record
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.statutory import AdviceDocument, AssessmentPurpose
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from eps_statutory import views
from eps_statutory.domain import reporting
from eps_statutory.domain.commands import (
    ApproveAdvice,
    Person,
    RecordException,
    RequestAssessmentBooking,
    SaveDraft,
    SetStatutoryPolicy,
    SubmitAdvice,
    WithdrawAdvice,
)
from eps_statutory.domain.policy import AllocationRule, ExceptionRule, LaPolicy
from eps_statutory.service_layer import handlers
from eps_statutory.service_layer.unit_of_work import (
    PostgresStatutoryUnitOfWork,
    StatutoryUnitOfWork,
)
from eps_statutory.views import (
    AdviceRequestOutcome,
    AdviceSummary,
    AdviceView,
    AtRiskAdvice,
    OpenAdvice,
    TimelinessReport,
    TribunalTaskView,
)

router = APIRouter(prefix="/statutory", tags=["statutory"])

SENIOR = (Role.SENIOR_EP, Role.PRINCIPAL_EP)
EPS = require_roles(Role.EP, *SENIOR)
SENIOR_EPS = require_roles(*SENIOR)
MANAGERS = require_roles(*SENIOR, Role.ADMIN)
POLICY_OWNERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)
REQUEST_READERS = require_roles(Role.EP, *SENIOR, Role.ADMIN)  # the SEN team's system: admin


class Body(ContractModel):
    """A request body: strict, and no field the route does not know."""

    model_config = ConfigDict(extra="forbid")


class ExceptionBody(Body):
    kind: str = Field(
        min_length=1,
        max_length=100,
        description="A reg 8(2) exception (school holidays are not one).",
    )
    starts_on: date
    ends_on: date = Field(description="Last day of the exception (inclusive).")
    reason: str = Field(min_length=1, max_length=2000)
    evidence: tuple[Annotated[str, Field(min_length=1, max_length=500)], ...] = Field(
        min_length=1, max_length=20
    )
    parents_notified_on: date = Field(description="Date the parents were told (CoP 9.42).")


class BookingRequestBody(Body):
    purpose: AssessmentPurpose = Field(
        AssessmentPurpose.ASSESSMENT_VISIT,
        description="What the booking is for: the assessment visit (the default), meeting the"
        " child, or gathering the parents' or the child's views.",
    )


class BookingRequested(BaseModel):
    """Scheduling has been asked: its answer comes as the advice's booking."""

    request_id: uuid.UUID
    purpose: AssessmentPurpose


class WithdrawalBody(Body):
    withdrawn_on: date = Field(description="Europe/London date the LA withdrew its request.")
    reason: str = Field(min_length=1, max_length=500, description="Why, in the LA's words.")


class PolicyBody(Body):
    """The whole of an LA's policy (see :class:`LaPolicy` for each figure's meaning)."""

    advice_weeks: int = Field(ge=1, le=52)
    at_risk_days: int = Field(ge=0, le=365)
    exception_rule: ExceptionRule
    allocation_rule: AllocationRule
    assessment_minutes: int = Field(gt=0, le=8 * 60)
    booking_margin_days: int = Field(ge=0, le=365, description="Fewer than the advice's days.")
    tribunal_evidence_lead_days: int = Field(ge=0, le=365)


Runtime = ServiceRuntime[PostgresStatutoryUnitOfWork]
# an advice as it stands (its clock, its state), and as written (its document too)
ADVICE = OneRecord("advice", views.advice_summary, field="advice_id")
ADVICE_DOCUMENT = OneRecord("advice", views.advice, field="advice_id")
# the SEN team's request, by the id it gave it
REQUEST = request_record(
    "advice-request",
    views.request_outcome,
    service="statutory",
    field="request_id",
    record=lambda shown: f"advice/{shown.advice.advice_id}" if shown.advice else None,
)


def person(principal: Principal) -> Person:
    return Person(principal.subject, is_senior=principal.role in SENIOR)


async def _read_policy(uow: StatutoryUnitOfWork) -> PolicyBody:
    return PolicyBody(**asdict(await uow.policies.get()))


async def _set_policy(body: PolicyBody, uow: StatutoryUnitOfWork) -> PolicyBody:
    command = SetStatutoryPolicy(LaPolicy(**body.model_dump()), updated_by=uow.actor)
    return PolicyBody(**asdict(await handlers.set_statutory_policy(command, uow)))


configuration_routes(
    router,
    "policy",
    PolicyBody,
    read=_read_policy,
    write=_set_policy,
    readers=MANAGERS,
    writers=POLICY_OWNERS,
    description="This LA's statutory figures and rules: the advice's weeks and at-risk days,"
    " what an exception does to the clock, allocation, the assessment's length and booking"
    " margin, and the tribunal evidence lead time. Advice already received keeps its clock's"
    " rules.",
)


@router.get("/requests/{request_id}", response_model=AdviceRequestOutcome)
async def read_request_outcome(
    request_id: uuid.UUID,
    principal: Principal = REQUEST_READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> AdviceRequestOutcome:
    """What became of a request for advice (``eps.upstream.statutory-requests.v1``), by the
    ``request_id`` the SEN team gave it: the advice, where it stands (withdrawn too), the tasks
    of appeals on it, and any of its events still waiting. On Kafka the same news is
    ``eps.statutory.advice-request-received.v1`` (then the advice's lifecycle, withdrawal and
    ``tribunal-tasks-created``) on ``eps.statutory.advice.v1``, ``causationid`` the event."""
    return await REQUEST.act(runtime.uow, principal, request_id, action="read", purpose=x_purpose)


@router.get("/advice/open", response_model=list[OpenAdvice])
async def list_open_advice(
    principal: Principal = EPS, runtime: Runtime = Depends(get_runtime)
) -> list[OpenAdvice]:
    """Open advice of the caller's LA, soonest last day first, with days remaining."""
    async with audited_access(
        runtime.uow, principal, action="list", resource="advice/open"
    ) as access:
        return await views.open_advice(access.uow)


@router.get("/advice/at-risk", response_model=list[AtRiskAdvice])
async def list_at_risk_advice(
    principal: Principal = EPS, runtime: Runtime = Depends(get_runtime)
) -> list[AtRiskAdvice]:
    """Open advice due within the LA's at-risk days with work missing, and advice overdue."""
    async with audited_access(
        runtime.uow, principal, action="list", resource="advice/at-risk"
    ) as access:
        return await views.at_risk_advice(access.uow)


@router.get("/advice/{advice_id}", response_model=AdviceView)
async def read_advice(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> AdviceView:
    return await ADVICE_DOCUMENT.act(
        runtime.uow, principal, advice_id, action="read", purpose=x_purpose
    )


@router.put("/advice/{advice_id}/draft", response_model=AdviceSummary)
async def save_draft(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    body: AdviceDocument = json_body(AdviceDocument),
    runtime: Runtime = Depends(get_runtime),
) -> AdviceSummary:
    cmd = SaveDraft(advice_id, body, author=person(principal))
    return await ADVICE.act(
        runtime.uow,
        principal,
        advice_id,
        action="draft",
        work=lambda uow: handlers.save_draft(cmd, uow),
    )


@router.post("/advice/{advice_id}/approval", response_model=AdviceSummary)
async def approve_advice(
    advice_id: uuid.UUID,
    principal: Principal = SENIOR_EPS,
    runtime: Runtime = Depends(get_runtime),
) -> AdviceSummary:
    cmd = ApproveAdvice(advice_id, approver=person(principal))
    return await ADVICE.act(
        runtime.uow,
        principal,
        advice_id,
        action="approve",
        work=lambda uow: handlers.approve_advice(cmd, uow),
    )


@router.post("/advice/{advice_id}/submission", response_model=AdviceSummary)
async def submit_advice(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    runtime: Runtime = Depends(get_runtime),
) -> AdviceSummary:
    cmd = SubmitAdvice(advice_id)
    return await ADVICE.act(
        runtime.uow,
        principal,
        advice_id,
        action="submit",
        work=lambda uow: handlers.submit_advice(cmd, uow),
    )


@router.post("/advice/{advice_id}/withdrawal", response_model=AdviceSummary)
async def withdraw_advice(
    advice_id: uuid.UUID,
    principal: Principal = MANAGERS,
    body: WithdrawalBody = json_body(WithdrawalBody),
    runtime: Runtime = Depends(get_runtime),
) -> AdviceSummary:
    """Record the LA's withdrawal of its request (told other than through its system): the
    advice closes and scheduling cancels its appointments. Submitted advice cannot be."""
    cmd = WithdrawAdvice(advice_id, body.withdrawn_on, body.reason)
    return await ADVICE.act(
        runtime.uow,
        principal,
        advice_id,
        action="withdraw",
        work=lambda uow: handlers.withdraw_advice(cmd, uow),
    )


@router.post("/advice/{advice_id}/exceptions", status_code=201, response_model=AdviceSummary)
async def record_exception(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    body: ExceptionBody = json_body(ExceptionBody),
    runtime: Runtime = Depends(get_runtime),
) -> AdviceSummary:
    cmd = RecordException(advice_id=advice_id, **body.model_dump(), recorded_by=principal.subject)
    return await ADVICE.act(
        runtime.uow,
        principal,
        advice_id,
        action="record-exception",
        work=lambda uow: handlers.record_exception(cmd, uow),
    )


@router.post(
    "/advice/{advice_id}/booking-requests", status_code=202, response_model=BookingRequested
)
async def request_assessment_booking(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    body: BookingRequestBody = json_body(BookingRequestBody, required=False),
    runtime: Runtime = Depends(get_runtime),
) -> BookingRequested:
    """Ask scheduling to book a piece of the assessment work: another purpose (meeting the
    child, the parents' or the child's views), or again after it could not book one."""
    cmd = RequestAssessmentBooking(advice_id, body.purpose)
    async with audited_access(
        runtime.uow, principal, action="request-booking", resource=f"advice/{advice_id}"
    ) as access:
        request_id = await handlers.request_assessment_booking(cmd, access.uow)
    return BookingRequested(request_id=request_id, purpose=body.purpose)


@router.get("/tribunal-tasks", response_model=list[TribunalTaskView])
async def list_tribunal_tasks(
    principal: Principal = EPS, runtime: Runtime = Depends(get_runtime)
) -> list[TribunalTaskView]:
    """An EP's own tasks and the statutory team's; a senior EP sees all of the LA's."""
    ep = None if principal.role in SENIOR else principal.subject
    async with audited_access(
        runtime.uow, principal, action="list", resource="tribunal-tasks"
    ) as access:
        return await views.tribunal_tasks(access.uow, ep)


MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/reports/timeliness", response_model=TimelinessReport)
async def timeliness_report(
    from_month: str = Query(alias="from", pattern=MONTH, description="First month, YYYY-MM."),
    to_month: str = Query(alias="to", pattern=MONTH, description="Last month, YYYY-MM."),
    principal: Principal = MANAGERS,
    runtime: Runtime = Depends(get_runtime),
) -> TimelinessReport:
    """Share of advice submitted within 6 weeks per month, with and without exceptions."""
    async with audited_access(
        runtime.uow, principal, action="report", resource="reports/timeliness"
    ) as access:
        start, end = reporting.month_range(from_month, to_month)
        return await views.timeliness(access.uow, start, end)
