"""Time-driven work of the consent service."""

from __future__ import annotations

from eps_chassis.jobs import PeriodicJob, per_tenant

from eps_consent.adapters.repository import tenants_due_for_reassessment
from eps_consent.service_layer import handlers
from eps_consent.settings import ConsentSettings


def consent_jobs(settings: ConsentSettings) -> list[PeriodicJob]:
    return [
        per_tenant(
            "consent-expiry",
            settings.consent_expiry_check_interval_s,
            tenants=tenants_due_for_reassessment,
            work=handlers.reassess_due_cases,
        )
    ]
