"""HTTP entrypoints for people who act on referrals: submit, triage, move casework on, read."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import DomainError, Forbidden, NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.base import ContractModel
from eps_contracts.referrals import (
    CaseworkStage,
    FeedbackRecord,
    RedirectDestination,
    ReferralRequested,
)
from fastapi import APIRouter, Depends, Header
from pydantic import Field

from eps_referrals.adapters.repository import ReferralRepository
from eps_referrals.domain import commands
from eps_referrals.domain.model import LONDON
from eps_referrals.entrypoints.events import register_referral_command
from eps_referrals.service_layer import handlers

router = APIRouter(prefix="/referrals", tags=["referrals"])

EPS = (Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP)
SENIOR = (Role.SENIOR_EP, Role.PRINCIPAL_EP)
SUBMITTERS = require_roles(Role.SENCO, *EPS, Role.COORDINATOR, Role.ADMIN)
READERS = require_roles(Role.SENCO, *EPS, Role.COORDINATOR, Role.ADMIN)
PRACTITIONERS = require_roles(*EPS)


class DeclineBody(ContractModel):
    reason: str = Field(min_length=1, max_length=500, description="Why it is declined.")


class RedirectBody(ContractModel):
    destination: RedirectDestination
    reason: str = Field(min_length=1, max_length=500, description="Why it goes there.")
    service_name: str | None = Field(None, max_length=200, description="For another service.")


class StageBody(ContractModel):
    stage: CaseworkStage


Work = Callable[[UnitOfWork], Awaitable[None]]


def _today(runtime: ServiceRuntime) -> date:
    return runtime.clock().astimezone(LONDON).date()


def _context(principal: Principal, correlation_id: uuid.UUID | None = None) -> MessageContext:
    return MessageContext(
        tenant=principal.tenant,
        actor=principal.actor,
        correlation_id=correlation_id or uuid.uuid4(),
    )


async def _act(
    runtime: ServiceRuntime,
    principal: Principal,
    referral_id: uuid.UUID,
    action: str,
    work: Work | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    """Do ``work`` on one referral for the caller and return it with its history.

    The caller's school is checked (school staff see only their own school's children) and the
    access is audited, with its outcome when refused.
    """
    resource = f"referral/{referral_id}"
    try:
        async with runtime.uow(_context(principal)) as uow:
            referrals = ReferralRepository(uow.conn)
            exists, school = await referrals.school_of(principal.tenant, referral_id)
            if not exists:
                raise NotFound("no such referral")
            if principal.is_school_staff and school != principal.school_urn:
                raise Forbidden("school staff may act only for children of their own school")
            if work is not None:
                await work(uow)
            view = await referrals.get_view(principal.tenant, referral_id)
            await record_access(
                uow.conn, principal, action=action, resource=resource, purpose=purpose
            )
    except DomainError as exc:
        outcome = {404: "not_found", 403: "denied"}.get(exc.status_code, "refused")
        assert runtime.pool is not None
        await record_access(
            runtime.pool,
            principal,
            action=action,
            resource=resource,
            purpose=purpose,
            outcome=outcome,
        )
        raise
    assert view is not None
    return view


@router.post("", status_code=201)
async def submit_referral(
    body: ReferralRequested = json_body(ReferralRequested),
    principal: Principal = SUBMITTERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_correlation_id: uuid.UUID | None = Header(None),
) -> dict[str, Any]:
    """Submit a request from any source; ``requester.kind`` says which route it came by."""
    if principal.is_school_staff and body.child.school_urn != principal.school_urn:
        raise Forbidden("school staff may act only for children of their own school")
    async with runtime.uow(_context(principal, x_correlation_id)) as uow:
        referral_id = await handlers.register_referral(register_referral_command(body), uow)
        view = await ReferralRepository(uow.conn).get_view(principal.tenant, referral_id)
        await record_access(
            uow.conn, principal, action="submit", resource=f"referral/{referral_id}"
        )
    assert view is not None
    return {
        "referral_id": str(referral_id),
        "status": view["status"],
        "duplicate_of": str(view["duplicate_of"]) if view["duplicate_of"] else None,
    }


@router.get("/{referral_id}")
async def read_referral(
    referral_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> dict[str, Any]:
    return await _act(runtime, principal, referral_id, "read", purpose=x_purpose)


@router.post("/{referral_id}/accept")
async def accept_referral(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.AcceptReferral(referral_id, ep_id=principal.subject)
    senior = principal.role in SENIOR
    return await _act(
        runtime,
        principal,
        referral_id,
        "accept",
        lambda uow: handlers.accept_referral(cmd, uow, senior),
    )


@router.post("/{referral_id}/decline")
async def decline_referral(
    referral_id: uuid.UUID,
    body: DeclineBody = json_body(DeclineBody),
    principal: Principal = PRACTITIONERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.DeclineReferral(referral_id, body.reason)
    senior = principal.role in SENIOR
    return await _act(
        runtime,
        principal,
        referral_id,
        "decline",
        lambda uow: handlers.decline_referral(cmd, uow, principal.subject, senior),
    )


@router.post("/{referral_id}/redirect")
async def redirect_referral(
    referral_id: uuid.UUID,
    body: RedirectBody = json_body(RedirectBody),
    principal: Principal = PRACTITIONERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.RedirectReferral(referral_id, body.destination, body.reason, body.service_name)
    senior = principal.role in SENIOR
    return await _act(
        runtime,
        principal,
        referral_id,
        "redirect",
        lambda uow: handlers.redirect_referral(cmd, uow, principal.subject, senior),
    )


@router.post("/{referral_id}/casework")
async def start_casework_stage(
    referral_id: uuid.UUID,
    body: StageBody = json_body(StageBody),
    principal: Principal = PRACTITIONERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.StartCaseworkStage(referral_id, body.stage)
    return await _act(
        runtime,
        principal,
        referral_id,
        f"start_{body.stage}",
        lambda uow: handlers.start_casework_stage(cmd, uow),
    )


@router.post("/{referral_id}/close")
async def close_referral(
    referral_id: uuid.UUID,
    body: FeedbackRecord = json_body(FeedbackRecord),
    principal: Principal = PRACTITIONERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.CloseReferral(referral_id, body, closed_on=_today(runtime))
    return await _act(
        runtime,
        principal,
        referral_id,
        "close",
        lambda uow: handlers.close_referral(cmd, uow),
    )
