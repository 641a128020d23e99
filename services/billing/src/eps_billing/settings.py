"""Settings of the billing service: the chassis's, and the intervals and switches of its own
jobs (``EPS_BILLING_*``)."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    billing_finalise_invoices: bool = True
    """Whether periods are closed and their documents issued (``EPS_BILLING_FINALISE_INVOICES``).
    Off while replaying delivered time into an empty database: periods are then closed once the
    replay has caught up, so that no replayed event lands on a later invoice."""
    billing_finalise_interval_s: float = 60.0
    """How often due periods are looked for (``EPS_BILLING_FINALISE_INTERVAL_S``)."""
    billing_unpriced_report_interval_s: float = 15.0
    """How often each replica reads what is held unpriced into its gauges
    (``EPS_BILLING_UNPRICED_REPORT_INTERVAL_S``)."""
    billing_announce_interval_s: float = 60.0
    """How often SLA changes never announced (bought before the announcements) are looked for
    (``EPS_BILLING_ANNOUNCE_INTERVAL_S``)."""
