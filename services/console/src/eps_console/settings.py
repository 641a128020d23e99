"""Settings of the console: where the services it acts through are, and how people sign in.

Production signs people in with the local authority's OpenID Connect issuer (authorization code
flow with PKCE): ``EPS_CONSOLE_OIDC_ISSUER``, ``EPS_CONSOLE_OIDC_CLIENT_ID`` and
``EPS_CONSOLE_OIDC_CLIENT_SECRET``, the bearer tokens it issues verified like every service's
(``EPS_AUTH_JWKS_URL``). The development sign-in (`make run`) issues local tokens for any role:
it is refused at start unless ``EPS_CONSOLE_DEV_SIGN_IN`` is true AND a local signing key file
exists (``EPS_CONSOLE_DEV_SIGNING_KEY_FILE``) AND no production issuer is configured.
"""

from __future__ import annotations

from pathlib import Path

from eps_chassis.settings import ServiceSettings
from pydantic import SecretStr, model_validator


class ConsoleSettings(ServiceSettings):
    console_incidents_url: str = "http://127.0.0.1:8004"
    """The incidents service, which the console's actions call as the signed-in person."""
    console_notifications_url: str | None = None
    """The notifications service, whose record of what was sent the Sent page shows."""
    console_frontend_dir: Path = Path(__file__).resolve().parents[2] / "frontend"
    """The npm packages the pages load (services/console/frontend; `make console-frontend`)."""
    console_session_secret: SecretStr | None = None
    """Signs the session cookie; required in production (a random one per process otherwise,
    which only the development sign-in allows)."""
    console_session_max_age_s: int = 8 * 3600
    console_oidc_issuer: str | None = None
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: SecretStr | None = None
    console_oidc_scope: str = "openid profile"
    console_dev_sign_in: bool = False
    console_dev_signing_key_file: Path | None = None

    @model_validator(mode="after")
    def _sign_in_is_safe(self) -> ConsoleSettings:
        if self.console_dev_sign_in:
            key = self.console_dev_signing_key_file
            if key is None or not key.is_file():
                raise ValueError(
                    "the development sign-in needs EPS_CONSOLE_DEV_SIGNING_KEY_FILE, an existing"
                    " local signing key: it is for `make run`, never production"
                )
            if self.console_oidc_issuer or self.auth_jwks_url:
                raise ValueError(
                    "the development sign-in cannot be enabled where a production issuer is"
                    " configured (EPS_CONSOLE_OIDC_ISSUER or EPS_AUTH_JWKS_URL)"
                )
        elif self.console_oidc_issuer:
            if not (self.console_oidc_client_id and self.console_session_secret):
                raise ValueError(
                    "OpenID Connect sign-in needs EPS_CONSOLE_OIDC_CLIENT_ID and"
                    " EPS_CONSOLE_SESSION_SECRET"
                )
        return self
