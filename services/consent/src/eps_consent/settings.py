"""Settings of the consent service (``EPS_CONSENT_*``), beyond the chassis's own."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EPS_CONSENT_", extra="ignore")

    expiry_check_interval_s: float = 300.0
    """How often the expiry job looks for grants past their re-consent date."""
