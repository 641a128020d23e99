"""HTTP entrypoints for people who act on referrals: submit, triage, move casework on, read."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from eps_chassis.access import OneRecord, audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.errors import DomainError
from eps_chassis.http import Purpose, json_body
from eps_chassis.request_outcomes import request_record
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import (
    CaseworkStage,
    FeedbackRecord,
    RedirectDestination,
    ReferralRequested,
)
from fastapi import APIRouter, Depends, Path
from pydantic import Field

from eps_referrals import views
from eps_referrals.domain import commands
from eps_referrals.domain.evidence import check_source
from eps_referrals.domain.model import referral_id_for
from eps_referrals.entrypoints.events import register_referral_command
from eps_referrals.service_layer import handlers
from eps_referrals.service_layer.unit_of_work import (
    PostgresReferralsUnitOfWork,
    ReferralsUnitOfWork,
)
from eps_referrals.views import (
    ReferralRequestOutcome,
    ReferralView,
    RegisteredSchool,
    SubmittedReferral,
)

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


Runtime = ServiceRuntime[PostgresReferralsUnitOfWork]

# a referral is the child's: school staff reach only their own school's
REFERRAL = OneRecord("referral", views.referral, school=lambda referral: referral.school_urn)
# an upstream request, by the id its sender gave it: school staff see only what became of their
# own school's (a request still waiting names no school yet)
REQUEST = request_record(
    "referral-request",
    views.request_outcome,
    service="referrals",
    field="request_id",
    record=lambda shown: f"referral/{shown.referral.referral_id}" if shown.referral else None,
    school=lambda shown: shown.school_urn,
)


def _triager(principal: Principal) -> tuple[str, bool]:
    """Who triages, and whether they may triage any referral (a senior or principal EP)."""
    return principal.subject, principal.role in SENIOR


@router.post("", status_code=201, response_model=SubmittedReferral)
async def submit_referral(
    principal: Principal = SUBMITTERS,
    body: ReferralRequested = json_body(ReferralRequested),
    runtime: Runtime = Depends(get_runtime),
) -> SubmittedReferral:
    """Submit a request from any source; ``requester.kind`` says which route it came by.

    A SENCO submits their own school's requests; the EPS (EPs, coordinators, admin) enters the
    other routes: a parent or carer's direct contact, the Virtual School, a social worker or
    foster carer asking the looked-after children EP, SEND services.
    """
    return await _submit(body, principal, runtime)


@router.post("/sources/{source}", status_code=201, response_model=SubmittedReferral)
async def submit_referral_from(
    source: RequesterKind,
    principal: Principal = SUBMITTERS,
    body: ReferralRequested = json_body(ReferralRequested),
    runtime: Runtime = Depends(get_runtime),
) -> SubmittedReferral:
    """Each source's own entry (``/referrals/sources/parent_carer`` and so on): the request
    must come from that source, and that source's rules apply as on ``POST /referrals``."""
    if body.requester.kind is not source:
        raise DomainError(
            f"this entry takes {source} requests, not {body.requester.kind}",
            field="requester.kind",
        )
    return await _submit(body, principal, runtime)


async def _submit(
    body: ReferralRequested, principal: Principal, runtime: Runtime
) -> SubmittedReferral:
    referral_id = referral_id_for(principal.tenant, body.request_id)
    async with audited_access(
        runtime.uow, principal, action="submit", resource=f"referral/{referral_id}"
    ) as access:
        access.check_school(body.child.school_urn)
        check_source(body.requester.kind, school_staff=principal.is_school_staff)
        referral_id = await handlers.register_referral(register_referral_command(body), access.uow)
        access.resource = f"referral/{referral_id}"
        view = await views.referral(access.uow, referral_id)
    assert view is not None
    return views.submitted(view)


@router.put("/schools/{school_urn}", response_model=RegisteredSchool)
async def register_school(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    principal: Principal = REGISTRARS,
    body: SchoolBody = json_body(SchoolBody),
    runtime: Runtime = Depends(get_runtime),
) -> RegisteredSchool:
    """Add a school or setting to the LA's register: requests naming any other URN are
    refused as an unknown school (schools with a named EP are known from scheduling too)."""
    async with audited_access(
        runtime.uow, principal, action="register_school", resource=f"school/{school_urn}"
    ) as access:
        await handlers.register_school(commands.RegisterSchool(school_urn, body.name), access.uow)
    return RegisteredSchool(school_urn=school_urn, name=body.name)


async def _read_minimum(uow: ReferralsUnitOfWork) -> GraduatedApproachBody:
    return GraduatedApproachBody(**asdict(await uow.configuration.graduated_approach_minimum()))


async def _set_minimum(
    body: GraduatedApproachBody, uow: ReferralsUnitOfWork
) -> GraduatedApproachBody:
    command = commands.SetGraduatedApproachMinimum(
        body.review_cycles, body.strategies, body.months_on_sen_support
    )
    return GraduatedApproachBody(
        **asdict(await handlers.set_graduated_approach_minimum(command, uow))
    )


configuration_routes(
    router,
    "graduated-approach",
    GraduatedApproachBody,
    read=_read_minimum,
    write=_set_minimum,
    readers=READERS,  # SENCOs read what their school's requests must show
    writers=CONFIGURERS,
    description="The evidence this LA expects with a school's request before it asks for an"
    " EP: assess-plan-do-review cycles, strategies tried and months on SEN support.",
)


@router.get("/requests/{request_id}", response_model=ReferralRequestOutcome)
async def read_request_outcome(
    request_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> ReferralRequestOutcome:
    """What became of a request (from an upstream system on ``eps.upstream.referral-requests.v1``
    or over HTTP), by the ``request_id`` its sender gave it: the referral it became and where it
    stands, or what it waits for. On Kafka the same news is ``eps.referrals.referral-received.v2``
    on ``eps.referrals.referral.v1`` (its ``request_id``; ``causationid`` the request's event)."""
    return await REQUEST.act(runtime.uow, principal, request_id, action="read", purpose=x_purpose)


@router.get("/{referral_id}", response_model=ReferralView)
async def read_referral(
    referral_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> ReferralView:
    return await REFERRAL.act(runtime.uow, principal, referral_id, action="read", purpose=x_purpose)


@router.post("/{referral_id}/accept", response_model=ReferralView)
async def accept_referral(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    runtime: Runtime = Depends(get_runtime),
) -> ReferralView:
    ep_id, senior = _triager(principal)
    cmd = commands.AcceptReferral(referral_id, ep_id, senior)
    return await REFERRAL.act(
        runtime.uow,
        principal,
        referral_id,
        action="accept",
        work=lambda uow: handlers.accept_referral(cmd, uow),
    )


@router.post("/{referral_id}/decline", response_model=ReferralView)
async def decline_referral(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    body: DeclineBody = json_body(DeclineBody),
    runtime: Runtime = Depends(get_runtime),
) -> ReferralView:
    ep_id, senior = _triager(principal)
    cmd = commands.DeclineReferral(referral_id, body.reason, ep_id, senior)
    return await REFERRAL.act(
        runtime.uow,
        principal,
        referral_id,
        action="decline",
        work=lambda uow: handlers.decline_referral(cmd, uow),
    )


@router.post("/{referral_id}/redirect", response_model=ReferralView)
async def redirect_referral(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    body: RedirectBody = json_body(RedirectBody),
    runtime: Runtime = Depends(get_runtime),
) -> ReferralView:
    ep_id, senior = _triager(principal)
    cmd = commands.RedirectReferral(
        referral_id, body.destination, body.reason, ep_id, senior, body.service_name
    )
    return await REFERRAL.act(
        runtime.uow,
        principal,
        referral_id,
        action="redirect",
        work=lambda uow: handlers.redirect_referral(cmd, uow),
    )


@router.post("/{referral_id}/casework", response_model=ReferralView)
async def start_casework_stage(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    body: StageBody = json_body(StageBody),
    runtime: Runtime = Depends(get_runtime),
) -> ReferralView:
    cmd = commands.StartCaseworkStage(referral_id, body.stage, body.skip_reason)
    return await REFERRAL.act(
        runtime.uow,
        principal,
        referral_id,
        action=f"start_{body.stage}",
        work=lambda uow: handlers.start_casework_stage(cmd, uow),
    )


@router.post("/{referral_id}/close", response_model=ReferralView)
async def close_referral(
    referral_id: uuid.UUID,
    principal: Principal = PRACTITIONERS,
    body: FeedbackRecord = json_body(FeedbackRecord),
    runtime: Runtime = Depends(get_runtime),
) -> ReferralView:
    cmd = commands.CloseReferral(referral_id, body)
    return await REFERRAL.act(
        runtime.uow,
        principal,
        referral_id,
        action="close",
        work=lambda uow: handlers.close_referral(cmd, uow),
    )
