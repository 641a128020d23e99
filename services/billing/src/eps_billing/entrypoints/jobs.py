"""Time-driven work: close billing periods whose grace has passed and issue their documents;
report what is held unpriced; announce SLA changes not yet announced."""

from __future__ import annotations

import uuid
from datetime import datetime

from eps_chassis.context import MessageContext
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

from eps_billing import metrics
from eps_billing.adapters.repository import (
    AgreementRepository,
    TariffRepository,
    UnpricedRepository,
    lock_pricing,
)
from eps_billing.domain.agreements import HoldKind
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


async def report_unpriced(ctx: JobContext) -> None:
    """Set the unpriced gauges from the database, for every item and reason (0 when none), so
    that a series falls back to 0 once what it counted is priced."""
    rows = await UnpricedRepository(ctx.uow.pool).summary()
    found = {(r["item"], r["reason_kind"]): (r["n"], r["oldest"]) for r in rows}
    now = ctx.clock()
    for item in metrics.ITEMS:
        for reason in HoldKind:
            count, oldest = found.get((item, str(reason)), (0, None))
            metrics.UNPRICED.labels(ctx.service, item, str(reason)).set(count)
            metrics.UNPRICED_OLDEST.labels(ctx.service, item, str(reason)).set(
                _age(now, oldest) if count else 0
            )


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def report_unpriced_job(interval_s: float = 15.0) -> PeriodicJob:
    # Each replica reports the gauge from the database: a name of its own keeps the chassis's
    # one-replica-at-a-time lock from leaving the other replicas' gauges stale.
    name = f"report-unpriced-{uuid.uuid4().hex[:8]}"
    return PeriodicJob(name=name, interval_s=interval_s, run=report_unpriced)


async def announce_agreements(ctx: JobContext) -> None:
    """A backstop: SLAs whose state was never announced (those bought before the announcements
    existed) are announced; handlers announce their own changes as they commit."""
    async with ctx.uow(MessageContext(tenant="system", actor=ctx.actor)) as uow:
        tenants = await AgreementRepository(uow.conn).unannounced_tenants()
    for tenant in tenants:
        async with ctx.uow(MessageContext(tenant=tenant, actor=ctx.actor)) as uow:
            # as any change of SLAs does: their rows are then locked in one order only
            await lock_pricing(uow.conn, tenant, exclusive=True)
            published = await handlers.announce_agreements(uow)
        if published:
            log.info("SLA changes announced", tenant=tenant, count=published)


def announce_agreements_job(interval_s: float = 60.0) -> PeriodicJob:
    return PeriodicJob(name="announce-agreements", interval_s=interval_s, run=announce_agreements)
