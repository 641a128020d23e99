"""Composition root of the referrals service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts import topics

from eps_referrals.entrypoints import events, http


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="referrals",
        local_port=8001,
        description="Requests for EP involvement and the casework that follows.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[events.upstream, events.consent, events.schools],
        routers=[http.router],
        publishes=[topics.REFERRALS],
    )
