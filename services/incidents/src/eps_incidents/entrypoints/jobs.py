"""Time-driven work of the incidents service: escalation, breached targets and rota gaps
happen because time passed. Each is done one local authority at a time, with the service's
clock (so tests drive them with a stopped one)."""

from __future__ import annotations

from eps_chassis.jobs import PeriodicJob, per_tenant

from eps_incidents.adapters.repository import (
    tenants_due_for_escalation,
    tenants_with_a_rota,
    tenants_with_targets_due,
)
from eps_incidents.service_layer import handlers
from eps_incidents.settings import IncidentsSettings

ESCALATION = "escalate-unacknowledged"
BREACHES = "report-breached-targets"
ROTA_GAPS = "report-rota-gaps"


def incidents_jobs(settings: IncidentsSettings) -> list[PeriodicJob]:
    return [
        per_tenant(
            ESCALATION,
            settings.incidents_escalation_interval_s,
            tenants=tenants_due_for_escalation,
            work=handlers.escalate_unacknowledged,
        ),
        per_tenant(
            BREACHES,
            settings.incidents_breach_check_interval_s,
            tenants=tenants_with_targets_due,
            work=handlers.report_breached_targets,
        ),
        per_tenant(
            ROTA_GAPS,
            settings.incidents_rota_gap_check_interval_s,
            tenants=tenants_with_a_rota,
            work=handlers.report_rota_gaps,
        ),
    ]
