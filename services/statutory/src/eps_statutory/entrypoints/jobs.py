"""Time-driven work of the statutory service: the deadline watch, so that nothing depends on
someone remembering."""

from __future__ import annotations

from eps_chassis.jobs import PeriodicJob, per_tenant
from eps_chassis.logging import get_logger

from eps_statutory.adapters.repository import tenants_with_open_advice
from eps_statutory.service_layer import handlers
from eps_statutory.service_layer.unit_of_work import StatutoryUnitOfWork
from eps_statutory.settings import StatutorySettings

log = get_logger()


async def watch_deadlines(uow: StatutoryUnitOfWork) -> None:
    raised = await handlers.watch_deadlines(uow)
    if raised:
        log.info("deadline watch raised events", events=raised)  # the job binds the tenant


def statutory_jobs(settings: StatutorySettings) -> list[PeriodicJob]:
    return [
        per_tenant(
            "deadline-watch",
            settings.statutory_deadline_watch_interval_s,
            tenants=tenants_with_open_advice,
            work=watch_deadlines,
        )
    ]
