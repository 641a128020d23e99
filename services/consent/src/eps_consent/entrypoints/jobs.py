"""Time-driven work of the consent service."""

from __future__ import annotations

from eps_chassis.jobs import PeriodicJob

from eps_consent.service_layer.handlers import reassess_due_cases
from eps_consent.settings import ConsentSettings


def consent_jobs(settings: ConsentSettings | None = None) -> list[PeriodicJob]:
    settings = settings or ConsentSettings()
    return [PeriodicJob("consent-expiry", settings.expiry_check_interval_s, reassess_due_cases)]
