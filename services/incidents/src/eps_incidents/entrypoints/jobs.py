"""Periodic jobs: escalation, breached targets and rota gaps happen because time passed.

Each run finds the local authorities with work due, then works one tenant per unit of work
with the runtime's clock (``JobContext.clock``), so tests drive them with a fake clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from eps_chassis.context import MessageContext
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.unit_of_work import UnitOfWork

from eps_incidents.adapters.repository import ConfigurationRepository, IncidentRepository
from eps_incidents.service_layer import handlers

TenantWork = Callable[[UnitOfWork, datetime], Awaitable[int]]


async def _per_tenant(context: JobContext, tenants: list[str], work: TenantWork) -> None:
    now = context.clock()
    for tenant in tenants:
        async with context.uow(MessageContext(tenant=tenant, actor=context.actor)) as uow:
            await work(uow, now)


async def escalate_unacknowledged(context: JobContext) -> None:
    async with context.uow.pool.acquire() as conn:
        tenants = await IncidentRepository(conn).tenants_due("escalate_at", context.clock())
    await _per_tenant(context, tenants, handlers.escalate_unacknowledged)


async def report_breached_targets(context: JobContext) -> None:
    async with context.uow.pool.acquire() as conn:
        tenants = await IncidentRepository(conn).tenants_due("next_due_at", context.clock())
    await _per_tenant(context, tenants, handlers.report_breached_targets)


async def report_rota_gaps(context: JobContext) -> None:
    async with context.uow.pool.acquire() as conn:
        tenants = await ConfigurationRepository(conn).configured_tenants()
    await _per_tenant(context, tenants, handlers.report_rota_gaps)


ESCALATION = PeriodicJob("escalate-unacknowledged", 15.0, escalate_unacknowledged)
BREACHES = PeriodicJob("report-breached-targets", 30.0, report_breached_targets)
ROTA_GAPS = PeriodicJob("report-rota-gaps", 600.0, report_rota_gaps)
