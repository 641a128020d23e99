"""Composition root of the billing service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import ServiceDefinition

from eps_billing.entrypoints import http


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="billing",
        local_port=8006,
        description="Delivered time priced once, exact invoices and credit notes.",
        migrations=Path(__file__).parent / "migrations",
        consumers=[],
        routers=[http.router],
        publishes=[],
    )
