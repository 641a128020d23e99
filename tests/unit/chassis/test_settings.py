"""Settings handed to a service process come back as they went."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eps_chassis.settings import ServiceSettings


def test_settings_round_trip_through_a_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = ServiceSettings(
        kafka_bootstrap_servers="10.0.0.1:9092",
        database_url="postgresql://u:p@db/eps",
        topic_prefix="bench.",
        db_schema="incidents_x",
        http_port=18004,
        auth_public_key_file=Path("/keys/public.pem"),
        outbox_poll_interval_s=0.25,
        log_level="WARNING",
    )
    for name in list(os.environ):
        if name.startswith("EPS_") or name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
            monkeypatch.delenv(name)
    for name, value in given.as_environment().items():
        monkeypatch.setenv(name, value)
    assert ServiceSettings() == given
