"""Composition root of the billing service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_contracts.billing import AGREEMENTS, INVOICES

from eps_billing.entrypoints import events, http
from eps_billing.entrypoints.jobs import billing_jobs
from eps_billing.service_layer.unit_of_work import PostgresBillingUnitOfWork
from eps_billing.settings import BillingSettings


def definition(settings: BillingSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="billing",
        local_port=8006,
        description=(
            "Delivered time and late cancellations priced once, exact invoices and credit notes;"
            " SLAs bought, changed and cancelled; tariffs kept by the authority; what cannot be"
            " priced yet held until it can be."
        ),
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresBillingUnitOfWork,
        consumers=[events.delivered_time, events.appointments, events.schools],
        routers=[http.router],
        publishes=[INVOICES, AGREEMENTS],
        jobs=billing_jobs(settings),
    )


SERVICE = Service(BillingSettings, definition)
