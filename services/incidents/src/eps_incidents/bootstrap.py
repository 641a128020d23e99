"""Composition root of the incidents service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition

from eps_incidents.entrypoints import http


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="incidents",
        local_port=8004,
        description="Critical incidents from first report to closure, for on-call coordinators.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[],
        routers=[http.router],
        publishes=[],
    )
