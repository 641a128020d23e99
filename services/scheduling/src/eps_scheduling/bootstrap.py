"""Composition root of the scheduling service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts.scheduling import (
    APPOINTMENTS,
    DELIVERED_TIME,
    FAST_TRACK_ALLOCATIONS,
    SCHOOLS,
)

from eps_scheduling.entrypoints import events, http, jobs


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="scheduling",
        local_port=8003,
        description="EP diaries, named EPs, allocations, appointments and delivered time.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[
            events.fast_track,
            events.booking_requests,
            events.case_events,
            events.advice_requests,
            events.agreements,
        ],
        routers=[http.router],
        publishes=[SCHOOLS, APPOINTMENTS, DELIVERED_TIME, FAST_TRACK_ALLOCATIONS],
        jobs=[jobs.PLANNING_MEETINGS],
    )
