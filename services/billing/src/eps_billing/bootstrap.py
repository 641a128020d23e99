"""Composition root of the billing service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts.billing import AGREEMENTS, INVOICES

from eps_billing.entrypoints import events, http
from eps_billing.entrypoints import jobs as jobs_module
from eps_billing.settings import BillingSettings


def definition(
    finalise_interval_s: float | None = None, report_interval_s: float | None = None
) -> ServiceDefinition:
    settings = BillingSettings()
    interval = finalise_interval_s or settings.finalise_interval_s
    jobs = [
        jobs_module.report_unpriced_job(report_interval_s or settings.unpriced_report_interval_s),
        jobs_module.announce_agreements_job(settings.announce_interval_s),
    ]
    if settings.finalise_invoices:
        jobs.insert(0, jobs_module.finalise_invoices_job(interval))
    return ServiceDefinition(
        name="billing",
        local_port=8006,
        description=(
            "Delivered time and late cancellations priced once, exact invoices and credit notes;"
            " SLAs bought, changed and cancelled; tariffs kept by the authority; what cannot be"
            " priced yet held until it can be."
        ),
        migrations=Path(__file__).parent / "migrations",
        consumers=[events.delivered_time, events.appointments, events.schools],
        routers=[http.router],
        publishes=[INVOICES, AGREEMENTS],
        jobs=jobs,
    )
