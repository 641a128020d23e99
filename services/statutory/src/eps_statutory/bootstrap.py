"""Composition root of the statutory service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition

from eps_statutory.entrypoints import http


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="statutory",
        local_port=8005,
        description="Psychological advice for EHC needs assessments, on the statutory clock.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[],
        routers=[http.router],
        publishes=[],
    )
