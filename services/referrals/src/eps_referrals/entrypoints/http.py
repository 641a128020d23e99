"""HTTP entrypoints for people who act on referrals: submit, triage, move casework on, read."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from eps_chassis.access import audited_access
from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import DomainError, NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.base import ContractModel
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import (
    CaseworkStage,
    FeedbackRecord,
    RedirectDestination,
    ReferralRequested,
)
from fastapi import APIRouter, Depends, Header, Path
from pydantic import Field

from eps_referrals.adapters.repository import ReferralRepository
from eps_referrals.domain import commands
from eps_referrals.domain.evidence import check_source
from eps_referrals.domain.model import LONDON, referral_id_for
from eps_referrals.entrypoints.events import register_referral_command
from eps_referrals.service_layer import handlers

router = APIRouter(prefix="/referrals", tags=["referrals"])

EPS = (Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP)
SENIOR = (Role.SENIOR_EP, Role.PRINCIPAL_EP)
SUBMITTERS = require_roles(Role.SENCO, *EPS, Role.COORDINATOR, Role.ADMIN)
READERS = require_roles(Role.SENCO, *EPS, Role.COORDINATOR, Role.ADMIN)
PRACTITIONERS = require_roles(*EPS)
REGISTRARS = require_roles(Role.COORDINATOR, Role.ADMIN)
CONFIGURERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)


class SchoolBody(ContractModel):
    name: str = Field(min_length=1, max_length=200, description="Name of the school or setting.")


class GraduatedApproachBody(ContractModel):
    review_cycles: int = Field(ge=0, le=20, description="Assess-plan-do-review cycles done.")
    strategies: int = Field(ge=0, le=50, description="Strategies tried and recorded.")
    months_on_sen_support: int = Field(ge=0, le=120, description="Months on SEN support.")


class DeclineBody(ContractModel):
    reason: str = Field(min_length=1, max_length=500, description="Why it is declined.")


class RedirectBody(ContractModel):
    destination: RedirectDestination
    reason: str = Field(min_length=1, max_length=500, description="Why it goes there.")
    service_name: str | None = Field(None, max_length=200, description="For another service.")


class StageBody(ContractModel):
    stage: CaseworkStage
    skip_reason: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="Why the stages before this one are not needed, when it skips any.",
    )


Work = Callable[[UnitOfWork], Awaitable[None]]


def _today(runtime: ServiceRuntime) -> date:
    return runtime.clock().astimezone(LONDON).date()


async def _on_referral(
    runtime: ServiceRuntime,
    principal: Principal,
    referral_id: uuid.UUID,
    action: str,
    work: Work | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    """Do ``work`` on one referral for the caller (own school only for school staff), audited,
    and return the referral with its history."""
    async with audited_access(
        runtime.uow, principal, action=action, resource=f"referral/{referral_id}", purpose=purpose
    ) as access:
        referrals = ReferralRepository(access.uow.conn)
        exists, school = await referrals.school_of(principal.tenant, referral_id)
        if not exists:
            raise NotFound("no such referral")
        access.check_school(school)
        if work is not None:
            await work(access.uow)
        view = await referrals.get_view(principal.tenant, referral_id)
    assert view is not None
    return view


@router.post("", status_code=201)
async def submit_referral(
    body: ReferralRequested = json_body(ReferralRequested),
    principal: Principal = SUBMITTERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Submit a request from any source; ``requester.kind`` says which route it came by.

    A SENCO submits their own school's requests; the EPS (EPs, coordinators, admin) enters the
    other routes: a parent or carer's direct contact, the Virtual School, a social worker or
    foster carer asking the looked-after children EP, SEND services.
    """
    return await _submit(body, principal, runtime)


@router.post("/sources/{source}", status_code=201)
async def submit_referral_from(
    source: RequesterKind,
    body: ReferralRequested = json_body(ReferralRequested),
    principal: Principal = SUBMITTERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Each source's own entry (``/referrals/sources/parent_carer`` and so on): the request
    must come from that source, and that source's rules apply as on ``POST /referrals``."""
    if body.requester.kind is not source:
        raise DomainError(
            f"this entry takes {source} requests, not {body.requester.kind}",
            field="requester.kind",
        )
    return await _submit(body, principal, runtime)


async def _submit(
    body: ReferralRequested, principal: Principal, runtime: ServiceRuntime
) -> dict[str, Any]:
    referral_id = referral_id_for(principal.tenant, body.request_id)
    async with audited_access(
        runtime.uow,
        principal,
        action="submit",
        resource=f"referral/{referral_id}",
    ) as access:
        access.check_school(body.child.school_urn)
        check_source(body.requester.kind, school_staff=principal.is_school_staff)
        referral_id = await handlers.register_referral(register_referral_command(body), access.uow)
        access.resource = f"referral/{referral_id}"
        view = await ReferralRepository(access.uow.conn).get_view(principal.tenant, referral_id)
    assert view is not None
    return {
        "referral_id": str(referral_id),
        "status": view["status"],
        "duplicate_of": str(view["duplicate_of"]) if view["duplicate_of"] else None,
        "routing": view["routing"],
    }


@router.put("/schools/{school_urn}")
async def register_school(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    body: SchoolBody = json_body(SchoolBody),
    principal: Principal = REGISTRARS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Add a school or setting to the LA's register: requests naming any other URN are
    refused as an unknown school (schools with a named EP are known from scheduling too)."""
    context = MessageContext.of(principal)
    async with runtime.uow(context) as uow:
        await handlers.register_school(commands.RegisterSchool(school_urn, body.name), uow)
    return {"school_urn": school_urn, "name": body.name}


@router.get("/configuration/graduated-approach")
async def read_graduated_approach_minimum(
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, int]:
    """The evidence this LA expects with a school's request (SENCOs may read it too)."""
    context = MessageContext.of(principal)
    async with runtime.uow(context) as uow:
        minimum = await ReferralRepository(uow.conn).graduated_approach_minimum(uow.tenant)
    return asdict(minimum)


@router.put("/configuration/graduated-approach")
async def set_graduated_approach_minimum(
    body: GraduatedApproachBody = json_body(GraduatedApproachBody),
    principal: Principal = CONFIGURERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, int]:
    """Change the minimum evidence; requests submitted from now on are checked against it."""
    context = MessageContext.of(principal)
    command = commands.SetGraduatedApproachMinimum(
        body.review_cycles, body.strategies, body.months_on_sen_support
    )
    async with runtime.uow(context) as uow:
        minimum = await handlers.set_graduated_approach_minimum(command, uow)
        await record_access(
            uow.conn, principal, action="configure", resource="configuration/graduated-approach"
        )
    return asdict(minimum)


@router.get("/{referral_id}")
async def read_referral(
    referral_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> dict[str, Any]:
    return await _on_referral(runtime, principal, referral_id, "read", purpose=x_purpose)


@router.post("/{referral_id}/accept")
async def accept_referral(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.AcceptReferral(referral_id, ep_id=principal.subject)
    senior = principal.role in SENIOR
    return await _on_referral(
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
    return await _on_referral(
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
    return await _on_referral(
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
    cmd = commands.StartCaseworkStage(referral_id, body.stage, body.skip_reason)
    return await _on_referral(
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
    return await _on_referral(
        runtime,
        principal,
        referral_id,
        "close",
        lambda uow: handlers.close_referral(cmd, uow),
    )
