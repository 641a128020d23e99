"""Settings of the incidents service: the chassis's, and the intervals of its own jobs."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings


class IncidentsSettings(ServiceSettings):
    incidents_escalation_interval_s: float = 15.0
    """How often incidents nobody acknowledged in time are escalated
    (``EPS_INCIDENTS_ESCALATION_INTERVAL_S``): an escalation is at most this late."""
    incidents_breach_check_interval_s: float = 30.0
    """How often response targets passed without being met are reported
    (``EPS_INCIDENTS_BREACH_CHECK_INTERVAL_S``)."""
    incidents_rota_gap_check_interval_s: float = 600.0
    """How often the on-call rota is searched for gaps within the look-ahead
    (``EPS_INCIDENTS_ROTA_GAP_CHECK_INTERVAL_S``)."""
