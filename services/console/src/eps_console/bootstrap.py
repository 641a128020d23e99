"""Composition root of the console service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition

from eps_console.entrypoints import events, http
from eps_console.entrypoints.jobs import console_jobs
from eps_console.service_layer.unit_of_work import PostgresConsoleUnitOfWork
from eps_console.settings import ConsoleSettings


def definition(settings: ConsoleSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="console",
        local_port=8008,
        description="The incident room: a live board, incident pages and actions for"
        " coordinators, and each EP's incidents (server-rendered pages).",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresConsoleUnitOfWork,
        consumers=[events.incident_room, events.allocations],
        routers=[http.router],
        publishes=[],
        jobs=console_jobs(settings),
    )


SERVICE = Service(ConsoleSettings, definition)
