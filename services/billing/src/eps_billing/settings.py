"""Settings of the billing service (``EPS_BILLING_*``), beyond the chassis's own."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EPS_BILLING_", extra="ignore")

    finalise_invoices: bool = True
    """Off while replaying delivered time into an empty database: periods are then closed once
    the replay has caught up, so that no replayed event lands on a later invoice."""
    finalise_interval_s: float = 60.0
    unpriced_report_interval_s: float = 15.0
    """How often each replica reads what is held unpriced into its gauges."""
    announce_interval_s: float = 60.0
    """How often SLA changes never announced (bought before the announcements) are looked for."""
