"""Persistence of consent cases, scoped by tenant."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg
from eps_contracts.consent import ConsentDecisionKind, ConsentScope, InvolvementConsent

from eps_consent.domain.model import ConsentCase, ConsentStatus, DecisionRecord
from eps_consent.domain.rules import CapacityAssessment, ChildFacts, ConsentPolicy


class ConsentCaseRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, case: ConsentCase, on: date) -> bool:
        """Insert the case; False when the referral already has one."""
        child = case.child
        inserted = await self.conn.fetchval(
            "INSERT INTO consent_cases (referral_id, tenant, child_id, consenters, state,"
            " child_date_of_birth, looked_after, pr_holder_ids, social_worker_id, school_urn,"
            " reassess_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT DO NOTHING RETURNING true",
            case.referral_id,
            case.tenant,
            child.child_id,
            list(case.consenters(ConsentScope.INVOLVEMENT, on)),
            str(case.published.involvement),
            child.date_of_birth,
            child.looked_after,
            list(child.parental_responsibility),
            child.social_worker_id,
            case.school_urn,
            case.next_reassessment(on),
        )
        return bool(inserted)

    async def get(self, tenant: str, referral_id: uuid.UUID) -> ConsentCase | None:
        """Load a case and lock it for this transaction."""
        row = await self.conn.fetchrow(
            "SELECT * FROM consent_cases WHERE tenant = $1 AND referral_id = $2 FOR UPDATE",
            tenant,
            referral_id,
        )
        if row is None:
            return None
        decisions = await self.conn.fetch(
            "SELECT * FROM consent_decisions WHERE tenant = $1 AND referral_id = $2 ORDER BY seq",
            tenant,
            referral_id,
        )
        assessments = await self.conn.fetch(
            "SELECT * FROM capacity_assessments WHERE tenant = $1 AND referral_id = $2"
            " ORDER BY assessed_on, id",
            tenant,
            referral_id,
        )
        case = ConsentCase(
            referral_id=row["referral_id"],
            tenant=row["tenant"],
            child=ChildFacts(
                child_id=row["child_id"],
                date_of_birth=row["child_date_of_birth"],
                looked_after=row["looked_after"],
                parental_responsibility=tuple(row["pr_holder_ids"]),
                social_worker_id=row["social_worker_id"],
            ),
            school_urn=row["school_urn"],
            decisions=[_decision(d) for d in decisions],
            assessments={
                ConsentScope(a["scope"]): CapacityAssessment(
                    scope=ConsentScope(a["scope"]),
                    has_capacity=a["has_capacity"],
                    assessed_on=a["assessed_on"],
                    assessor_id=a["assessor_id"],
                    evidence_ref=a["evidence_ref"],
                )
                for a in assessments
            },
            published=ConsentStatus(
                involvement=InvolvementConsent(row["state"])
                if row["state"] in InvolvementConsent._value2member_map_
                else InvolvementConsent.AWAITING,
                involvement_valid=row["involvement_valid"],
                valid_until=row["valid_until"],
                sharing_agencies=tuple(row["sharing_agencies"]),
            ),
            closed_on=row["closed_on"],
            closed_reason=row["closed_reason"],
        )
        return case

    async def save(self, case: ConsentCase, on: date) -> None:
        status = case.published
        await self.conn.execute(
            "UPDATE consent_cases SET state = $3, involvement_valid = $4, valid_until = $5,"
            " sharing_agencies = $6, consenters = $7, reassess_on = $8, closed_on = $9,"
            " closed_reason = $10 WHERE tenant = $1 AND referral_id = $2",
            case.tenant,
            case.referral_id,
            str(status.involvement),
            status.involvement_valid,
            status.valid_until,
            list(status.sharing_agencies),
            list(case.consenters(ConsentScope.INVOLVEMENT, on)),
            case.next_reassessment(on),
            case.closed_on,
            case.closed_reason,
        )
        if case.new_decisions:
            await self.conn.executemany(
                "INSERT INTO consent_decisions (decision_id, tenant, referral_id, consenter_id,"
                " scope, agency, decision, method, decided_on, evidence_ref, expires_on,"
                " recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                [
                    (
                        d.decision_id,
                        case.tenant,
                        case.referral_id,
                        d.consenter_id,
                        str(d.scope),
                        d.agency,
                        str(d.decision),
                        d.method,
                        d.decided_on,
                        d.evidence_ref,
                        d.expires_on,
                        d.recorded_by,
                    )
                    for d in case.new_decisions
                ],
            )
        if case.new_assessments:
            await self.conn.executemany(
                "INSERT INTO capacity_assessments (tenant, referral_id, scope, has_capacity,"
                " assessed_on, assessor_id, evidence_ref) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    (
                        case.tenant,
                        case.referral_id,
                        str(a.scope),
                        a.has_capacity,
                        a.assessed_on,
                        a.assessor_id,
                        a.evidence_ref,
                    )
                    for a in case.new_assessments
                ],
            )
        case.new_decisions.clear()
        case.new_assessments.clear()

    async def due_for_reassessment(self, on: date, limit: int = 500) -> list[tuple[str, uuid.UUID]]:
        """Cases of every tenant whose status may have changed by ``on`` (the expiry job)."""
        rows = await self.conn.fetch(
            "SELECT tenant, referral_id FROM consent_cases WHERE reassess_on <= $1"
            " ORDER BY reassess_on LIMIT $2",
            on,
            limit,
        )
        return [(r["tenant"], r["referral_id"]) for r in rows]

    async def policy(self, tenant: str) -> ConsentPolicy:
        row = await self.conn.fetchrow(
            "SELECT looked_after_reconsent_months, default_reconsent_months FROM consent_policies"
            " WHERE tenant = $1 OR tenant = '*' ORDER BY tenant = '*' LIMIT 1",
            tenant,
        )
        if row is None:
            return ConsentPolicy()
        return ConsentPolicy(
            looked_after_reconsent_months=row["looked_after_reconsent_months"],
            default_reconsent_months=row["default_reconsent_months"],
        )

    async def set_policy(self, tenant: str, policy: ConsentPolicy) -> None:
        await self.conn.execute(
            "INSERT INTO consent_policies (tenant, looked_after_reconsent_months,"
            " default_reconsent_months) VALUES ($1, $2, $3) ON CONFLICT (tenant) DO UPDATE SET"
            " looked_after_reconsent_months = excluded.looked_after_reconsent_months,"
            " default_reconsent_months = excluded.default_reconsent_months",
            tenant,
            policy.looked_after_reconsent_months,
            policy.default_reconsent_months,
        )

    async def view(self, tenant: str, referral_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT referral_id, child_id, school_urn, consenters, state, involvement_valid,"
            " valid_until, sharing_agencies, closed_on, closed_reason FROM consent_cases"
            " WHERE tenant = $1 AND referral_id = $2",
            tenant,
            referral_id,
        )
        if row is None:
            return None
        decisions = await self.conn.fetch(
            "SELECT decision_id, consenter_id, scope, agency, decision, method, decided_on,"
            " evidence_ref, expires_on, recorded_by, recorded_at FROM consent_decisions"
            " WHERE tenant = $1 AND referral_id = $2 ORDER BY seq",
            tenant,
            referral_id,
        )
        return {**dict(row), "decisions": [dict(d) for d in decisions]}


def _decision(row: asyncpg.Record) -> DecisionRecord:
    return DecisionRecord(
        decision_id=row["decision_id"],
        consenter_id=row["consenter_id"],
        scope=ConsentScope(row["scope"]),
        agency=row["agency"],
        decision=ConsentDecisionKind(row["decision"]),
        method=row["method"],
        decided_on=row["decided_on"],
        evidence_ref=row["evidence_ref"],
        expires_on=row["expires_on"],
        recorded_by=row["recorded_by"],
    )
