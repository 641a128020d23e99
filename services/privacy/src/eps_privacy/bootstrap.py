"""Composition root of the privacy service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_contracts.privacy import CHILD_RECORDS, SUBJECT_ACCESS

from eps_privacy.adapters.holders import Holders
from eps_privacy.adapters.keys import key_shredder
from eps_privacy.entrypoints import events, http
from eps_privacy.entrypoints.jobs import privacy_jobs
from eps_privacy.service_layer.unit_of_work import PostgresPrivacyUnitOfWork
from eps_privacy.settings import PrivacySettings


def definition(settings: PrivacySettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="privacy",
        local_port=8010,
        description="Data protection: subject access requests about a child, the retention"
        " schedule with legal holds, erasure of a child's records in every service, and"
        " rectification of a child's details.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresPrivacyUnitOfWork,
        consumers=[events.children, events.confirmations],
        routers=[
            http.router(
                Holders(settings.privacy_services, settings.privacy_fan_out_timeout_s),
                list(settings.privacy_erasure_confirmers),
            )
        ],
        publishes=[SUBJECT_ACCESS, CHILD_RECORDS],
        jobs=privacy_jobs(settings, key_shredder(settings)),
    )


SERVICE = Service(PrivacySettings, definition)
