"""Persistence of referrals and what referrals knows around them.

Each repository is an abstract port (what the service layer needs) and its PostgreSQL adapter,
bound to one unit of work: its transaction and its local authority. Tests use in-memory fakes
(``tests/support/fakes/referrals.py``).

- :class:`ReferralRepository`: the referrals (the aggregate) and their history;
- :class:`SchoolRepository`: the LA's register of schools and each school's named EP;
- :class:`ConsentStatusRepository`: consent's latest status per referral, kept even before the
  referral is known;
- :class:`ConfigurationRepository`: the LA's minimum graduated-approach evidence.
"""

from __future__ import annotations

import abc
import json
import uuid
from dataclasses import asdict
from datetime import date
from typing import Any

import asyncpg
from eps_chassis.subject_access import changed
from eps_chassis.unit_of_work import PostgresRepository, PostgresUnitOfWork
from eps_contracts import Event
from eps_contracts.common import PriorityGroup
from eps_contracts.privacy import RectifiedDetails
from eps_contracts.referrals import (
    CaseworkStage,
    ChildDetails,
    FeedbackRecord,
    GraduatedApproachEvidence,
    Requester,
)
from eps_contracts.sealed import as_held_by_producer

from eps_referrals.domain.commands import RegisterReferral
from eps_referrals.domain.evidence import GraduatedApproachMinimum, SchoolRegister
from eps_referrals.domain.model import ConsentView, Referral, ReferralStatus

OPEN = "status NOT IN ('declined', 'redirected', 'closed', 'duplicate')"


class ReferralRepository(abc.ABC):
    """One local authority's referrals. Referrals loaded or added are tracked by the unit of
    work, which publishes the events they record."""

    @abc.abstractmethod
    async def add(self, referral: Referral) -> None:
        """Keep a new referral and the events it recorded as its history."""

    @abc.abstractmethod
    async def get(self, referral_id: uuid.UUID) -> Referral | None:
        """The referral, locked for this transaction."""

    @abc.abstractmethod
    async def save(self, referral: Referral) -> None:
        """Keep a referral's new state; the events it recorded join its history."""

    @abc.abstractmethod
    async def id_for_request(self, request_id: uuid.UUID) -> uuid.UUID | None:
        """The referral a request already became, if any."""

    @abc.abstractmethod
    async def open_referral_of(self, child_id: uuid.UUID, requester_id: str) -> uuid.UUID | None:
        """The requester's open referral about this child, if any (the oldest)."""

    @abc.abstractmethod
    async def awaiting_routing(self, school_urn: str, ep_id: str) -> list[Referral]:
        """Open referrals of a school not yet with this named EP, before triage, locked."""

    @abc.abstractmethod
    async def lock_request(self, request_id: uuid.UUID) -> None:
        """Serialise two submissions of one request (an HTTP retry racing the event)."""

    @abc.abstractmethod
    async def lock_child(self, child_id: uuid.UUID) -> None:
        """Serialise two requests about one child (so that a duplicate is seen as one)."""


class SchoolRepository(abc.ABC):
    """The LA's schools as referrals knows them: its register, and each school's named EP."""

    @abc.abstractmethod
    async def lock(self, school_urn: str) -> None:
        """Serialise work on one school: a request naming it and its registration or named EP
        arriving at the same time see each other, never neither."""

    @abc.abstractmethod
    async def register(self, school_urn: str, name: str | None, known_from: str) -> None:
        """Know a school (``known_from``: 'register' or 'named_ep'); a name from the LA's
        register replaces what a named EP taught."""

    @abc.abstractmethod
    async def register_for(self, school_urn: str) -> SchoolRegister:
        """What the register says of one school."""

    @abc.abstractmethod
    async def named_ep(self, school_urn: str | None) -> str | None:
        """The school's named EP, if it has one."""

    @abc.abstractmethod
    async def record_named_ep(self, school_urn: str, ep_id: str, effective_from: date) -> bool:
        """Keep the latest assignment; False when a later one is already known."""


class ConsentStatusRepository(abc.ABC):
    """Consent's latest published status per referral, kept even before the referral is
    known (its event may overtake the request)."""

    @abc.abstractmethod
    async def get(self, referral_id: uuid.UUID) -> ConsentView | None: ...

    @abc.abstractmethod
    async def set(self, referral_id: uuid.UUID, consent: ConsentView) -> None: ...


class ConfigurationRepository(abc.ABC):
    """The local authority's configuration of referrals."""

    @abc.abstractmethod
    async def graduated_approach_minimum(self) -> GraduatedApproachMinimum:
        """Its minimum evidence, or the defaults when it has set none."""

    @abc.abstractmethod
    async def set_graduated_approach_minimum(self, minimum: GraduatedApproachMinimum) -> None: ...


class _Locks(PostgresRepository):
    async def _lock(self, what: str) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.tenant}:{what}"
        )


class PostgresReferralRepository(ReferralRepository, _Locks):
    def __init__(self, uow: PostgresUnitOfWork) -> None:
        super().__init__(uow)
        # events already written to a history: a referral saved twice in one unit of work
        # still has them (the unit of work collects them on commit), and must not repeat them
        self._in_history: list[Event] = []

    async def add(self, referral: Referral) -> None:
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
        self.uow.track(referral)
        await self.save(referral)

    async def get(self, referral_id: uuid.UUID) -> Referral | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM referrals WHERE referral_id = $1 FOR UPDATE", referral_id
        )
        row = self.owned(row, "referral", referral_id, field="referral_id")
        return self.uow.track(_referral(row)) if row is not None else None

    async def save(self, referral: Referral) -> None:
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
        new = [e for e in referral.events if not any(e is w for w in self._in_history)]
        actor = self.uow.actor
        await self.conn.executemany(
            "INSERT INTO referral_history (tenant, referral_id, event_type, data, actor)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (referral.tenant, referral.referral_id, e.event_type, as_held_by_producer(e), actor)
                for e in new
            ],
        )
        self._in_history.extend(new)

    async def id_for_request(self, request_id: uuid.UUID) -> uuid.UUID | None:
        row = await self.conn.fetchrow(
            "SELECT tenant, referral_id FROM referrals WHERE request_id = $1", request_id
        )
        row = self.owned(row, "referral request", request_id, field="request_id")
        return row["referral_id"] if row is not None else None

    async def open_referral_of(self, child_id: uuid.UUID, requester_id: str) -> uuid.UUID | None:
        value = await self.conn.fetchval(
            f"SELECT referral_id FROM referrals WHERE tenant = $1 AND child_id = $2"
            f" AND requester_id = $3 AND {OPEN} ORDER BY created_at LIMIT 1",
            self.tenant,
            child_id,
            requester_id,
        )
        return value if isinstance(value, uuid.UUID) else None

    async def awaiting_routing(self, school_urn: str, ep_id: str) -> list[Referral]:
        rows = await self.conn.fetch(
            "SELECT * FROM referrals WHERE tenant = $1 AND school_urn = $2"
            " AND status IN ('awaiting_consent', 'awaiting_triage')"
            " AND named_ep_id IS DISTINCT FROM $3 ORDER BY created_at FOR UPDATE",
            self.tenant,
            school_urn,
            ep_id,
        )
        return [self.uow.track(_referral(r)) for r in rows]

    async def lock_request(self, request_id: uuid.UUID) -> None:
        await self._lock(f"referral-request:{request_id}")

    async def lock_child(self, child_id: uuid.UUID) -> None:
        await self._lock(f"child:{child_id}")


class PostgresSchoolRepository(SchoolRepository, _Locks):
    async def lock(self, school_urn: str) -> None:
        await self._lock(f"school:{school_urn}")

    async def register(self, school_urn: str, name: str | None, known_from: str) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO schools (tenant, school_urn, name, known_from) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (school_urn) DO UPDATE"
            " SET name = coalesce(EXCLUDED.name, schools.name),"
            " known_from = CASE WHEN EXCLUDED.name IS NULL THEN schools.known_from"
            " ELSE EXCLUDED.known_from END"
            " WHERE schools.tenant = EXCLUDED.tenant RETURNING true",
            self.tenant,
            school_urn,
            name,
            known_from,
        )
        self.kept(kept, "school", school_urn, field="school_urn")

    async def register_for(self, school_urn: str) -> SchoolRegister:
        row = await self.conn.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM schools WHERE tenant = $1) AS in_use,"
            " EXISTS (SELECT 1 FROM schools WHERE tenant = $1 AND school_urn = $2) AS knows,"
            " EXISTS (SELECT 1 FROM schools WHERE school_urn = $2 AND tenant <> $1) AS elsewhere",
            self.tenant,
            school_urn,
        )
        assert row is not None
        return SchoolRegister(in_use=row["in_use"], knows=row["knows"], elsewhere=row["elsewhere"])

    async def named_ep(self, school_urn: str | None) -> str | None:
        if school_urn is None:
            return None
        value = await self.conn.fetchval(
            "SELECT ep_id FROM named_eps WHERE tenant = $1 AND school_urn = $2",
            self.tenant,
            school_urn,
        )
        return str(value) if value is not None else None

    async def record_named_ep(self, school_urn: str, ep_id: str, effective_from: date) -> bool:
        changed = await self.conn.fetchval(
            "INSERT INTO named_eps (tenant, school_urn, ep_id, effective_from)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, school_urn) DO UPDATE"
            " SET ep_id = EXCLUDED.ep_id, effective_from = EXCLUDED.effective_from"
            " WHERE named_eps.effective_from <= EXCLUDED.effective_from RETURNING true",
            self.tenant,
            school_urn,
            ep_id,
            effective_from,
        )
        return bool(changed)


class PostgresConsentStatusRepository(ConsentStatusRepository, PostgresRepository):
    async def get(self, referral_id: uuid.UUID) -> ConsentView | None:
        row = await self.conn.fetchrow(
            "SELECT involvement, involvement_valid, reason FROM consent_statuses"
            " WHERE tenant = $1 AND referral_id = $2",
            self.tenant,
            referral_id,
        )
        if row is None:
            return None
        return ConsentView(row["involvement"], row["involvement_valid"], row["reason"])

    async def set(self, referral_id: uuid.UUID, consent: ConsentView) -> None:
        kept = await self.conn.fetchval(
            "INSERT INTO consent_statuses (tenant, referral_id, involvement, involvement_valid,"
            " reason) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (referral_id) DO UPDATE"
            " SET involvement = EXCLUDED.involvement,"
            " involvement_valid = EXCLUDED.involvement_valid, reason = EXCLUDED.reason"
            " WHERE consent_statuses.tenant = EXCLUDED.tenant RETURNING true",
            self.tenant,
            referral_id,
            consent.involvement,
            consent.valid,
            consent.reason,
        )
        self.kept(kept, "referral", referral_id, field="referral_id")


class PostgresConfigurationRepository(ConfigurationRepository, PostgresRepository):
    async def graduated_approach_minimum(self) -> GraduatedApproachMinimum:
        row = await self.conn.fetchrow(
            "SELECT review_cycles, strategies, months_on_sen_support"
            " FROM graduated_approach_minimums WHERE tenant = $1 OR tenant = '*'"
            " ORDER BY tenant = '*' LIMIT 1",
            self.tenant,
        )
        return GraduatedApproachMinimum(**dict(row)) if row else GraduatedApproachMinimum()

    async def set_graduated_approach_minimum(self, minimum: GraduatedApproachMinimum) -> None:
        await self.conn.execute(
            "INSERT INTO graduated_approach_minimums"
            " (tenant, review_cycles, strategies, months_on_sen_support) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (tenant) DO UPDATE SET review_cycles = EXCLUDED.review_cycles,"
            " strategies = EXCLUDED.strategies,"
            " months_on_sen_support = EXCLUDED.months_on_sen_support",
            self.tenant,
            minimum.review_cycles,
            minimum.strategies,
            minimum.months_on_sen_support,
        )


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


async def erase_child(uow: PostgresUnitOfWork, child_id: uuid.UUID) -> int:
    """The child's retention has ended: their referrals, their history and consent read model
    go (nothing counted from them is kept here). How many rows."""
    referral_ids = [
        r["referral_id"]
        for r in await uow.conn.fetch(
            "SELECT referral_id FROM referrals WHERE tenant = $1 AND child_id = $2",
            uow.tenant,
            child_id,
        )
    ]
    erased = 0
    for table in ("referral_history", "consent_statuses", "referrals"):
        count = await changed(
            uow,
            f"DELETE FROM {table} WHERE tenant = $1 AND referral_id = ANY($2::uuid[])",
            uow.tenant,
            referral_ids,
        )
        erased += count
    return erased


async def rectify_child(
    uow: PostgresUnitOfWork, child_id: uuid.UUID, details: RectifiedDetails
) -> int:
    """The corrected name and date of birth, in every request of the child (a field not given
    stays as it was)."""
    count = await changed(
        uow,
        "UPDATE referrals SET request = jsonb_set(jsonb_set(jsonb_set(request,"
        " '{child,given_name}', to_jsonb(COALESCE($3, request#>>'{child,given_name}'))),"
        " '{child,family_name}', to_jsonb(COALESCE($4, request#>>'{child,family_name}'))),"
        " '{child,date_of_birth}', to_jsonb(COALESCE($5::date::text,"
        " request#>>'{child,date_of_birth}'))), updated_at = clock_timestamp()"
        " WHERE tenant = $1 AND child_id = $2",
        uow.tenant,
        child_id,
        details.given_name,
        details.family_name,
        details.date_of_birth,
    )
    return count
