"""Composition root of the consent service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_chassis.subject_access import ChildRecords
from eps_contracts import topics

from eps_consent import views
from eps_consent.adapters import repository
from eps_consent.entrypoints import events, http
from eps_consent.entrypoints.jobs import consent_jobs
from eps_consent.service_layer.unit_of_work import PostgresConsentUnitOfWork
from eps_consent.settings import ConsentSettings


def definition(settings: ConsentSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="consent",
        local_port=8002,
        description="Who agreed to what, and whether it still holds.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresConsentUnitOfWork,
        consumers=[events.referral_events],
        routers=[http.router],
        publishes=[topics.CONSENT],
        child_records=ChildRecords(
            views.held_about_child, repository.erase_child, repository.rectify_child
        ),
        jobs=consent_jobs(settings),
    )


SERVICE = Service(ConsentSettings, definition)
