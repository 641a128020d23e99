"""Composition root of the keys service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_contracts.keys import CHILD_KEYS

from eps_keys.entrypoints import events, http
from eps_keys.entrypoints.jobs import keys_jobs
from eps_keys.service_layer.unit_of_work import PostgresKeysUnitOfWork
from eps_keys.settings import KeysSettings


def definition(settings: KeysSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="keys",
        local_port=8009,
        description="Owns the children's data keys: made on first use, kept wrapped under a"
        " key-encryption key held outside the database, handed to the services that seal and"
        " open personal fields, and shredded when a child is erased.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresKeysUnitOfWork,
        consumers=list(events.CONSUMERS),
        routers=[http.router],
        publishes=[CHILD_KEYS],
        jobs=keys_jobs(settings),
    )


SERVICE = Service(KeysSettings, definition)
