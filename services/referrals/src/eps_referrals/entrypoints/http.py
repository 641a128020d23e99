"""HTTP entrypoints for people who act on referrals."""

from __future__ import annotations

import uuid
from typing import Any

from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import Forbidden, NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.referrals import ReferralRequested
from fastapi import APIRouter, Depends, Header

from eps_referrals.adapters.repository import ReferralRepository
from eps_referrals.entrypoints.events import register_referral_command
from eps_referrals.service_layer import handlers

router = APIRouter(prefix="/referrals", tags=["referrals"])

SUBMITTERS = require_roles(Role.SENCO, Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)
READERS = require_roles(Role.SENCO, Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)


def _check_school(principal: Principal, school_urn: str | None) -> None:
    if principal.is_school_staff and school_urn != principal.school_urn:
        raise Forbidden("school staff may act only for children of their own school")


@router.post("", status_code=201)
async def submit_referral(
    body: ReferralRequested = json_body(ReferralRequested),
    principal: Principal = SUBMITTERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_correlation_id: uuid.UUID | None = Header(None),
) -> dict[str, Any]:
    _check_school(principal, body.child.school_urn)
    context = MessageContext(
        tenant=principal.tenant,
        actor=principal.actor,
        correlation_id=x_correlation_id or uuid.uuid4(),
    )
    async with runtime.uow(context) as uow:
        referral_id = await handlers.register_referral(register_referral_command(body), uow)
        await record_access(
            uow.conn, principal, action="submit", resource=f"referral/{referral_id}"
        )
    return {"referral_id": str(referral_id)}


@router.get("/{referral_id}")
async def read_referral(
    referral_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> dict[str, Any]:
    context = MessageContext(tenant=principal.tenant, actor=principal.actor)
    async with runtime.uow(context) as uow:
        view = await ReferralRepository(uow.conn).get_view(principal.tenant, referral_id)
        outcome = "allowed"
        if view is None:
            outcome = "not_found"
        elif principal.is_school_staff and view["school_urn"] != principal.school_urn:
            outcome = "denied"
        await record_access(
            uow.conn,
            principal,
            action="read",
            resource=f"referral/{referral_id}",
            purpose=x_purpose,
            outcome=outcome,
        )
    if view is None:
        raise NotFound("no such referral")
    if outcome == "denied":
        raise Forbidden("school staff may read only their own school's referrals")
    return view
