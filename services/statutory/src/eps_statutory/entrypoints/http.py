"""HTTP entrypoints for EPs and senior EPs: read, draft, approve, submit, record exceptions,
see the open and at-risk advice, timeliness reports and the LA's rules.

School staff have no access to statutory advice (it goes to the LA's SEN team, not the school).
Every read and write of an advice is audited, refusals included.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from typing import Any, TypeVar

from eps_chassis.access import audited_access
from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.statutory import AdviceDocument, AssessmentPurpose
from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from eps_statutory.adapters.repository import (
    AdviceRepository,
    PolicyRepository,
    TribunalTaskRepository,
)
from eps_statutory.domain import clock, reporting
from eps_statutory.domain.commands import (
    ApproveAdvice,
    RecordException,
    RequestAssessmentBooking,
    SaveDraft,
    SubmitAdvice,
    WithdrawAdvice,
)
from eps_statutory.domain.model import Advice, Person
from eps_statutory.domain.policy import AllocationRule, ExceptionRule, LaPolicy
from eps_statutory.service_layer import handlers

router = APIRouter(prefix="/statutory", tags=["statutory"])

SENIOR = (Role.SENIOR_EP, Role.PRINCIPAL_EP)
EPS = require_roles(Role.EP, *SENIOR)
SENIOR_EPS = require_roles(*SENIOR)
MANAGERS = require_roles(*SENIOR, Role.ADMIN)
POLICY_OWNERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)

T = TypeVar("T")


class ExceptionBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    kind: str = Field(description="A reg 8(2) exception (school holidays are not one).")
    starts_on: date
    ends_on: date = Field(description="Last day of the exception (inclusive).")
    reason: str = Field(min_length=1, max_length=2000)
    evidence: tuple[str, ...] = Field(min_length=1, max_length=20)
    parents_notified_on: date = Field(description="Date the parents were told (CoP 9.42).")


class BookingRequestBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    purpose: AssessmentPurpose = Field(
        AssessmentPurpose.ASSESSMENT_VISIT,
        description="What the booking is for: the assessment visit (the default), meeting the"
        " child, or gathering the parents' or the child's views.",
    )


_parse_booking_request = json_body(BookingRequestBody).dependency


async def booking_request_body(request: Request) -> BookingRequestBody:
    """The optional body of a booking request: none means an assessment visit."""
    if not (await request.body()).strip():
        return BookingRequestBody()
    assert _parse_booking_request is not None
    body: BookingRequestBody = await _parse_booking_request(request)
    return body


class WithdrawalBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    withdrawn_on: date = Field(description="Europe/London date the LA withdrew its request.")
    reason: str = Field(min_length=1, max_length=500, description="Why, in the LA's words.")


class PolicyBody(BaseModel):
    """The whole of an LA's policy (see :class:`LaPolicy` for each figure's meaning)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    advice_weeks: int
    at_risk_days: int
    exception_rule: ExceptionRule
    allocation_rule: AllocationRule
    assessment_minutes: int
    booking_margin_days: int
    tribunal_evidence_lead_days: int


def person(principal: Principal) -> Person:
    return Person(principal.subject, is_senior=principal.role in SENIOR)


def today(runtime: ServiceRuntime) -> date:
    return clock.london_date(runtime.clock())


async def _act_on_advice(
    runtime: ServiceRuntime,
    principal: Principal,
    advice_id: uuid.UUID,
    action: str,
    work: Callable[[UnitOfWork], Awaitable[T]],
    *,
    purpose: str | None = None,
) -> T:
    """Run ``work`` on one advice in a unit of work, audited; a refusal is audited too."""
    async with audited_access(
        runtime.uow,
        principal,
        action=action,
        resource=f"advice/{advice_id}",
        purpose=purpose,
    ) as access:
        return await work(access.uow)


def _summary(advice: Advice) -> dict[str, Any]:
    due = advice.due_on
    return {
        "advice_id": str(advice.advice_id),
        "status": str(advice.status),
        "ep_id": advice.ep_id,
        "version": advice.version,
        "six_week_due_on": advice.six_week_due_on.isoformat(),
        "due_on": due.isoformat() if due else None,
        "time_limit_disapplied": due is None,
        "plan_due_on": advice.plan_due_on.isoformat(),
        "submitted_on": advice.submitted_on.isoformat() if advice.submitted_on else None,
        "withdrawn_on": advice.withdrawn_on.isoformat() if advice.withdrawn_on else None,
    }


@router.get("/advice/open")
async def list_open_advice(
    principal: Principal = EPS, runtime: ServiceRuntime = Depends(get_runtime)
) -> list[dict[str, Any]]:
    """Open advice of the caller's LA, soonest last day first, with days remaining."""
    now = today(runtime)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        rows = await AdviceRepository(uow.conn).open_list(principal.tenant)
        await record_access(uow.conn, principal, action="list", resource="advice/open")
    for row in rows:
        due = row["due_on"]
        row["days_remaining"] = clock.days_remaining(due, now) if due else None
    return rows


@router.get("/advice/at-risk")
async def list_at_risk_advice(
    principal: Principal = EPS, runtime: ServiceRuntime = Depends(get_runtime)
) -> list[dict[str, Any]]:
    """Open advice due within the LA's at-risk days with work missing, and advice overdue."""
    now = today(runtime)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        policy = await PolicyRepository(uow.conn).get(principal.tenant)
        horizon = date.fromordinal(now.toordinal() + policy.at_risk_days)
        candidates = await AdviceRepository(uow.conn).open_advice_due_by(principal.tenant, horizon)
        await record_access(uow.conn, principal, action="list", resource="advice/at-risk")
    listed = []
    for advice in candidates:
        due = advice.due_on
        assert due is not None  # due_on <= horizon
        overdue = now > due
        if overdue or advice.is_at_risk(now, policy.at_risk_days):
            listed.append(
                {
                    **_summary(advice),
                    "days_remaining": clock.days_remaining(due, now),
                    "overdue": overdue,
                    "reasons": [str(r) for r in advice.at_risk_reasons()],
                }
            )
    return listed


@router.get("/advice/{advice_id}")
async def read_advice(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> dict[str, Any]:
    async def read(uow: UnitOfWork) -> dict[str, Any]:
        view = await AdviceRepository(uow.conn).view(principal.tenant, advice_id)
        if view is None:
            raise NotFound("no such advice", field="advice_id")
        return view

    return await _act_on_advice(runtime, principal, advice_id, "read", read, purpose=x_purpose)


@router.put("/advice/{advice_id}/draft")
async def save_draft(
    advice_id: uuid.UUID,
    body: AdviceDocument = json_body(AdviceDocument),
    principal: Principal = EPS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = SaveDraft(advice_id, body)
    advice = await _act_on_advice(
        runtime, principal, advice_id, "draft",
        lambda uow: handlers.save_draft(cmd, person(principal), uow),
    )  # fmt: skip
    return _summary(advice)


@router.post("/advice/{advice_id}/approval")
async def approve_advice(
    advice_id: uuid.UUID,
    principal: Principal = SENIOR_EPS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = ApproveAdvice(advice_id)
    advice = await _act_on_advice(
        runtime, principal, advice_id, "approve",
        lambda uow: handlers.approve_advice(cmd, person(principal), uow),
    )  # fmt: skip
    return _summary(advice)


@router.post("/advice/{advice_id}/submission")
async def submit_advice(
    advice_id: uuid.UUID,
    principal: Principal = EPS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = SubmitAdvice(advice_id)
    advice = await _act_on_advice(
        runtime, principal, advice_id, "submit",
        lambda uow: handlers.submit_advice(cmd, uow, today(runtime)),
    )  # fmt: skip
    return _summary(advice)


@router.post("/advice/{advice_id}/withdrawal")
async def withdraw_advice(
    advice_id: uuid.UUID,
    body: WithdrawalBody = json_body(WithdrawalBody),
    principal: Principal = MANAGERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Record the LA's withdrawal of its request (told other than through its system): the
    advice closes and scheduling cancels its appointments. Submitted advice cannot be."""
    cmd = WithdrawAdvice(advice_id, body.withdrawn_on, body.reason)
    advice = await _act_on_advice(
        runtime, principal, advice_id, "withdraw", lambda uow: handlers.withdraw_advice(cmd, uow)
    )
    return _summary(advice)


@router.post("/advice/{advice_id}/exceptions", status_code=201)
async def record_exception(
    advice_id: uuid.UUID,
    body: ExceptionBody = json_body(ExceptionBody),
    principal: Principal = EPS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = RecordException(advice_id=advice_id, **body.model_dump())

    advice = await _act_on_advice(
        runtime, principal, advice_id, "record-exception",
        lambda uow: handlers.record_exception(cmd, person(principal), uow, today(runtime)),
    )  # fmt: skip
    return _summary(advice)


@router.post("/advice/{advice_id}/booking-requests", status_code=202)
async def request_assessment_booking(
    advice_id: uuid.UUID,
    body: BookingRequestBody = Depends(booking_request_body),
    principal: Principal = EPS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, str]:
    """Ask scheduling to book a piece of the assessment work: another purpose (meeting the
    child, the parents' or the child's views), or again after it could not book one."""

    cmd = RequestAssessmentBooking(advice_id, body.purpose)
    request_id = await _act_on_advice(
        runtime, principal, advice_id, "request-booking",
        lambda uow: handlers.request_assessment_booking(cmd, uow, runtime.clock()),
    )  # fmt: skip
    return {"request_id": str(request_id), "purpose": str(body.purpose)}


@router.get("/tribunal-tasks")
async def list_tribunal_tasks(
    principal: Principal = EPS, runtime: ServiceRuntime = Depends(get_runtime)
) -> list[dict[str, Any]]:
    """An EP's own tasks and the statutory team's; a senior EP sees all of the LA's."""
    ep = None if principal.role in SENIOR else principal.subject
    async with runtime.uow(MessageContext.of(principal)) as uow:
        tasks = await TribunalTaskRepository(uow.conn).for_ep(principal.tenant, ep)
        await record_access(uow.conn, principal, action="list", resource="tribunal-tasks")
    return tasks


MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/reports/timeliness")
async def timeliness_report(
    from_month: str = Query(alias="from", pattern=MONTH, description="First month, YYYY-MM."),
    to_month: str = Query(alias="to", pattern=MONTH, description="Last month, YYYY-MM."),
    principal: Principal = MANAGERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Share of advice submitted within 6 weeks per month, with and without exceptions."""
    start, end = reporting.month_range(from_month, to_month)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        rows = await AdviceRepository(uow.conn).submitted(principal.tenant, start, end)
    return {
        "local_authority": principal.tenant,
        "months": [asdict(m) for m in reporting.monthly_timeliness(rows)],
    }


@router.get("/policy")
async def read_policy(
    principal: Principal = MANAGERS, runtime: ServiceRuntime = Depends(get_runtime)
) -> dict[str, Any]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        policy = await PolicyRepository(uow.conn).get(principal.tenant)
    return {name: getattr(policy, name) for name in PolicyBody.model_fields}


@router.put("/policy")
async def set_policy(
    body: PolicyBody = json_body(PolicyBody),
    principal: Principal = POLICY_OWNERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """The LA's figures and rules; advice already received keeps its clock rules."""
    policy = LaPolicy(**body.model_dump())
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await handlers.set_policy(policy, uow, principal.actor)
        await record_access(uow.conn, principal, action="set-policy", resource="policy")
    return body.model_dump()
