"""Composition root of the statutory service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_chassis.subject_access import ChildRecords
from eps_contracts.scheduling import BOOKING_REQUESTS
from eps_contracts.statutory import ADVICE

from eps_statutory import views
from eps_statutory.adapters import repository
from eps_statutory.entrypoints import events, http
from eps_statutory.entrypoints.jobs import statutory_jobs
from eps_statutory.service_layer.unit_of_work import PostgresStatutoryUnitOfWork
from eps_statutory.settings import StatutorySettings


def definition(settings: StatutorySettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="statutory",
        local_port=8005,
        description="Psychological advice for EHC needs assessments, on the statutory clock.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresStatutoryUnitOfWork,
        consumers=[events.upstream, events.scheduling],
        routers=[http.router],
        publishes=[ADVICE, BOOKING_REQUESTS],
        child_records=ChildRecords(
            views.held_about_child, repository.erase_child, repository.rectify_child
        ),
        jobs=statutory_jobs(settings),
    )


SERVICE = Service(StatutorySettings, definition)
