"""Valid incidents data for tests: an LA policy, a rota and reports (all as data)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eps_contracts.incidents import IncidentKind, IncidentReport
from eps_contracts.scheduling import AllocatedEp
from eps_incidents.domain.model import Incident
from eps_incidents.domain.policy import IncidentPolicy, LevelTargets, Target
from eps_incidents.domain.rota import Rota, RotaEntry, RotaPosition

MIN = timedelta(minutes=1)


def policy(ack_minutes: int = 15, principal: str | None = "pep-1") -> IncidentPolicy:
    return IncidentPolicy(
        acknowledge_within=ack_minutes * MIN,
        principal_ep_id=principal,
        rota_gap_lookahead=timedelta(hours=72),
        levels={
            1: LevelTargets(
                1, 1, False, False, 60, Target(60 * MIN), Target(120 * MIN, True), None
            ),
            2: LevelTargets(
                2, 2, True, False, 180, Target(120 * MIN), Target(240 * MIN), Target(24 * 60 * MIN)
            ),
            3: LevelTargets(
                3, 3, True, True, 360, Target(60 * MIN), Target(60 * MIN), Target(12 * 60 * MIN)
            ),
        },
    )


def entry(
    who: str,
    start: datetime,
    hours: float,
    position: RotaPosition = RotaPosition.PRIMARY,
    *,
    override: bool = False,
) -> RotaEntry:
    return RotaEntry(who, position, start, start + timedelta(hours=hours), override)


def rota_around(at: datetime) -> Rota:
    """Coordinator 'coord-a' on call with 'coord-b' as backup for a day either side of ``at``."""
    start = at - timedelta(days=1)
    return Rota([entry("coord-a", start, 48), entry("coord-b", start, 48, RotaPosition.BACKUP)])


def report(level: int = 2, occurred_at: datetime | None = None, **extra: Any) -> IncidentReport:
    values: dict[str, Any] = dict(
        report_id=uuid.uuid4(),
        school_urn="123456",
        kind=IncidentKind.SUDDEN_DEATH_OF_PUPIL,
        occurred_at=occurred_at or datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
        reported_by="Headteacher",
        pupils_affected=30,
        staff_affected=4,
        level=level,
    )
    values.update(extra)
    return IncidentReport(**values)


def reported(at: datetime, level: int = 2, **kw: Any) -> Incident:
    incident = Incident.report_new(
        "leicester-city",
        report(level, occurred_at=at - 30 * MIN),
        at,
        policy(**kw),
        rota_around(at),
    )
    incident.events.clear()
    return incident


def allocated_ep(ep_id: str, starts_at: datetime) -> AllocatedEp:
    return AllocatedEp(
        ep_id=ep_id, appointment_id=uuid.uuid4(), starts_at=starts_at, is_named_ep=False
    )
