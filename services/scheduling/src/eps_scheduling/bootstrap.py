"""Composition root of the scheduling service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition

from eps_scheduling.entrypoints import http


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="scheduling",
        local_port=8003,
        description="EP diaries, named EPs, allocations, appointments and delivered time.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[],
        routers=[http.router],
        publishes=[],
    )
