"""Composition root of the incidents service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts.incidents import FAST_TRACK_REQUESTS, INCIDENTS, ON_CALL_ROTA

from eps_incidents.entrypoints import events, http, jobs


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="incidents",
        local_port=8004,
        description="Critical incidents from first report to closure, for on-call coordinators.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[events.fast_track_allocations, events.upstream_reports],
        routers=[http.router],
        publishes=[FAST_TRACK_REQUESTS, INCIDENTS, ON_CALL_ROTA],
        jobs=[jobs.ESCALATION, jobs.BREACHES, jobs.ROTA_GAPS],
    )
