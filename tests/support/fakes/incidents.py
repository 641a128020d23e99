"""In-memory incidents repositories and unit of work, behind the service's ports."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

from eps_chassis.clock import Clock
from eps_incidents.adapters.repository import (
    ConfigurationRepository,
    IncidentRepository,
    RotaRepository,
)
from eps_incidents.domain.model import Incident
from eps_incidents.domain.policy import IncidentPolicy, LevelTargets
from eps_incidents.domain.rota import Gap, Rota, RotaEntry
from eps_incidents.service_layer.unit_of_work import IncidentsUnitOfWork

from tests.support.builders import incidents as builders
from tests.support.fakes import TENANT, FakeUnitOfWork


class FakeIncidentRepository(IncidentRepository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.incidents: dict[uuid.UUID, Incident] = {}
        # what the jobs select on, as last saved (as the table's columns are)
        self.escalate_at: dict[uuid.UUID, datetime | None] = {}
        self.next_due_at: dict[uuid.UUID, datetime | None] = {}

    async def lock_report(self, report_id: uuid.UUID) -> None:
        """One unit of work at a time here: nothing to serialise."""

    async def id_for_report(self, report_id: uuid.UUID) -> uuid.UUID | None:
        found = (i.incident_id for i in self.incidents.values() if i.report.report_id == report_id)
        return next(found, None)

    async def add(self, incident: Incident) -> None:
        assert incident.incident_id not in self.incidents, "an incident is added once"
        self.uow.track(incident)
        await self.save(incident)

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        incident = self.incidents.get(incident_id)
        return self.uow.track(incident) if incident is not None else None

    async def save(self, incident: Incident) -> None:
        self.incidents[incident.incident_id] = incident
        self.escalate_at[incident.incident_id] = incident.escalation_due_at
        self.next_due_at[incident.incident_id] = incident.next_clock_due_at

    async def due_for_escalation(self, now: datetime) -> list[Incident]:
        return self._due(self.escalate_at, now)

    async def due_for_target_check(self, now: datetime) -> list[Incident]:
        return self._due(self.next_due_at, now)

    def _due(self, column: dict[uuid.UUID, datetime | None], now: datetime) -> list[Incident]:
        due = sorted((at, i) for i, at in column.items() if at is not None and at <= now)
        return [self.uow.track(self.incidents[i]) for _, i in due]


class FakeRotaRepository(RotaRepository):
    def __init__(self) -> None:
        self.entries: dict[uuid.UUID, RotaEntry] = {}
        self.gaps_reported: list[Gap] = []

    async def add(self, entry: RotaEntry) -> uuid.UUID:
        entry_id = uuid.uuid4()
        self.entries[entry_id] = entry
        return entry_id

    async def rota(self, start: datetime, end: datetime) -> Rota:
        return Rota(e for e in self.entries.values() if e.starts_at <= end and e.ends_at > start)

    async def record_gap(self, starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
        if any(g.starts_at < ends_at and g.ends_at > starts_at for g in self.gaps_reported):
            return False
        self.gaps_reported.append(Gap(starts_at, ends_at))
        return True


class FakeConfigurationRepository(ConfigurationRepository):
    def __init__(self) -> None:
        self.configured = builders.policy(principal=None)  # the migration's defaults

    async def policy(self) -> IncidentPolicy:
        return dataclasses.replace(self.configured, levels=dict(self.configured.levels))

    async def set_policy(
        self, acknowledge_within: timedelta, principal_ep_id: str | None, lookahead: timedelta
    ) -> None:
        self.configured = dataclasses.replace(
            self.configured,
            acknowledge_within=acknowledge_within,
            principal_ep_id=principal_ep_id,
            rota_gap_lookahead=lookahead,
        )

    async def set_level_targets(self, levels: tuple[LevelTargets, ...]) -> None:
        merged = {**self.configured.levels, **{t.level: t for t in levels}}
        self.configured = dataclasses.replace(self.configured, levels=merged)


class FakeIncidentsUnitOfWork(FakeUnitOfWork, IncidentsUnitOfWork):
    # The fakes, not the ports: a test reads what they keep (``uow.<repository>.<rows>``).
    incidents: FakeIncidentRepository
    rota: FakeRotaRepository
    configuration: FakeConfigurationRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.incidents = FakeIncidentRepository(self)
        self.rota = FakeRotaRepository()
        self.configuration = FakeConfigurationRepository()
