"""Composition root of the consent service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts import topics

from eps_consent.entrypoints import events, http
from eps_consent.entrypoints.jobs import consent_jobs


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="consent",
        local_port=8002,
        description="Who agreed to what, and whether it still holds.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[events.referral_events],
        routers=[http.router],
        publishes=[topics.CONSENT],
        jobs=consent_jobs(),
    )
