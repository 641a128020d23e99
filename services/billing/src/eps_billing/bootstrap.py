"""Composition root of the billing service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition
from eps_contracts.billing import INVOICES

from eps_billing.entrypoints import events, http, jobs
from eps_billing.settings import BillingSettings


def definition(finalise_interval_s: float | None = None) -> ServiceDefinition:
    settings = BillingSettings()
    interval = finalise_interval_s or settings.finalise_interval_s
    return ServiceDefinition(
        name="billing",
        local_port=8006,
        description=(
            "Delivered time and late cancellations priced once, exact invoices and credit notes."
        ),
        migrations=Path(__file__).parent / "migrations",
        consumers=[events.delivered_time, events.appointments],
        routers=[http.router],
        publishes=[INVOICES],
        jobs=[jobs.finalise_invoices_job(interval)] if settings.finalise_invoices else [],
    )
