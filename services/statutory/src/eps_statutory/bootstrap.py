"""Composition root of the statutory service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts.scheduling import BOOKING_REQUESTS
from eps_contracts.statutory import ADVICE

from eps_statutory.entrypoints import events, http, jobs
from eps_statutory.settings import StatutorySettings


def definition(settings: StatutorySettings | None = None) -> ServiceDefinition:
    settings = settings or StatutorySettings()
    return ServiceDefinition(
        name="statutory",
        local_port=8005,
        description="Psychological advice for EHC needs assessments, on the statutory clock.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[events.upstream, events.scheduling],
        routers=[http.router],
        publishes=[ADVICE, BOOKING_REQUESTS],
        jobs=[jobs.deadline_watch(settings.deadline_watch_interval_s)],
    )
