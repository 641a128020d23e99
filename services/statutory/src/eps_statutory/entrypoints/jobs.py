"""Time-driven work: the deadline watch, so that nothing depends on someone remembering."""

from __future__ import annotations

from eps_chassis.context import MessageContext
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

from eps_statutory.adapters.repository import AdviceRepository
from eps_statutory.domain.clock import london_date
from eps_statutory.service_layer import handlers

log = get_logger()


async def watch_deadlines(context: JobContext) -> None:
    """For each LA with open advice, one unit of work raising its at-risk and breach events."""
    today = london_date(context.clock())
    async with context.uow.pool.acquire() as conn:
        tenants = await AdviceRepository(conn).tenants_with_open_advice()
    for tenant in tenants:
        async with context.uow(MessageContext(tenant=tenant, actor=context.actor)) as uow:
            raised = await handlers.watch_deadlines(uow, today)
        if raised:
            log.info("deadline watch raised events", tenant=tenant, events=raised)


def deadline_watch(interval_s: float) -> PeriodicJob:
    return PeriodicJob("deadline-watch", interval_s, watch_deadlines)
