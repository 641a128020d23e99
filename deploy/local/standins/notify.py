"""A stand-in for GOV.UK Notify's API, enough of it for the official Python client.

It checks the client's JWT as Notify does (HS256, signed with the key's secret, issued by the
key's service id, within 30 seconds), answers ``POST /v2/notifications/sms`` and ``/email``,
``GET /v2/notifications/{id}`` and ``GET /v2/notifications?reference=`` in Notify's shapes,
and records what it received (``GET /sent``). It can be told to fail: the next N sends with a
status (500, 503 or 429: temporary; 400: permanent), or a destination's messages to end in a
delivery status (``permanent-failure``, ``temporary-failure``).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from notifications_python_client.authentication import decode_jwt_token, get_token_issuer
from notifications_python_client.errors import TokenError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from standins.smtp import SmtpStandIn

STANDIN_API_KEY = (
    "local_standin-7b3e8a52-6f1d-4c8e-9a3b-2d5f0e1c4b7a-0d9c8b7a-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
)
"""The key the notifications service's settings default to (``EPS_NOTIFY_API_KEY``)."""


def _error(status: int, error: str, message: str) -> JSONResponse:
    body = {"status_code": status, "errors": [{"error": error, "message": message}]}
    return JSONResponse(body, status_code=status)


@dataclass
class NotifyStandIn:
    """What the stand-in received and what it is told to do; thread-safe (the tests read it
    while the server answers)."""

    api_key: str = STANDIN_API_KEY
    sent: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _outcomes: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def service_id(self) -> str:
        return self.api_key[-73:-37]

    # --- what a test (or the control routes) asks of it --------------------------------

    def fail_next(self, status: int, times: int = 1, destination: str | None = None) -> None:
        """The next ``times`` sends (to ``destination``, or any) are refused with ``status``."""
        with self._lock:
            self._failures.extend([(status, destination)] * times)

    def end_in(self, destination: str, status: str) -> None:
        """Messages to ``destination`` end in this delivery status (else ``delivered``)."""
        with self._lock:
            self._outcomes[destination] = status

    def to(self, destination: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.sent if m["to"] == destination]

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self._failures.clear()
            self._outcomes.clear()

    # --- the API -------------------------------------------------------------------------

    def _authorised(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if not header.startswith("Bearer ") or not token:
            return _error(401, "AuthError", "Unauthorized: authentication token must be provided")
        try:
            if get_token_issuer(token) != self.service_id:
                return _error(403, "AuthError", "Invalid token: service not found")
            decode_jwt_token(token, self.api_key[-36:])
        except TokenError as error:
            return _error(403, "AuthError", error.message)
        return None

    def _forced_failure(self, destination: str) -> int | None:
        with self._lock:
            for i, (status, only_to) in enumerate(self._failures):
                if only_to is None or only_to == destination:
                    del self._failures[i]
                    return status
        return None

    async def send(self, request: Request) -> JSONResponse:
        if refused := self._authorised(request):
            return refused
        kind = request.path_params["kind"]
        body = await request.json()
        destination = body.get("phone_number" if kind == "sms" else "email_address")
        if not destination or not body.get("template_id"):
            return _error(400, "ValidationError", "phone_number or email_address is required")
        status = self._forced_failure(destination)
        if status is not None:
            if status == 400:
                return _error(400, "ValidationError", "phone_number Not a UK mobile number")
            if status == 429:
                return _error(429, "RateLimitError", "Exceeded rate limit")
            return _error(status, "Exception", "Internal server error")
        personalisation = body.get("personalisation") or {}
        notification_id = str(uuid.uuid4())
        record = {
            "id": notification_id,
            "reference": body.get("reference"),
            "type": kind,
            "to": destination,
            "template_id": body["template_id"],
            "subject": personalisation.get("subject"),
            "body": personalisation.get("message", ""),
            "status": "sending",
            "created_at": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            self.sent.append(record)
        content: dict[str, Any] = {"body": record["body"]}
        content.update({"from_number": "EPS"} if kind == "sms" else {"subject": record["subject"]})
        answer = {
            "id": notification_id,
            "reference": record["reference"],
            "content": content,
            "uri": f"{request.base_url}v2/notifications/{notification_id}",
            "template": {"id": body["template_id"], "version": 1, "uri": ""},
        }
        return JSONResponse(answer, status_code=201)

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "reference": record["reference"],
            "type": record["type"],
            "phone_number" if record["type"] == "sms" else "email_address": record["to"],
            "body": record["body"],
            "subject": record["subject"],
            "status": record["status"],
            "template": {"id": record["template_id"], "version": 1, "uri": ""},
            "created_at": record["created_at"],
        }

    async def one(self, request: Request) -> JSONResponse:
        if refused := self._authorised(request):
            return refused
        with self._lock:
            record = next((m for m in self.sent if m["id"] == request.path_params["id"]), None)
            if record is None:
                return _error(404, "NoResultFound", "No result found")
            if record["status"] == "sending":  # asked once: it has arrived (or not)
                record["status"] = self._outcomes.get(record["to"], "delivered")
            return JSONResponse(self._shown(record))

    async def search(self, request: Request) -> JSONResponse:
        if refused := self._authorised(request):
            return refused
        reference = request.query_params.get("reference")
        with self._lock:
            found = [self._shown(m) for m in self.sent if reference in (None, m["reference"])]
        return JSONResponse({"notifications": found[::-1], "links": {"current": ""}})

    async def control(self, request: Request) -> JSONResponse:
        """``POST /standin/failures`` ``{"status": 500, "times": 2, "destination": null}`` or
        ``POST /standin/outcomes`` ``{"destination": "+447700900123", "status":
        "permanent-failure"}``: for trying paging by hand under `make run`."""
        body = await request.json()
        if request.path_params["what"] == "failures":
            self.fail_next(int(body["status"]), int(body.get("times", 1)), body.get("destination"))
        else:
            self.end_in(str(body["destination"]), str(body["status"]))
        return JSONResponse({"ok": True})

    def app(self, smtp: SmtpStandIn | None = None) -> Starlette:
        """The API, the control routes, and ``GET /sent``: what it (and the SMTP stand-in,
        when given) received, newest first: what would have reached phones and mailboxes."""

        async def sent(request: Request) -> JSONResponse:
            with self._lock:
                messages = list(self.sent)
            messages += smtp.received if smtp is not None else []
            newest = sorted(messages, key=lambda m: m["created_at"], reverse=True)
            return JSONResponse({"sent": newest})

        return Starlette(
            routes=[
                Route("/sent", sent, methods=["GET"]),
                Route("/v2/notifications/{kind:str}", self.send, methods=["POST"]),
                Route("/v2/notifications/{id:str}", self.one, methods=["GET"]),
                Route("/v2/notifications", self.search, methods=["GET"]),
                Route("/standin/{what:str}", self.control, methods=["POST"]),
            ]
        )
