"""In-memory statutory repositories and unit of work, behind the service's ports.

Advice is kept as a copy of what was last added or saved, and handed out as a fresh copy, so a
change a handler makes without saving it is lost, as it would be in the database."""

from __future__ import annotations

import copy
import uuid
from datetime import date

from eps_chassis.clock import Clock
from eps_contracts.statutory import TribunalTask
from eps_statutory.adapters.repository import (
    AdviceRepository,
    PolicyRepository,
    SchoolRepository,
    TribunalTaskRepository,
)
from eps_statutory.domain.document import KnownSchool
from eps_statutory.domain.model import Advice
from eps_statutory.domain.policy import LaPolicy
from eps_statutory.service_layer.unit_of_work import StatutoryUnitOfWork

from tests.support.fakes import TENANT, FakeUnitOfWork


def _stored(advice: Advice) -> Advice:
    kept = copy.deepcopy(advice)
    kept.events = []  # what it recorded belongs to the unit of work that saw it
    return kept


class FakeAdviceRepository(AdviceRepository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.advice: dict[uuid.UUID, Advice] = {}
        self.locked: list[uuid.UUID] = []

    async def lock_request(self, request_id: uuid.UUID) -> None:
        self.locked.append(request_id)

    async def id_for_request(self, request_id: uuid.UUID) -> uuid.UUID | None:
        return next((a.advice_id for a in self.advice.values() if a.request_id == request_id), None)

    async def add(self, advice: Advice) -> None:
        self.uow.track(advice)
        self.advice[advice.advice_id] = _stored(advice)

    async def get(self, advice_id: uuid.UUID) -> Advice | None:
        kept = self.advice.get(advice_id)
        return self.uow.track(copy.deepcopy(kept)) if kept is not None else None

    async def save(self, advice: Advice) -> None:
        self.advice[advice.advice_id] = _stored(advice)

    async def open_due_by(self, day: date) -> list[Advice]:
        due = sorted(
            (a.due_on, a.advice_id)
            for a in self.advice.values()
            if a.is_open and a.due_on is not None and a.due_on <= day
        )
        return [self.uow.track(copy.deepcopy(self.advice[advice_id])) for _, advice_id in due]


class FakePolicyRepository(PolicyRepository):
    def __init__(self) -> None:
        self.policy: LaPolicy | None = None
        self.updated_by: str | None = None

    async def get(self) -> LaPolicy:
        return self.policy if self.policy is not None else LaPolicy()

    async def set(self, policy: LaPolicy, updated_by: str) -> None:
        self.policy, self.updated_by = policy, updated_by


class FakeSchoolRepository(SchoolRepository):
    def __init__(self) -> None:
        self.named_eps: dict[tuple[str, date], str] = {}
        self.names: dict[str, str] = {}

    async def record_named_ep(self, school_urn: str, ep_id: str, effective_from: date) -> None:
        self.named_eps[school_urn, effective_from] = ep_id

    async def named_ep_on(self, school_urn: str, day: date) -> str | None:
        since = sorted((d, ep) for (urn, d), ep in self.named_eps.items() if urn == school_urn)
        current = [ep for d, ep in since if d <= day]
        return current[-1] if current else None

    async def remember(self, school_urn: str, name: str) -> None:
        self.names[school_urn] = name

    async def known(self) -> list[KnownSchool]:
        return [KnownSchool(urn=urn, name=name) for urn, name in self.names.items()]


class FakeTribunalTaskRepository(TribunalTaskRepository):
    def __init__(self) -> None:
        self.tasks: dict[tuple[uuid.UUID, str], tuple[uuid.UUID, TribunalTask]] = {}

    async def add(
        self, appeal_id: uuid.UUID, advice_id: uuid.UUID, tasks: tuple[TribunalTask, ...]
    ) -> bool:
        new = [t for t in tasks if (appeal_id, str(t.kind)) not in self.tasks]
        for task in new:
            self.tasks[appeal_id, str(task.kind)] = (advice_id, task)
        return bool(new)


class FakeStatutoryUnitOfWork(FakeUnitOfWork, StatutoryUnitOfWork):
    # The fakes, not the ports: a test reads what they keep (``uow.<repository>.<rows>``).
    advice: FakeAdviceRepository
    policies: FakePolicyRepository
    schools: FakeSchoolRepository
    tribunal_tasks: FakeTribunalTaskRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.advice = FakeAdviceRepository(self)
        self.policies = FakePolicyRepository()
        self.schools = FakeSchoolRepository()
        self.tribunal_tasks = FakeTribunalTaskRepository()
