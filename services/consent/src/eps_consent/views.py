"""What the consent service shows over HTTP: read straight from its tables, as response models
(so the OpenAPI document describes what comes back)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from eps_chassis.subject_access import HeldRecord, held_rows
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


async def held_about_child(uow: PostgresConsentUnitOfWork, child_id: uuid.UUID) -> list[HeldRecord]:
    """The child's consent cases, every decision and capacity assessment (subject access)."""
    by_child = "FROM consent_cases c WHERE c.tenant = $1 AND c.child_id = $2"
    cases = await held_rows(
        uow, "consent case", f"SELECT * {by_child} ORDER BY opened_at", uow.tenant, child_id,
        key="referral_id", audited_as=("consent", "referral_id"),
        third_party=("consenters", "pr_holder_ids", "social_worker_id"),
    )  # fmt: skip
    decisions = await held_rows(
        uow, "consent decision",
        "SELECT d.* FROM consent_decisions d WHERE d.referral_id IN"
        f" (SELECT c.referral_id {by_child}) ORDER BY d.seq",
        uow.tenant, child_id,
        key="decision_id", audited_as=("consent", "referral_id"),
        third_party=("consenter_id", "recorded_by", "evidence_ref"),
    )  # fmt: skip
    assessments = await held_rows(
        uow, "capacity assessment",
        "SELECT a.* FROM capacity_assessments a WHERE a.referral_id IN"
        f" (SELECT c.referral_id {by_child}) ORDER BY a.id",
        uow.tenant, child_id,
        key="id", audited_as=("consent", "referral_id"),
        third_party=("assessor_id", "evidence_ref"),
    )  # fmt: skip
    return cases + decisions + assessments
