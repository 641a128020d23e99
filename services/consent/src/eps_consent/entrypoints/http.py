"""HTTP entrypoints of the consent service: record decisions and capacity, read a case."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date

from eps_chassis.access import OneRecord
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.http import Purpose, json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.common import PersonId
from eps_contracts.consent import ConsentDecisionKind, ConsentMethod, ConsentScope
from fastapi import APIRouter, Depends
from pydantic import Field

from eps_consent import views
from eps_consent.domain.commands import (
    RecordCapacityAssessment,
    RecordConsentDecision,
    SetConsentPolicy,
)
from eps_consent.service_layer import handlers
from eps_consent.service_layer.unit_of_work import ConsentUnitOfWork, PostgresConsentUnitOfWork
from eps_consent.views import ConsentCaseView

router = APIRouter(prefix="/consent", tags=["consent"])

PRACTITIONERS = (Role.SENCO, Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.COORDINATOR)
RECORDERS = require_roles(*PRACTITIONERS, Role.ADMIN)
READERS = require_roles(*PRACTITIONERS, Role.ADMIN)
ASSESSORS = require_roles(Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP)
CONFIGURERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)


class ConsentDecisionBody(ContractModel):
    consenter_id: PersonId = Field(description="Who decided (the child id for a young person).")
    scope: ConsentScope
    agency: str | None = Field(None, max_length=200, description="For information sharing.")
    decision: ConsentDecisionKind
    method: ConsentMethod
    decided_on: date
    evidence_ref: str | None = Field(None, max_length=200, description="Form or note reference.")
    expires_on: date | None = Field(None, description="Re-consent date; default from LA policy.")


class ConsentPolicyBody(ContractModel):
    looked_after_reconsent_months: int = Field(
        ge=1, le=120, description="How long a looked-after child's consent lasts."
    )
    default_reconsent_months: int | None = Field(
        None, ge=1, le=120, description="How long any other consent lasts; empty: until withdrawn."
    )


class CapacityAssessmentBody(ContractModel):
    scope: ConsentScope = Field(description="The decision assessed.")
    has_capacity: bool
    assessed_on: date
    evidence_ref: str = Field(min_length=1, max_length=200)


Runtime = ServiceRuntime[PostgresConsentUnitOfWork]

# a case is the child's: school staff reach only their own school's
CONSENT_CASE = OneRecord(
    "consent",
    views.consent_case,
    school=lambda case: case.school_urn,
    missing="no consent case for this referral (yet)",
    field="referral_id",
)


async def _read_policy(uow: ConsentUnitOfWork) -> ConsentPolicyBody:
    return ConsentPolicyBody(**asdict(await uow.policies.get()))


async def _set_policy(body: ConsentPolicyBody, uow: ConsentUnitOfWork) -> ConsentPolicyBody:
    command = SetConsentPolicy(body.looked_after_reconsent_months, body.default_reconsent_months)
    return ConsentPolicyBody(**asdict(await handlers.set_consent_policy(command, uow)))


configuration_routes(
    router,
    "policy",
    ConsentPolicyBody,
    read=_read_policy,
    write=_set_policy,
    readers=READERS,
    writers=CONFIGURERS,
    description="How long this LA's consents last when a decision gives no expiry date.",
)


@router.post("/{referral_id}/decisions", status_code=201, response_model=ConsentCaseView)
async def record_consent_decision(
    referral_id: uuid.UUID,
    principal: Principal = RECORDERS,
    body: ConsentDecisionBody = json_body(ConsentDecisionBody),
    runtime: Runtime = Depends(get_runtime),
) -> ConsentCaseView:
    cmd = RecordConsentDecision(
        referral_id=referral_id,
        consenter_id=body.consenter_id,
        scope=body.scope,
        decision=body.decision,
        method=body.method,
        decided_on=body.decided_on,
        evidence_ref=body.evidence_ref,
        agency=body.agency,
        expires_on=body.expires_on,
        recorded_by=principal.actor,
    )
    return await CONSENT_CASE.act(
        runtime.uow,
        principal,
        referral_id,
        action="record_consent_decision",
        work=lambda uow: handlers.record_consent_decision(cmd, uow),
    )


@router.post("/{referral_id}/capacity-assessments", status_code=201, response_model=ConsentCaseView)
async def record_capacity_assessment(
    referral_id: uuid.UUID,
    principal: Principal = ASSESSORS,
    body: CapacityAssessmentBody = json_body(CapacityAssessmentBody),
    runtime: Runtime = Depends(get_runtime),
) -> ConsentCaseView:
    cmd = RecordCapacityAssessment(
        referral_id=referral_id,
        scope=body.scope,
        has_capacity=body.has_capacity,
        assessed_on=body.assessed_on,
        assessor_id=principal.subject,
        evidence_ref=body.evidence_ref,
    )
    return await CONSENT_CASE.act(
        runtime.uow,
        principal,
        referral_id,
        action="record_capacity",
        work=lambda uow: handlers.record_capacity_assessment(cmd, uow),
    )


@router.get("/{referral_id}", response_model=ConsentCaseView)
async def read_consent_case(
    referral_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> ConsentCaseView:
    return await CONSENT_CASE.act(
        runtime.uow, principal, referral_id, action="read", purpose=x_purpose
    )
