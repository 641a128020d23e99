"""The development sign-in cannot be enabled by accident: only with the explicit setting, an
existing local signing key, and no production issuer configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eps_chassis.auth import ensure_local_keys
from eps_console.settings import ConsoleSettings
from pydantic import ValidationError


def test_the_development_sign_in_is_off_unless_asked_for() -> None:
    assert ConsoleSettings().console_dev_sign_in is False


def test_the_development_sign_in_needs_an_existing_local_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="EPS_CONSOLE_DEV_SIGNING_KEY_FILE"):
        ConsoleSettings(console_dev_sign_in=True)
    with pytest.raises(ValidationError, match="EPS_CONSOLE_DEV_SIGNING_KEY_FILE"):
        ConsoleSettings(
            console_dev_sign_in=True, console_dev_signing_key_file=tmp_path / "missing.pem"
        )
    private, _ = ensure_local_keys(tmp_path)
    settings = ConsoleSettings(console_dev_sign_in=True, console_dev_signing_key_file=private)
    assert settings.console_dev_sign_in


def test_the_development_sign_in_is_refused_beside_a_production_issuer(tmp_path: Path) -> None:
    private, _ = ensure_local_keys(tmp_path)
    local: dict[str, Any] = {"console_dev_sign_in": True, "console_dev_signing_key_file": private}
    with pytest.raises(ValidationError, match="production issuer"):
        ConsoleSettings(**local, console_oidc_issuer="https://login.example.org/la/v2.0")
    with pytest.raises(ValidationError, match="production issuer"):
        ConsoleSettings(**local, auth_jwks_url="https://login.example.org/keys")


def test_the_development_sign_in_is_refused_from_the_environment_without_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EPS_CONSOLE_DEV_SIGN_IN", "true")
    with pytest.raises(ValidationError):
        ConsoleSettings()


def test_openid_connect_needs_a_client_and_a_session_secret() -> None:
    with pytest.raises(ValidationError, match="CLIENT_ID"):
        ConsoleSettings(console_oidc_issuer="https://login.example.org/la/v2.0")
    settings = ConsoleSettings(
        console_oidc_issuer="https://login.example.org/la/v2.0",
        console_oidc_client_id="console",
        console_session_secret="s" * 32,
    )
    assert settings.console_oidc_client_id == "console"
