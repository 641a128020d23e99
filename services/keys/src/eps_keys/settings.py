"""Settings of the keys service: the chassis's, where the key-encryption key is, and how long a
service's dead letters stay readable."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.settings import ServiceSettings
from pydantic import Field


class KeysSettings(ServiceSettings):
    keys_kek_file: Path = Path("var/local/keys/kek.key")
    """The key-encryption key (``EPS_KEYS_KEK_FILE``): 32 random bytes, base64, held outside the
    database (``make run`` makes one once under ``var/local/``). In production the KEK stays in
    the council's KMS or HSM and wraps and unwraps there (``adapters.kek``)."""
    keys_dead_letter_retention_days: int = Field(14, ge=1)
    """Days a service's dead letters stay readable: each day's key is destroyed after this
    (``EPS_KEYS_DEAD_LETTER_RETENTION_DAYS``)."""
    keys_retention_interval_s: float = 3600.0
    """How often the dead-letter keys past their retention are destroyed."""
