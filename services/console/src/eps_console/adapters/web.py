"""What the console's pages share within one process, made once from the service's settings:
the session signer, the incidents API client, the live changes and the sign-in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary

import httpx
from fastapi import Request
from starlette.staticfiles import StaticFiles

from eps_console.adapters.incidents_api import IncidentsApi
from eps_console.adapters.live import Changes
from eps_console.adapters.sessions import Sessions
from eps_console.adapters.sign_in import OpenIdConnect
from eps_console.settings import ConsoleSettings


@dataclass
class Console:
    settings: ConsoleSettings
    sessions: Sessions
    incidents: IncidentsApi
    changes: Changes
    oidc: OpenIdConnect | None
    frontend: Path
    static: dict[str, StaticFiles] | None = None
    govuk_css: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: ConsoleSettings, schema: str) -> Console:
        secret = settings.console_session_secret
        oidc = None
        if settings.console_oidc_issuer and settings.console_oidc_client_id:
            client_secret = settings.console_oidc_client_secret
            oidc = OpenIdConnect(
                settings.console_oidc_issuer,
                settings.console_oidc_client_id,
                client_secret.get_secret_value() if client_secret else None,
                settings.console_oidc_scope,
            )
        client = httpx.AsyncClient(base_url=settings.console_incidents_url, timeout=10)
        return cls(
            settings=settings,
            # without a secret (the development sign-in only: see settings), sessions last as
            # long as the process
            sessions=Sessions(
                secret.get_secret_value() if secret else secrets.token_urlsafe(32),
                settings.console_session_max_age_s,
            ),
            incidents=IncidentsApi(client),
            changes=Changes(settings.database_url, schema),
            oidc=oidc,
            frontend=settings.console_frontend_dir,
        )


_CONSOLES: WeakKeyDictionary[object, Console] = WeakKeyDictionary()


def console_of(request: Request) -> Console:
    """The process's console state for the running service (made on first use)."""
    runtime = request.app.state.runtime
    console = _CONSOLES.get(runtime)
    if console is None:
        assert isinstance(runtime.settings, ConsoleSettings)
        console = _CONSOLES[runtime] = Console.of(runtime.settings, runtime.definition.db_schema)
    return console


def use_console(runtime: object, console: Console) -> None:
    """Give a running service this state (a test's: an incidents client bound in-process)."""
    _CONSOLES[runtime] = console
