"""Persistence of referrals in the service's own schema. Every query is scoped to a tenant."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import date
from typing import Any

import asyncpg
from eps_contracts.common import PriorityGroup
from eps_contracts.referrals import (
    CaseworkStage,
    ChildDetails,
    FeedbackRecord,
    GraduatedApproachEvidence,
    Requester,
)

from eps_referrals.domain.commands import RegisterReferral
from eps_referrals.domain.evidence import GraduatedApproachMinimum, SchoolRegister
from eps_referrals.domain.model import ConsentView, Referral, ReferralStatus

OPEN = "status NOT IN ('declined', 'redirected', 'closed', 'duplicate')"


def _request_json(referral: Referral) -> str:
    def encode(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        return str(value)

    return json.dumps(asdict(referral.request), default=encode)


def _request_from(doc: dict[str, Any]) -> RegisterReferral:
    evidence = doc.get("graduated_approach")
    return RegisterReferral(
        request_id=uuid.UUID(doc["request_id"]),
        requested_on=date.fromisoformat(doc["requested_on"]),
        requester=Requester.model_validate_json(json.dumps(doc["requester"])),
        child=ChildDetails.model_validate_json(json.dumps(doc["child"])),
        concerns=doc["concerns"],
        priority_groups=tuple(PriorityGroup(p) for p in doc.get("priority_groups", ())),
        exclusion_tier=doc.get("exclusion_tier"),
        graduated_approach=GraduatedApproachEvidence.model_validate_json(json.dumps(evidence))
        if evidence
        else None,
    )


class ReferralRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, referral: Referral, actor: str) -> None:
        await self.conn.execute(
            "INSERT INTO referrals (referral_id, tenant, request_id, child_id, status,"
            " received_on, school_urn, request, requester_id) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            referral.referral_id,
            referral.tenant,
            referral.request_id,
            referral.child_id,
            str(referral.status),
            referral.received_on,
            referral.request.child.school_urn,
            _request_json(referral),
            referral.requester_id,
        )
        await self.save(referral, actor)

    async def save(self, referral: Referral, actor: str) -> None:
        """Write the state and append the new events to the referral's history."""
        await self.conn.execute(
            "UPDATE referrals SET status = $3, named_ep_id = $4, paused_stage = $5,"
            " consent_involvement = $6, consent_valid = $7, consent_reason = $8,"
            " duplicate_of = $9, feedback = $10, updated_at = clock_timestamp()"
            " WHERE tenant = $1 AND referral_id = $2",
            referral.tenant,
            referral.referral_id,
            str(referral.status),
            referral.named_ep_id,
            str(referral.paused_stage) if referral.paused_stage else None,
            referral.consent.involvement,
            referral.consent.valid,
            referral.consent.reason,
            referral.duplicate_of,
            referral.feedback.model_dump_json() if referral.feedback else None,
        )
        await self.conn.executemany(
            "INSERT INTO referral_history (tenant, referral_id, event_type, data, actor)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (referral.tenant, referral.referral_id, e.event_type, e.model_dump_json(), actor)
                for e in referral.events
            ],
        )

    async def get(self, tenant: str, referral_id: uuid.UUID) -> Referral | None:
        """Load a referral and lock it for this transaction."""
        row = await self.conn.fetchrow(
            "SELECT * FROM referrals WHERE tenant = $1 AND referral_id = $2 FOR UPDATE",
            tenant,
            referral_id,
        )
        return _referral(row) if row is not None else None

    async def id_for_request(self, tenant: str, request_id: uuid.UUID) -> uuid.UUID | None:
        value = await self.conn.fetchval(
            "SELECT referral_id FROM referrals WHERE tenant = $1 AND request_id = $2",
            tenant,
            request_id,
        )
        return value if isinstance(value, uuid.UUID) else None

    async def lock(self, tenant: str, what: str) -> None:
        """Serialise concurrent work on one thing (an HTTP retry racing the event, a child)."""
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{tenant}:{what}")

    async def open_referral_of(
        self, tenant: str, child_id: uuid.UUID, requester_id: str
    ) -> uuid.UUID | None:
        value = await self.conn.fetchval(
            f"SELECT referral_id FROM referrals WHERE tenant = $1 AND child_id = $2"
            f" AND requester_id = $3 AND {OPEN} ORDER BY created_at LIMIT 1",
            tenant,
            child_id,
            requester_id,
        )
        return value if isinstance(value, uuid.UUID) else None

    async def awaiting_routing(self, tenant: str, school_urn: str, ep_id: str) -> list[Referral]:
        """Open referrals of a school not yet with this named EP, before triage."""
        rows = await self.conn.fetch(
            "SELECT * FROM referrals WHERE tenant = $1 AND school_urn = $2"
            " AND status IN ('awaiting_consent', 'awaiting_triage')"
            " AND named_ep_id IS DISTINCT FROM $3 ORDER BY created_at FOR UPDATE",
            tenant,
            school_urn,
            ep_id,
        )
        return [_referral(r) for r in rows]

    # -- read models and configuration --------------------------------------------------

    async def named_ep(self, tenant: str, school_urn: str | None) -> str | None:
        if school_urn is None:
            return None
        value = await self.conn.fetchval(
            "SELECT ep_id FROM named_eps WHERE tenant = $1 AND school_urn = $2",
            tenant,
            school_urn,
        )
        return str(value) if value is not None else None

    async def record_named_ep(
        self, tenant: str, school_urn: str, ep_id: str, effective_from: date
    ) -> bool:
        """Keep the latest assignment; False when a later one is already known."""
        changed = await self.conn.fetchval(
            "INSERT INTO named_eps (tenant, school_urn, ep_id, effective_from)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, school_urn) DO UPDATE"
            " SET ep_id = EXCLUDED.ep_id, effective_from = EXCLUDED.effective_from"
            " WHERE named_eps.effective_from <= EXCLUDED.effective_from RETURNING true",
            tenant,
            school_urn,
            ep_id,
            effective_from,
        )
        return bool(changed)

    async def register_school(
        self, tenant: str, school_urn: str, name: str | None, known_from: str
    ) -> None:
        """Know a school; a name from the LA's register replaces what a named EP taught."""
        await self.conn.execute(
            "INSERT INTO schools (tenant, school_urn, name, known_from) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (tenant, school_urn) DO UPDATE"
            " SET name = coalesce(EXCLUDED.name, schools.name),"
            " known_from = CASE WHEN EXCLUDED.name IS NULL THEN schools.known_from"
            " ELSE EXCLUDED.known_from END",
            tenant,
            school_urn,
            name,
            known_from,
        )

    async def school_register(self, tenant: str, school_urn: str | None) -> SchoolRegister:
        row = await self.conn.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM schools WHERE tenant = $1) AS in_use,"
            " EXISTS (SELECT 1 FROM schools WHERE tenant = $1 AND school_urn = $2) AS knows",
            tenant,
            school_urn,
        )
        assert row is not None
        return SchoolRegister(in_use=row["in_use"], knows=row["knows"])

    async def consent_of(self, tenant: str, referral_id: uuid.UUID) -> ConsentView | None:
        row = await self.conn.fetchrow(
            "SELECT involvement, involvement_valid, reason FROM consent_statuses"
            " WHERE tenant = $1 AND referral_id = $2",
            tenant,
            referral_id,
        )
        if row is None:
            return None
        return ConsentView(row["involvement"], row["involvement_valid"], row["reason"])

    async def record_consent(
        self, tenant: str, referral_id: uuid.UUID, consent: ConsentView
    ) -> None:
        await self.conn.execute(
            "INSERT INTO consent_statuses (tenant, referral_id, involvement, involvement_valid,"
            " reason) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, referral_id) DO UPDATE"
            " SET involvement = EXCLUDED.involvement,"
            " involvement_valid = EXCLUDED.involvement_valid, reason = EXCLUDED.reason",
            tenant,
            referral_id,
            consent.involvement,
            consent.valid,
            consent.reason,
        )

    async def graduated_approach_minimum(self, tenant: str) -> GraduatedApproachMinimum:
        row = await self.conn.fetchrow(
            "SELECT review_cycles, strategies, months_on_sen_support"
            " FROM graduated_approach_minimums WHERE tenant = $1 OR tenant = '*'"
            " ORDER BY tenant = '*' LIMIT 1",
            tenant,
        )
        return GraduatedApproachMinimum(**dict(row)) if row else GraduatedApproachMinimum()

    async def set_graduated_approach_minimum(
        self, tenant: str, minimum: GraduatedApproachMinimum
    ) -> None:
        await self.conn.execute(
            "INSERT INTO graduated_approach_minimums"
            " (tenant, review_cycles, strategies, months_on_sen_support) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (tenant) DO UPDATE SET review_cycles = EXCLUDED.review_cycles,"
            " strategies = EXCLUDED.strategies,"
            " months_on_sen_support = EXCLUDED.months_on_sen_support",
            tenant,
            minimum.review_cycles,
            minimum.strategies,
            minimum.months_on_sen_support,
        )

    # -- views ----------------------------------------------------------------------------

    async def school_of(self, tenant: str, referral_id: uuid.UUID) -> tuple[bool, str | None]:
        """(exists, school URN) of a referral, for access checks before loading it."""
        row = await self.conn.fetchrow(
            "SELECT school_urn FROM referrals WHERE tenant = $1 AND referral_id = $2",
            tenant,
            referral_id,
        )
        return (row is not None, row["school_urn"] if row else None)

    async def get_view(self, tenant: str, referral_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT referral_id, tenant, request_id, child_id, status, received_on, school_urn,"
            " request, named_ep_id, paused_stage, consent_involvement, consent_valid,"
            " consent_reason, duplicate_of, feedback FROM referrals"
            " WHERE tenant = $1 AND referral_id = $2",
            tenant,
            referral_id,
        )
        if row is None:
            return None
        view = dict(row)
        view["request"] = json.loads(view["request"])
        view["feedback"] = json.loads(view["feedback"]) if view["feedback"] else None
        view["routing"] = "named_ep" if view["named_ep_id"] else "no_named_ep_yet"
        history = await self.conn.fetch(
            "SELECT event_type, data, actor, at FROM referral_history"
            " WHERE tenant = $1 AND referral_id = $2 ORDER BY id",
            tenant,
            referral_id,
        )
        view["history"] = [{**dict(h), "data": json.loads(h["data"])} for h in history]
        return view


def _referral(row: asyncpg.Record) -> Referral:
    request = _request_from(json.loads(row["request"]))
    return Referral(
        referral_id=row["referral_id"],
        tenant=row["tenant"],
        request_id=row["request_id"],
        child_id=row["child_id"],
        status=ReferralStatus(row["status"]),
        received_on=row["received_on"],
        request=request,
        consent=ConsentView(
            row["consent_involvement"], row["consent_valid"], row["consent_reason"]
        ),
        named_ep_id=row["named_ep_id"],
        paused_stage=CaseworkStage(row["paused_stage"]) if row["paused_stage"] else None,
        duplicate_of=row["duplicate_of"],
        feedback=FeedbackRecord.model_validate_json(row["feedback"]) if row["feedback"] else None,
    )
