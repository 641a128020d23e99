"""Composition root of the scheduling service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_chassis.subject_access import ChildRecords
from eps_contracts.scheduling import (
    APPOINTMENTS,
    DELIVERED_TIME,
    FAST_TRACK_ALLOCATIONS,
    SCHOOLS,
)

from eps_scheduling import views
from eps_scheduling.adapters import repository
from eps_scheduling.entrypoints import events, http
from eps_scheduling.entrypoints.jobs import scheduling_jobs
from eps_scheduling.service_layer.unit_of_work import PostgresSchedulingUnitOfWork
from eps_scheduling.settings import SchedulingSettings


def definition(settings: SchedulingSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="scheduling",
        local_port=8003,
        description="EP diaries, named EPs, allocations, appointments and delivered time.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresSchedulingUnitOfWork,
        consumers=[
            events.fast_track,
            events.booking_requests,
            events.case_events,
            events.advice_requests,
            events.agreements,
        ],
        routers=[http.router],
        publishes=[SCHOOLS, APPOINTMENTS, DELIVERED_TIME, FAST_TRACK_ALLOCATIONS],
        child_records=ChildRecords(views.held_about_child, repository.erase_child),
        jobs=scheduling_jobs(settings),
    )


SERVICE = Service(SchedulingSettings, definition)
