"""Time-driven work of the billing service: close billing periods whose grace has passed and
issue their documents, and announce SLA changes never announced (both per local authority);
report what is held unpriced (every replica)."""

from __future__ import annotations

import uuid
from datetime import datetime

from eps_chassis.jobs import JobContext, PeriodicJob, per_tenant
from eps_chassis.logging import get_logger

from eps_billing import metrics
from eps_billing.adapters.repository import (
    tenants_with_tariffs,
    tenants_with_unannounced_agreements,
    unpriced_summary,
)
from eps_billing.domain.agreements import HoldKind
from eps_billing.service_layer import handlers
from eps_billing.service_layer.unit_of_work import BillingUnitOfWork
from eps_billing.settings import BillingSettings

log = get_logger()


def billing_jobs(settings: BillingSettings) -> list[PeriodicJob]:
    jobs = [
        PeriodicJob(
            # Each replica reports the gauges from the database: a name of its own keeps the
            # chassis's one-replica-at-a-time lock from leaving the other replicas' stale.
            f"report-unpriced-{uuid.uuid4().hex[:8]}",
            settings.billing_unpriced_report_interval_s,
            report_unpriced,
        ),
        per_tenant(
            "announce-agreements",
            settings.billing_announce_interval_s,
            tenants=tenants_with_unannounced_agreements,
            work=announce_agreements,
        ),
    ]
    if settings.billing_finalise_invoices:
        finalise = per_tenant(
            "finalise-invoices",
            settings.billing_finalise_interval_s,
            tenants=tenants_with_tariffs,
            work=finalise_invoices,
        )
        jobs.insert(0, finalise)
    return jobs


async def finalise_invoices(uow: BillingUnitOfWork) -> None:
    issued = await handlers.finalise_due_invoices(uow)
    if issued:
        log.info("billing documents issued", tenant=uow.tenant, count=len(issued))


async def announce_agreements(uow: BillingUnitOfWork) -> None:
    published = await handlers.announce_agreements(uow)
    if published:
        log.info("SLA changes announced", tenant=uow.tenant, count=published)


async def report_unpriced(ctx: JobContext) -> None:
    """Set the unpriced gauges from the database, for every item and reason (0 when none), so
    that a series falls back to 0 once what it counted is priced."""
    rows = await unpriced_summary(ctx.uow.pool)
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
