"""Settings of the consent service: the chassis's, and the intervals of its own jobs."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings


class ConsentSettings(ServiceSettings):
    consent_expiry_check_interval_s: float = 300.0
    """How often the expiry job looks for grants past their re-consent date
    (``EPS_CONSENT_EXPIRY_CHECK_INTERVAL_S``)."""
