"""The signed-in person's session: a signed cookie (itsdangerous), and CSRF tokens for forms.

The cookie holds the person's bearer token (what the console acts with, as them) and a random
CSRF token; it is HttpOnly, SameSite=Lax, Secure when the console is served over TLS, and
expires with the session. Every form carries the CSRF token (a hidden field, or the
``X-CSRF-Token`` header htmx sends) and a POST without the session's token is refused: a page
on another site cannot act as the person, even where SameSite is not honoured.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "eps_console_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass
class Session:
    token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    oidc: dict[str, str] | None = None  # state, PKCE verifier and nonce during a sign-in

    def as_dict(self) -> dict[str, Any]:
        return {"token": self.token, "csrf": self.csrf, "oidc": self.oidc}


class Sessions:
    def __init__(self, secret: str, max_age_s: int) -> None:
        self.max_age_s = max_age_s
        self._signer = URLSafeTimedSerializer(secret, salt="eps-console-session")

    def read(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = self._signer.loads(raw, max_age=self.max_age_s)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                return Session(data.get("token"), data["csrf"], data.get("oidc"))
        return Session()

    def write(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self._signer.dumps(session.as_dict()),
            max_age=self.max_age_s,
            path="/console",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/console")


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The posted form, once its CSRF token is the session's (403 otherwise)."""
    form = await request.form()
    given = request.headers.get(CSRF_HEADER) or str(form.get(CSRF_FIELD) or "")
    if not given or not hmac.compare_digest(given, session.csrf):
        raise HTTPException(403, "the form's CSRF token is missing or not this session's")
    return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}
