"""Settings of the scheduling service: the chassis's, and the intervals of its own jobs."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings


class SchedulingSettings(ServiceSettings):
    planning_meetings_interval_s: float = 3600.0
    """How often the planning job looks for schools still missing a term's planning meeting
    (``EPS_PLANNING_MEETINGS_INTERVAL_S``)."""
