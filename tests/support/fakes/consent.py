"""In-memory consent repositories and unit of work, behind the service's ports."""

from __future__ import annotations

import copy
import uuid
from datetime import date

from eps_chassis.clock import Clock
from eps_consent.adapters.repository import ConsentCaseRepository, ConsentPolicyRepository
from eps_consent.domain.model import ConsentCase
from eps_consent.domain.rules import ConsentPolicy
from eps_consent.service_layer.unit_of_work import ConsentUnitOfWork

from tests.support.fakes import TENANT, FakeUnitOfWork


class FakeConsentCaseRepository(ConsentCaseRepository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.cases: dict[uuid.UUID, ConsentCase] = {}
        self.reassess_on: dict[uuid.UUID, date | None] = {}

    async def add(self, case: ConsentCase, on: date) -> bool:
        if case.referral_id in self.cases:
            return False
        self.cases[case.referral_id] = case
        self.reassess_on[case.referral_id] = case.next_reassessment(on)
        self.uow.track(case)
        return True

    async def get(self, referral_id: uuid.UUID) -> ConsentCase | None:
        case = self.cases.get(referral_id)
        return self.uow.track(case) if case is not None else None

    async def save(self, case: ConsentCase, on: date) -> None:
        self.cases[case.referral_id] = case
        self.reassess_on[case.referral_id] = case.next_reassessment(on)
        case.new_decisions.clear()
        case.new_assessments.clear()

    async def due_for_reassessment(self, on: date, limit: int = 500) -> list[uuid.UUID]:
        due = [(d, r) for r, d in self.reassess_on.items() if d is not None and d <= on]
        return [r for _, r in sorted(due)][:limit]


class FakeConsentPolicyRepository(ConsentPolicyRepository):
    def __init__(self) -> None:
        self.policy: ConsentPolicy | None = None

    async def get(self) -> ConsentPolicy:
        return copy.copy(self.policy) if self.policy is not None else ConsentPolicy()

    async def set(self, policy: ConsentPolicy) -> None:
        self.policy = policy


class FakeConsentUnitOfWork(FakeUnitOfWork, ConsentUnitOfWork):
    # The fakes, not the ports: a test reads what they keep (``uow.<repository>.<rows>``).
    cases: FakeConsentCaseRepository
    policies: FakeConsentPolicyRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.cases = FakeConsentCaseRepository(self)
        self.policies = FakeConsentPolicyRepository()
