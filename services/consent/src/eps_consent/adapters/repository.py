"""Persistence of consent cases and the LA's consent policy.

Each repository is an abstract port (what the service layer needs) and its PostgreSQL adapter,
bound to one unit of work: its transaction and its local authority. Tests use in-memory fakes
(``tests/support/fakes/consent.py``).
"""

from __future__ import annotations

import abc
import uuid
from datetime import date, datetime

import asyncpg
from eps_chassis.london import london_date
from eps_chassis.subject_access import changed
from eps_chassis.unit_of_work import PostgresRepository, PostgresUnitOfWork
from eps_contracts.consent import ConsentDecisionKind, ConsentScope, InvolvementConsent
from eps_contracts.privacy import RectifiedDetails

from eps_consent.domain.model import ConsentCase, ConsentStatus, DecisionRecord
from eps_consent.domain.rules import CapacityAssessment, ChildFacts, ConsentPolicy


class ConsentCaseRepository(abc.ABC):
    """One local authority's consent cases. Cases loaded or added are tracked by the unit of
    work, which publishes the events they record."""

    @abc.abstractmethod
    async def add(self, case: ConsentCase, on: date) -> bool:
        """Keep a new case; False when the referral already has one."""

    @abc.abstractmethod
    async def get(self, referral_id: uuid.UUID) -> ConsentCase | None:
        """The referral's case, locked for this transaction."""

    @abc.abstractmethod
    async def save(self, case: ConsentCase, on: date) -> None:
        """Keep a case's new state, decisions and capacity assessments."""

    @abc.abstractmethod
    async def due_for_reassessment(self, on: date, limit: int = 500) -> list[uuid.UUID]:
        """Cases whose status may have changed by ``on`` (grants expiring, a child turning
        16), soonest first."""


class ConsentPolicyRepository(abc.ABC):
    """The local authority's consent periods."""

    @abc.abstractmethod
    async def get(self) -> ConsentPolicy:
        """Its policy, or the defaults when it has set none."""

    @abc.abstractmethod
    async def set(self, policy: ConsentPolicy) -> None: ...


async def tenants_due_for_reassessment(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with a case due for reassessment (the expiry job's round)."""
    rows = await conn.fetch(
        "SELECT DISTINCT tenant FROM consent_cases WHERE reassess_on <= $1 ORDER BY tenant",
        london_date(now),
    )
    return [r["tenant"] for r in rows]


class PostgresConsentCaseRepository(ConsentCaseRepository, PostgresRepository):
    async def add(self, case: ConsentCase, on: date) -> bool:
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
        if inserted:
            self.uow.track(case)
        else:  # opened before: by this local authority (told again), or by another
            await self.refuse_anothers("consent_cases", "referral_id", case.referral_id, "referral")
        return bool(inserted)

    async def get(self, referral_id: uuid.UUID) -> ConsentCase | None:
        tenant = self.tenant
        row = await self.conn.fetchrow(
            "SELECT * FROM consent_cases WHERE referral_id = $1 FOR UPDATE", referral_id
        )
        row = self.owned(
            row,
            "referral",
            referral_id,
            field="referral_id",
            message="no consent case for this referral (yet)",
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
        return self.uow.track(case)

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

    async def due_for_reassessment(self, on: date, limit: int = 500) -> list[uuid.UUID]:
        rows = await self.conn.fetch(
            "SELECT referral_id FROM consent_cases WHERE tenant = $1 AND reassess_on <= $2"
            " ORDER BY reassess_on LIMIT $3",
            self.tenant,
            on,
            limit,
        )
        return [r["referral_id"] for r in rows]


class PostgresConsentPolicyRepository(ConsentPolicyRepository, PostgresRepository):
    async def get(self) -> ConsentPolicy:
        row = await self.conn.fetchrow(
            "SELECT looked_after_reconsent_months, default_reconsent_months FROM consent_policies"
            " WHERE tenant = $1 OR tenant = '*' ORDER BY tenant = '*' LIMIT 1",
            self.tenant,
        )
        if row is None:
            return ConsentPolicy()
        return ConsentPolicy(
            looked_after_reconsent_months=row["looked_after_reconsent_months"],
            default_reconsent_months=row["default_reconsent_months"],
        )

    async def set(self, policy: ConsentPolicy) -> None:
        await self.conn.execute(
            "INSERT INTO consent_policies (tenant, looked_after_reconsent_months,"
            " default_reconsent_months) VALUES ($1, $2, $3) ON CONFLICT (tenant) DO UPDATE SET"
            " looked_after_reconsent_months = excluded.looked_after_reconsent_months,"
            " default_reconsent_months = excluded.default_reconsent_months",
            self.tenant,
            policy.looked_after_reconsent_months,
            policy.default_reconsent_months,
        )


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


async def erase_child(uow: PostgresUnitOfWork, child_id: uuid.UUID) -> int:
    """The child's retention has ended: their consent cases, decisions and assessments go."""
    erased = 0
    cases = "SELECT referral_id FROM consent_cases WHERE tenant = $1 AND child_id = $2"
    for table in ("consent_decisions", "capacity_assessments"):
        count = await changed(
            uow, f"DELETE FROM {table} WHERE referral_id IN ({cases})", uow.tenant, child_id
        )
        erased += count
    count = await changed(
        uow, "DELETE FROM consent_cases WHERE tenant = $1 AND child_id = $2", uow.tenant, child_id
    )
    return erased + count


async def rectify_child(
    uow: PostgresUnitOfWork, child_id: uuid.UUID, details: RectifiedDetails
) -> int:
    """Consent keeps the child's date of birth (who decides depends on age)."""
    if details.date_of_birth is None:
        return 0
    count = await changed(
        uow,
        "UPDATE consent_cases SET child_date_of_birth = $3 WHERE tenant = $1 AND child_id = $2",
        uow.tenant,
        child_id,
        details.date_of_birth,
    )
    return count
