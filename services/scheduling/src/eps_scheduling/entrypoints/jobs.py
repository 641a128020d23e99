"""Time-driven work of the scheduling service.

Planning meetings: each school's autumn and spring planning meetings are proposed in its named
EP's diary without anyone asking, one local authority and one school at a time, by the
service's clock (so tests drive the job with a fake clock).
"""

from __future__ import annotations

from eps_chassis.jobs import PeriodicJob, per_tenant

from eps_scheduling.adapters.repository import tenants_with_schools
from eps_scheduling.service_layer import handlers
from eps_scheduling.settings import SchedulingSettings

PLANNING_MEETINGS = "propose-planning-meetings"


def scheduling_jobs(settings: SchedulingSettings) -> list[PeriodicJob]:
    return [
        per_tenant(
            PLANNING_MEETINGS,
            settings.planning_meetings_interval_s,
            tenants=tenants_with_schools,
            items=handlers.planning_due,
            work=handlers.propose_planning_meetings,
        )
    ]
