"""Time-driven work: close billing periods whose grace has passed and issue their documents."""

from __future__ import annotations

from eps_chassis.context import MessageContext
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

from eps_billing.adapters.repository import TariffRepository
from eps_billing.service_layer import handlers

log = get_logger()


async def finalise_invoices(ctx: JobContext) -> None:
    now = ctx.clock()
    async with ctx.uow(MessageContext(tenant="system", actor=ctx.actor)) as uow:
        tenants = await TariffRepository(uow.conn).tenants()
    for tenant in sorted(tenants):  # one transaction per local authority
        async with ctx.uow(MessageContext(tenant=tenant, actor=ctx.actor)) as uow:
            issued = await handlers.finalise_due_invoices(tenant, now, uow)
        if issued:
            log.info("billing documents issued", tenant=tenant, count=len(issued))


def finalise_invoices_job(interval_s: float = 60.0) -> PeriodicJob:
    return PeriodicJob(name="finalise-invoices", interval_s=interval_s, run=finalise_invoices)
