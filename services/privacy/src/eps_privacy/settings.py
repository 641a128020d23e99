"""Settings of the privacy service: where the services it asks for a child's records answer,
which of them must confirm an erasure, and how often its jobs run."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings

LOCAL_HOLDERS = {
    "referrals": "http://127.0.0.1:8001",
    "consent": "http://127.0.0.1:8002",
    "scheduling": "http://127.0.0.1:8003",
    "incidents": "http://127.0.0.1:8004",
    "statutory": "http://127.0.0.1:8005",
    "billing": "http://127.0.0.1:8006",
    "notifications": "http://127.0.0.1:8007",
    "console": "http://127.0.0.1:8008",
    "keys": "http://127.0.0.1:8009",
}


class PrivacySettings(ServiceSettings):
    privacy_services: dict[str, str] = LOCAL_HOLDERS
    """Every service asked for what it holds about a child (``EPS_PRIVACY_SERVICES``, JSON:
    name to base URL); the defaults are ``make run``'s addresses."""
    privacy_erasure_confirmers: list[str] = ["consent", "referrals", "scheduling", "statutory"]
    """The services holding children's records: an erasure is complete once each confirms
    (``EPS_PRIVACY_ERASURE_CONFIRMERS``, JSON list)."""
    privacy_fan_out_timeout_s: float = 30.0
    """How long one service may take to answer a subject access request."""
    privacy_retention_interval_s: float = 3600.0
    """How often the retention schedule is checked (``EPS_PRIVACY_RETENTION_INTERVAL_S``)."""
    privacy_reminder_interval_s: float = 3600.0
    """How often subject access requests due soon are looked for."""
    privacy_shred_interval_s: float = 5.0
    """How soon a completed erasure's key is shredded at the keys service (and retried)."""
