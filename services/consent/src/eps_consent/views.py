"""What the consent service shows over HTTP: read straight from its tables, as response models
(so the OpenAPI document describes what comes back)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from eps_consent.service_layer.unit_of_work import PostgresConsentUnitOfWork


class DecisionView(BaseModel):
    decision_id: uuid.UUID
    consenter_id: str
    scope: str
    agency: str | None
    decision: str
    method: str
    decided_on: date
    evidence_ref: str | None
    expires_on: date | None
    recorded_by: str
    recorded_at: datetime


class ConsentCaseView(BaseModel):
    """A referral's consent case: who may consent, its state and every decision."""

    referral_id: uuid.UUID
    child_id: uuid.UUID
    school_urn: str | None
    consenters: list[str] = Field(description="Who may consent to involvement now.")
    state: str = Field(description="awaiting, granted, refused, withdrawn or expired.")
    involvement_valid: bool
    valid_until: date | None
    sharing_agencies: list[str]
    closed_on: date | None
    closed_reason: str | None
    decisions: list[DecisionView]


async def consent_case(
    uow: PostgresConsentUnitOfWork, referral_id: uuid.UUID
) -> ConsentCaseView | None:
    row = await uow.conn.fetchrow(
        "SELECT referral_id, child_id, school_urn, consenters, state, involvement_valid,"
        " valid_until, sharing_agencies, closed_on, closed_reason FROM consent_cases"
        " WHERE tenant = $1 AND referral_id = $2",
        uow.tenant,
        referral_id,
    )
    if row is None:
        return None
    decisions = await uow.conn.fetch(
        "SELECT decision_id, consenter_id, scope, agency, decision, method, decided_on,"
        " evidence_ref, expires_on, recorded_by, recorded_at FROM consent_decisions"
        " WHERE tenant = $1 AND referral_id = $2 ORDER BY seq",
        uow.tenant,
        referral_id,
    )
    return ConsentCaseView(**row, decisions=[DecisionView(**d) for d in decisions])
