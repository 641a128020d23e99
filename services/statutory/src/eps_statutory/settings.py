"""Settings of the statutory service: the chassis's, and the interval of its own job."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings


class StatutorySettings(ServiceSettings):
    statutory_deadline_watch_interval_s: float = 300.0
    """How often the deadline watch looks for advice at risk or past its last day
    (``EPS_STATUTORY_DEADLINE_WATCH_INTERVAL_S``)."""
