"""In-memory referrals repositories and unit of work, behind the service's ports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from eps_chassis.clock import Clock
from eps_contracts import Event
from eps_referrals.adapters.repository import (
    ConfigurationRepository,
    ConsentStatusRepository,
    ReferralRepository,
    SchoolRepository,
)
from eps_referrals.domain.evidence import GraduatedApproachMinimum, SchoolRegister
from eps_referrals.domain.model import ConsentView, Referral, ReferralStatus
from eps_referrals.service_layer.unit_of_work import ReferralsUnitOfWork

from tests.support.fakes import TENANT, FakeUnitOfWork

AWAITING_ROUTING = {ReferralStatus.AWAITING_CONSENT, ReferralStatus.AWAITING_TRIAGE}


class FakeReferralRepository(ReferralRepository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.referrals: dict[uuid.UUID, Referral] = {}  # in the order they arrived
        self.history: dict[uuid.UUID, list[Event]] = {}

    async def add(self, referral: Referral) -> None:
        assert referral.referral_id not in self.referrals, "a referral is added once"
        self.referrals[referral.referral_id] = referral
        self.history[referral.referral_id] = []
        self.uow.track(referral)
        await self.save(referral)

    async def get(self, referral_id: uuid.UUID) -> Referral | None:
        referral = self.referrals.get(referral_id)
        return self.uow.track(referral) if referral is not None else None

    async def save(self, referral: Referral) -> None:
        history = self.history[referral.referral_id]
        history.extend(e for e in referral.events if not any(e is h for h in history))

    async def id_for_request(self, request_id: uuid.UUID) -> uuid.UUID | None:
        found = (r.referral_id for r in self.referrals.values() if r.request_id == request_id)
        return next(found, None)

    async def open_referral_of(self, child_id: uuid.UUID, requester_id: str) -> uuid.UUID | None:
        found = (
            r.referral_id
            for r in self.referrals.values()
            if r.child_id == child_id and r.requester_id == requester_id and r.is_open
        )
        return next(found, None)

    async def awaiting_routing(self, school_urn: str, ep_id: str) -> list[Referral]:
        return [
            self.uow.track(r)
            for r in self.referrals.values()
            if r.request.child.school_urn == school_urn
            and r.status in AWAITING_ROUTING
            and r.named_ep_id != ep_id
        ]

    async def lock_request(self, request_id: uuid.UUID) -> None:
        """One unit of work at a time here: nothing to serialise."""

    async def lock_child(self, child_id: uuid.UUID) -> None:
        """One unit of work at a time here: nothing to serialise."""


@dataclass
class KnownSchool:
    name: str | None
    known_from: str


@dataclass
class NamedEp:
    ep_id: str
    effective_from: date


@dataclass
class FakeSchoolRepository(SchoolRepository):
    schools: dict[str, KnownSchool] = field(default_factory=dict)
    named_eps: dict[str, NamedEp] = field(default_factory=dict)

    async def lock(self, school_urn: str) -> None:
        """One unit of work at a time here: nothing to serialise."""

    async def register(self, school_urn: str, name: str | None, known_from: str) -> None:
        known = self.schools.get(school_urn)
        if known is None or name is not None:
            self.schools[school_urn] = KnownSchool(name, known_from)

    async def register_for(self, school_urn: str) -> SchoolRegister:
        return SchoolRegister(in_use=bool(self.schools), knows=school_urn in self.schools)

    async def named_ep(self, school_urn: str | None) -> str | None:
        named = self.named_eps.get(school_urn) if school_urn is not None else None
        return named.ep_id if named is not None else None

    async def record_named_ep(self, school_urn: str, ep_id: str, effective_from: date) -> bool:
        known = self.named_eps.get(school_urn)
        if known is not None and known.effective_from > effective_from:
            return False
        self.named_eps[school_urn] = NamedEp(ep_id, effective_from)
        return True


@dataclass
class FakeConsentStatusRepository(ConsentStatusRepository):
    statuses: dict[uuid.UUID, ConsentView] = field(default_factory=dict)

    async def get(self, referral_id: uuid.UUID) -> ConsentView | None:
        return self.statuses.get(referral_id)

    async def set(self, referral_id: uuid.UUID, consent: ConsentView) -> None:
        self.statuses[referral_id] = consent


@dataclass
class FakeConfigurationRepository(ConfigurationRepository):
    minimum: GraduatedApproachMinimum | None = None

    async def graduated_approach_minimum(self) -> GraduatedApproachMinimum:
        return self.minimum or GraduatedApproachMinimum()

    async def set_graduated_approach_minimum(self, minimum: GraduatedApproachMinimum) -> None:
        self.minimum = minimum


class FakeReferralsUnitOfWork(FakeUnitOfWork, ReferralsUnitOfWork):
    # The fakes, not the ports: a test reads what they keep (``uow.<repository>.<rows>``).
    referrals: FakeReferralRepository
    schools: FakeSchoolRepository
    consent: FakeConsentStatusRepository
    configuration: FakeConfigurationRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.referrals = FakeReferralRepository(self)
        self.schools = FakeSchoolRepository()
        self.consent = FakeConsentStatusRepository()
        self.configuration = FakeConfigurationRepository()
