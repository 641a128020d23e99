"""Composition root of the incidents service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_contracts.incidents import FAST_TRACK_REQUESTS, INCIDENTS, ON_CALL_ROTA

from eps_incidents.entrypoints import events, http
from eps_incidents.entrypoints.jobs import incidents_jobs
from eps_incidents.service_layer.unit_of_work import PostgresIncidentsUnitOfWork
from eps_incidents.settings import IncidentsSettings


def definition(settings: IncidentsSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="incidents",
        local_port=8004,
        description="Critical incidents from first report to closure, for on-call coordinators.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresIncidentsUnitOfWork,
        consumers=[
            events.fast_track_allocations,
            events.upstream_reports,
            events.notification_failures,
        ],
        routers=[http.router],
        publishes=[FAST_TRACK_REQUESTS, INCIDENTS, ON_CALL_ROTA],
        jobs=incidents_jobs(settings),
    )


SERVICE = Service(IncidentsSettings, definition)
