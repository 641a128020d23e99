"""Settings of the statutory service (``EPS_STATUTORY_*``), beyond the chassis's own."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class StatutorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EPS_STATUTORY_", extra="ignore")

    deadline_watch_interval_s: float = 300.0
    """How often the deadline watch looks for advice at risk or past its last day."""
