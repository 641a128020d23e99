"""The HTTP doors every service's API shares.

- **One error shape**: every 4xx is RFC 9457 ``application/problem+json`` (:class:`Problem`):
  ``type``, ``title``, ``status``, ``detail`` and ``errors``, each naming where (``location``:
  body, path, query, header), which ``field`` and the ``rule`` it broke. Domain refusals,
  validation errors and the framework's own answers (401, 403, 404, 405, 413, 415) alike.
- **Every refusal audited**: a refusal that :func:`~eps_chassis.access.audited_access` has not
  already written to the audit log (a role refused, a token refused, a body refused) is written
  here, with who asked (or, for a caller nobody knows, their address), what and why.
- **Bodies read last, as strict JSON, within a limit**: :func:`json_body` reads a body only
  after the caller's role has been checked (a route lists its role check first), validates
  the raw JSON against a strict contract model, and :class:`BodyLimit` answers 413 as soon as a
  body is declared or found larger than ``EPS_HTTP_MAX_BODY_BYTES``, without reading it whole.
- **Headers on every response** (:class:`SecurityHeaders`): no caching of children's records,
  no sniffing, no framing, no referrer, a content security policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Annotated, Any, Literal, TypeVar

from eps_contracts.base import ContractModel
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eps_chassis.access import outcome_of
from eps_chassis.audit import printable, record_access
from eps_chassis.errors import Conflict, DomainError, Forbidden, Gone, NotFound
from eps_chassis.logging import get_logger

log = get_logger()
M = TypeVar("M", bound=ContractModel)
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One input at fault."""

    location: Literal["body", "path", "query", "header"] | None = Field(
        description="Where the input is; empty when the rule is about the request as a whole."
    )
    field: str | None = Field(
        description="The input at fault: a body field's dotted path (e.g. ``child.upn``), a"
        " parameter's or header's name; empty for the body as a whole."
    )
    rule: str = Field(description="The rule it broke, e.g. ``string_too_long``, ``conflict``.")
    detail: str = Field(description="The rule in words.")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field("about:blank", description="``about:blank``: the status says what it is.")
    title: str = Field(description="The status in words, e.g. ``Unprocessable Content``.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong, for a person.")
    errors: list[FieldError] = Field(
        default_factory=list, description="The inputs at fault, each with the rule it broke."
    )


def problem(
    status: int,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one shape of every 4xx answer."""
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=[*errors])
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


# --- request bodies -------------------------------------------------------------------------


def json_body(model: type[M], *, required: bool = True) -> Any:
    """A request body validated as JSON against a strict contract model.

    FastAPI validates bodies in Python mode, where strict models refuse the JSON forms of dates,
    UUIDs and enums; validating the raw JSON keeps the contracts strict and the answer a 422
    naming each field and the rule it broke. A body in another media type than JSON is 415 (one
    with no ``Content-Type`` is read as JSON); one larger than the limit, 413 (``BodyLimit``).
    Not ``required``: an empty body is the model's defaults. The model is declared as the
    route's request body in OpenAPI (``eps_chassis.openapi``).
    """
    if not issubclass(model, ContractModel):  # its text and dates are checked (eps_contracts.base)
        raise TypeError(f"{model.__name__} must be a ContractModel to be a request body")

    async def parse(request: Request) -> M:
        media_type = request.headers.get("content-type", "application/json").split(";")[0]
        raw = await request.body()
        if not required and not raw.strip():
            return model()
        if not (media_type.strip().lower() == "application/json" or media_type.endswith("+json")):
            raise HTTPException(415, f"send the body as application/json, not {media_type}")
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            errors = [
                {**{k: v for k, v in e.items() if k != "url"}, "loc": ("body", *e["loc"])}
                for e in exc.errors()
            ]
            raise RequestValidationError(errors) from exc

    parse.body_model = model  # type: ignore[attr-defined]
    parse.body_required = required  # type: ignore[attr-defined]
    return Depends(parse)


class BodyLimit:
    """Refuses a request body larger than ``max_bytes`` with 413, never reading it whole: at
    once when ``Content-Length`` declares it larger, else as soon as the bytes received pass
    the limit (a chunked body). The refusal is raised where the body is read, so it comes only
    after the caller's token and role have been checked, and is answered and audited as any
    other. (Starlette's own limit answers in plain text, replacing whatever the app answered.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"the body is larger than {self.max_bytes} bytes")


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


# --- headers --------------------------------------------------------------------------------

NOT_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Purpose = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=200,
        pattern=NOT_CONTROL,
        description="Why the record is read (kept in the audit log): up to 200 characters.",
    ),
]
"""The ``X-Purpose`` header of a read: bounded, and refused naming the header when it is not."""

_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# /docs and /redoc are pages: Swagger UI and ReDoc load from their CDN and start inline
_DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;"
    " style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com;"
    " font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com"
    " https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


class SecurityHeaders:
    """Every response: ``Cache-Control: no-store`` (a child's record is never kept by a browser
    or a proxy), ``X-Content-Type-Options: nosniff``, no framing (``frame-ancestors 'none'``,
    ``X-Frame-Options: DENY``), ``Referrer-Policy: no-referrer``, and a content security policy
    that allows nothing (the API answers JSON) except to the documentation pages and to a
    response that sets its own (the console's pages)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = _DOCS_CSP if scope["path"] in DOCS_PATHS else _API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = "no-store"
                headers["x-content-type-options"] = "nosniff"
                headers["x-frame-options"] = "DENY"
                headers["referrer-policy"] = "no-referrer"
                if "content-security-policy" not in headers:  # a page may set its own
                    headers["content-security-policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- refusals: answered as problems, audited ------------------------------------------------

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Gone, 410),
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (DomainError, 422),
)
_RULE: tuple[tuple[type[DomainError], str], ...] = (
    (Gone, "gone"),
    (NotFound, "not_found"),
    (Forbidden, "forbidden"),
    (Conflict, "conflict"),
    (DomainError, "domain_rule"),
)
_OUTCOMES = {401: "unauthenticated", 403: "denied", 404: "not_found", 409: "refused"}


def status_for(error: DomainError) -> int:
    """The HTTP answer to a refusal: not found 404, forbidden 403, a conflict with the record's
    state 409, any other rule 422."""
    return next(status for kind, status in _STATUS if isinstance(error, kind))


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every refusal as a problem, and audit those not audited yet."""
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]


async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    status = status_for(exc)
    if not exc.audited:  # refused before audited access began (e.g. a path and body disagree)
        await audit_refusal(request, outcome_of(exc), exc.describe())
    rule = next(rule for kind, rule in _RULE if isinstance(exc, kind))
    errors = [FieldError(location=None, field=exc.field, rule=rule, detail=str(exc))]
    return problem(status, str(exc), errors if exc.field else [])


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_field_error(e) for e in exc.errors()]
    named = ", ".join(f"{e.location} {e.field}" if e.field else f"{e.location}" for e in errors)
    detail = f"invalid input: {named}" if named else "invalid input"
    await audit_refusal(request, "invalid", detail)
    return problem(422, detail, errors)


def _field_error(error: dict[str, Any]) -> FieldError:
    loc = [str(part) for part in error.get("loc", ())]
    location = loc[0] if loc and loc[0] in ("body", "path", "query", "header") else None
    field = ".".join(loc[1:] if location else loc) or None
    return FieldError(
        location=location,
        field=field,
        rule=str(error.get("type", "invalid")),
        detail=str(error.get("msg", "invalid")),
    )


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    await audit_refusal(request, _OUTCOMES.get(status, "invalid"), detail)
    return problem(status, detail, headers=dict(exc.headers or {}))


async def audit_refusal(request: Request, outcome: str, reason: str) -> None:
    """Write a refused request to the service's audit log: who asked (the caller, or what a
    refused token says of its bearer, or nobody known and the address they called from), what
    (the route, the path and the purpose they gave) and why it was refused. A refusal is
    answered even when it cannot be written (the database away): that is logged."""
    runtime = getattr(request.app.state, "runtime", None)
    pool = getattr(runtime, "pool", None)
    if pool is None:
        return
    principal = getattr(request.state, "principal", None) or getattr(request.state, "claimed", None)
    endpoint = request.scope.get("endpoint")
    action = getattr(endpoint, "__name__", None) or request.method
    client = request.client.host if request.client else None
    try:
        await record_access(
            pool,
            principal,
            action=action,
            resource=f"{request.method} {request.url.path}",
            outcome=outcome,
            purpose=request.headers.get("x-purpose"),
            reason=reason,
            client=client if principal is None else None,
        )
    except Exception as exc:  # the refusal stands; its audit is logged as lost
        log.error("refusal not audited", reason=printable(reason), error=repr(exc))
