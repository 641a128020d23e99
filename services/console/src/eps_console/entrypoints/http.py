"""The console's pages: server-rendered (Jinja2, GOV.UK Design System), htmx for actions, and
server-sent events for the board's live updates.

Reads come from the console's own read model, for the signed-in person's local authority only,
and are audited here. Every action is the owning service's HTTP API called as the person (their
bearer token): it is authorised and audited there, and a refusal shows its reason in place.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from eps_chassis.access import audited_access
from eps_chassis.auth import AuthError, Principal, Role
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.incidents import IncidentKind
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sse_starlette import EventSourceResponse
from starlette.staticfiles import StaticFiles

from eps_console import views
from eps_console.adapters.incidents_api import Answer, ServiceUnavailable
from eps_console.adapters.sessions import CSRF_FIELD, Session, checked_form
from eps_console.adapters.sign_in import DEV_ROLES, development_token
from eps_console.adapters.web import Console, console_of
from eps_console.domain.clocks import countdown
from eps_console.service_layer.unit_of_work import PostgresConsoleUnitOfWork

router = APIRouter(prefix="/console", include_in_schema=False)
Runtime: TypeAlias = ServiceRuntime[PostgresConsoleUnitOfWork]

HERE = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")
PAGES_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'self'"
)
RESPONDERS = (Role.COORDINATOR, Role.SENIOR_EP, Role.PRINCIPAL_EP)
RESPONDING_EPS = (Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP)


def _london(moment: datetime | None, form: str = "%a %d %b %Y, %H:%M") -> str:
    return moment.astimezone(LONDON).strftime(form) if moment else ""


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["london"] = _london
templates.env.filters["countdown"] = countdown
templates.env.globals["csrf_field"] = CSRF_FIELD


@dataclass(frozen=True)
class Person:
    principal: Principal
    token: str
    session: Session

    @property
    def role_label(self) -> str:
        return self.principal.role.value.replace("_", " ")


# --- rendering ---------------------------------------------------------------------------------


def page(
    request: Request,
    name: str,
    *,
    person: Person | None = None,
    session: Session | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    session = session or (person.session if person else None)
    response = templates.TemplateResponse(
        request,
        name,
        {"person": person, "csrf": session.csrf if session else "", **context},
        status_code=status,
    )
    response.headers["content-security-policy"] = PAGES_CSP
    return response


def _to_sign_in() -> HTTPException:
    return HTTPException(303, "sign in first", headers={"Location": "/console/sign-in"})


async def signed_in(request: Request) -> Person:
    """The person whose session this is (to the sign-in page otherwise)."""
    console = console_of(request)
    session = console.sessions.read(request)
    if not session.token:
        raise _to_sign_in()
    try:
        principal = await request.app.state.token_verifier.authenticate(session.token)
    except AuthError:
        raise _to_sign_in() from None
    request.state.principal = principal  # a refusal is audited under their name
    return Person(principal, session.token, session)


def allowed(*roles: Role) -> Any:
    async def check(person: Person = Depends(signed_in)) -> Person:
        if person.principal.role not in roles:
            raise HTTPException(
                403,
                f"role {person.principal.role} may not see this page; allowed: " + ", ".join(roles),
            )
        return person

    return Depends(check)


COORDINATING = allowed(*RESPONDERS)
EPS = allowed(*RESPONDING_EPS)
ANYONE = Depends(signed_in)


# --- static files (as published by their npm packages; no bundler) -------------------------


def _static(console: Console) -> dict[str, StaticFiles]:
    modules = console.frontend / "node_modules"
    return {
        "govuk": StaticFiles(directory=modules / "govuk-frontend" / "dist" / "govuk"),
        "htmx": StaticFiles(directory=modules / "htmx.org" / "dist"),
        "htmx-ext-sse": StaticFiles(directory=modules / "htmx-ext-sse" / "dist"),
        "app": StaticFiles(directory=HERE / "static"),
    }


@router.get("/static/govuk/govuk-frontend.min.css")
async def govuk_css(request: Request) -> Response:
    """GOV.UK Frontend's stylesheet, its /assets/ URLs pointed at where they are served here."""
    console = console_of(request)
    if console.govuk_css is None:
        path = console.frontend / "node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css"
        console.govuk_css = path.read_text().replace(
            "url(/assets/", "url(/console/static/govuk/assets/"
        )
    return Response(console.govuk_css, media_type="text/css")


@router.get("/static/{package}/{path:path}")
async def static(package: str, path: str, request: Request) -> Response:
    console = console_of(request)
    if console.static is None:
        console.static = _static(console)
    files = console.static.get(package)
    if files is None:
        raise HTTPException(404, "no such file")
    return await files.get_response(path, request.scope)


# --- signing in ------------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    console = console_of(request)
    session = console.sessions.read(request)
    if not session.token:
        return RedirectResponse("/console/sign-in", 303)
    person = await signed_in(request)
    target = "/console/board" if person.principal.role in RESPONDERS else "/console/my-incidents"
    return RedirectResponse(target, 303)


@router.get("/sign-in")
async def sign_in(request: Request) -> Response:
    console = console_of(request)
    session = console.sessions.read(request)
    response = page(
        request,
        "sign_in.html",
        session=session,
        oidc=console.oidc is not None,
        development=console.settings.console_dev_sign_in,
    )
    console.sessions.write(request, response, session)
    return response


@router.get("/sign-in/oidc")
async def sign_in_oidc(request: Request) -> Response:
    console = console_of(request)
    if console.oidc is None:
        raise HTTPException(404, "sign-in with the local authority's issuer is not configured")
    session = console.sessions.read(request)
    url, kept = await console.oidc.start(str(request.url_for("oidc_callback")))
    session.oidc = kept
    response = RedirectResponse(url, 303)
    console.sessions.write(request, response, session)
    return response


@router.get("/sign-in/callback", name="oidc_callback")
async def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
    console = console_of(request)
    session = console.sessions.read(request)
    if console.oidc is None or not session.oidc or not code:
        raise HTTPException(400, "no sign-in is under way")
    token = await console.oidc.finish(
        str(request.url_for("oidc_callback")), session.oidc, code, state
    )
    if token is None:
        raise HTTPException(400, "the issuer's answer is not the one asked for")
    new = Session(token=token)  # a new session (and CSRF token) for the signed-in person
    response = RedirectResponse("/console", 303)
    console.sessions.write(request, response, new)
    return response


@router.get("/dev/sign-in")
async def dev_sign_in_page(request: Request) -> Response:
    console = console_of(request)
    if not console.settings.console_dev_sign_in:
        raise HTTPException(404, "the development sign-in is not enabled")
    session = console.sessions.read(request)
    response = page(request, "dev_sign_in.html", session=session, roles=DEV_ROLES)
    console.sessions.write(request, response, session)
    return response


@router.post("/dev/sign-in")
async def dev_sign_in(request: Request) -> Response:
    console = console_of(request)
    settings = console.settings
    if not settings.console_dev_sign_in or settings.console_dev_signing_key_file is None:
        raise HTTPException(404, "the development sign-in is not enabled")
    session = console.sessions.read(request)
    form = await checked_form(request, session)
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        raise HTTPException(422, "choose a role") from None
    tenant = form.get("la") or "leicester-city"
    subject = form.get("subject") or f"local-{role.value}"
    token = development_token(
        settings.console_dev_signing_key_file, role=role, tenant=tenant, subject=subject
    )
    try:
        await request.app.state.token_verifier.authenticate(token)
    except AuthError as exc:
        raise HTTPException(422, f"that local authority cannot sign in here: {exc}") from None
    response = RedirectResponse("/console", 303)
    console.sessions.write(request, response, Session(token=token))
    return response


@router.post("/sign-out")
async def sign_out(request: Request, person: Person = ANYONE) -> Response:
    await checked_form(request, person.session)
    response = RedirectResponse("/console/sign-in", 303)
    console_of(request).sessions.clear(response)
    return response


# --- the board ---------------------------------------------------------------------------------


async def _board_rows(person: Person, runtime: Runtime) -> list[views.IncidentRow]:
    principal = person.principal
    async with audited_access(
        runtime.uow, principal, action="board", resource="incidents?open"
    ) as access:
        rows = await views.open_incidents(access.uow.conn, principal.tenant)
    now = runtime.clock()
    return [row.with_clocks(now) for row in rows]


def fragment(request: Request, target: str) -> bool:
    """htmx asks for one part of the page again (a live update of ``#target``)."""
    return request.headers.get("hx-target") == target and "hx-boosted" not in request.headers


@router.get("/board")
async def board(
    request: Request, person: Person = COORDINATING, runtime: Runtime = Depends(get_runtime)
) -> Response:
    """The LA's open incidents; their rows alone when the page's live update asks for them."""
    rows = await _board_rows(person, runtime)
    name = "_board_rows.html" if fragment(request, "board") else "board.html"
    return page(request, name, person=person, rows=rows)


@router.get("/live")
async def live(
    request: Request,
    person: Person = ANYONE,
    runtime: Runtime = Depends(get_runtime),
    board: bool = False,
) -> Response:
    """Server-sent events for one open page of the person's local authority: ``incident``
    (its id) each time one of its incidents changes, so an incident page asks for it again;
    with ``board=true``, ``board``: the board's rows as they now are, pushed."""
    changes = console_of(request).changes
    if board and changes.render_board is None:
        changes.render_board = lambda tenant: _rendered_rows(runtime, tenant)
    tenant = person.principal.tenant

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with changes.subscribed(tenant, board=board) as listener:
            yield {"event": "listening", "data": "Live: changes appear as they happen."}
            while True:
                event, data = await listener.queue.get()
                yield {"event": event, "data": data or "rota"}

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})


async def _rendered_rows(runtime: Runtime, tenant: str) -> str:
    """The board's rows of an LA, rendered once for all its open boards in this process (the
    board page's read is audited per person when it opens)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        rows = await views.open_incidents(conn, tenant)
    now = runtime.clock()
    template = templates.get_template("_board_rows.html")
    return template.render(rows=[row.with_clocks(now) for row in rows])


# --- an incident -----------------------------------------------------------------------------


async def _incident(
    person: Person, runtime: Runtime, incident_id: uuid.UUID
) -> views.IncidentDetail:
    principal = person.principal
    async with audited_access(
        runtime.uow, principal, action="read", resource=f"incident/{incident_id}"
    ) as access:
        found = await views.incident(access.uow.conn, principal.tenant, incident_id)
    if found is None:
        raise HTTPException(404, "no such incident in your local authority")
    found.incident.with_clocks(runtime.clock())
    return found


def _now_field(runtime: Runtime) -> str:
    return runtime.clock().astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


@router.get("/incidents/{incident_id}")
async def incident_page(
    incident_id: uuid.UUID,
    request: Request,
    person: Person = COORDINATING,
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """An incident; its summary alone when the page's live update asks for it."""
    detail = await _incident(person, runtime, incident_id)
    if fragment(request, "summary"):
        return page(request, "_incident_summary.html", person=person, d=detail)
    return page(request, "incident.html", person=person, d=detail, now_field=_now_field(runtime))


def _london_instant(value: str | None) -> str | None:
    """A ``datetime-local`` field (London wall time) as an instant; the text itself when it is
    not one, so that the service names the field."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=LONDON).isoformat()
    except ValueError:
        return value


ACTIONS: dict[str, str] = {
    "acknowledge": "acknowledge",
    "first-contact": "first-contact",
    "visit": "visits",
    "follow-up": "follow-up",
    "close": "close",
    "ask-again": "fast-track-requests",
}


def _body(action: str, form: dict[str, str], ep_ids: list[str]) -> dict[str, Any] | None:
    if action == "first-contact":
        return {"made_at": _london_instant(form.get("made_at"))}
    if action == "visit":
        return {"visited_at": _london_instant(form.get("visited_at")), "ep_ids": ep_ids}
    if action == "follow-up":
        return {"review_on": form.get("review_on") or None, "plan": form.get("plan", "")}
    if action == "close":
        return {"summary": form.get("summary", "")}
    return None


@router.post("/incidents/{incident_id}/{action}")
async def act(
    incident_id: uuid.UUID,
    action: str,
    request: Request,
    person: Person = COORDINATING,
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """One of the coordinator's actions, done by the incidents service as the person."""
    if action not in ACTIONS:
        raise HTTPException(404, "no such action")
    form = await checked_form(request, person.session)
    raw = await request.form()
    ep_ids = [str(v) for v in raw.getlist("ep_ids")]
    answer = await _call(
        request,
        person,
        "POST",
        f"/incidents/{incident_id}/{ACTIONS[action]}",
        _body(action, form, ep_ids),
    )
    if answer.ok:
        return RedirectResponse(f"/console/incidents/{incident_id}", 303)
    detail = await _incident(person, runtime, incident_id)
    return page(
        request,
        "incident.html",
        person=person,
        d=detail,
        now_field=_now_field(runtime),
        refused=answer,
        refused_action=action,
        form=form,
        status=answer.status,
    )


async def _call(
    request: Request, person: Person, method: str, path: str, body: Any = None
) -> Answer:
    try:
        return await console_of(request).incidents.call(person.token, method, path, body)
    except ServiceUnavailable as exc:
        return Answer(503, {"detail": str(exc)})


# --- reporting an incident (the phone-call route) ---------------------------------------------


KINDS = [(k.value, k.value.replace("_", " ").capitalize()) for k in IncidentKind]


def _number(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    return int(value) if value.strip().isdigit() else value


@router.get("/report")
async def report_form(
    request: Request, person: Person = COORDINATING, runtime: Runtime = Depends(get_runtime)
) -> Response:
    return page(
        request,
        "report.html",
        person=person,
        kinds=KINDS,
        form={"report_id": str(uuid.uuid4()), "occurred_at": _now_field(runtime)},
        errors={},
    )


@router.post("/report")
async def report(
    request: Request, person: Person = COORDINATING, runtime: Runtime = Depends(get_runtime)
) -> Response:
    form = await checked_form(request, person.session)
    body = {
        "report_id": form.get("report_id") or str(uuid.uuid4()),
        "school_urn": form.get("school_urn", ""),
        "kind": form.get("kind") or None,
        "occurred_at": _london_instant(form.get("occurred_at")),
        "reported_by": form.get("reported_by", ""),
        "pupils_affected": _number(form.get("pupils_affected")),
        "staff_affected": _number(form.get("staff_affected")),
        "level": _number(form.get("level")),
        "description": form.get("description") or None,
    }
    answer = await _call(request, person, "POST", "/incidents", body)
    if answer.ok:
        return RedirectResponse(f"/console/incidents/{answer.body['incident_id']}", 303)
    errors = answer.field_errors
    return page(
        request,
        "report.html",
        person=person,
        kinds=KINDS,
        form=form,
        errors=errors,
        refused=None if errors else answer,
        status=answer.status,
    )


# --- on call ---------------------------------------------------------------------------------


@router.get("/on-call")
async def on_call(
    request: Request, person: Person = COORDINATING, runtime: Runtime = Depends(get_runtime)
) -> Response:
    return await _on_call_page(request, person, runtime)


async def _on_call_page(
    request: Request,
    person: Person,
    runtime: Runtime,
    *,
    refused: Answer | None = None,
    form: dict[str, str] | None = None,
    added: bool = False,
    status: int = 200,
) -> Response:
    """Who is on call now and next and the escalation chain, from incidents (read as the
    person); should incidents not answer, the gaps its rota checks reported, from the events."""
    principal = person.principal
    now = runtime.clock()
    rota = await _call(request, person, "GET", "/incidents/rota?hours=48")
    reported: list[views.RotaGap] = []
    if not rota.ok:
        async with audited_access(runtime.uow, principal, action="read", resource="rota") as access:
            reported = await views.rota_gaps(access.uow.conn, principal.tenant, now)
    may_edit = principal.role in (Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)
    start = now.astimezone(LONDON).replace(minute=0, second=0, microsecond=0)
    defaults = {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"),
    }
    return page(
        request,
        "on_call.html",
        person=person,
        rota=views.on_call(rota.body) if rota.ok else None,
        unavailable=None if rota.ok else rota,
        reported=reported,
        soon=now + timedelta(hours=24),
        may_edit=may_edit,
        refused=refused,
        form=form or defaults,
        errors=refused.field_errors if refused else {},
        added=added,
        status=status,
    )


@router.post("/on-call/entries")
async def add_rota_entry(
    request: Request, person: Person = COORDINATING, runtime: Runtime = Depends(get_runtime)
) -> Response:
    form = await checked_form(request, person.session)
    body = {
        "coordinator_id": form.get("coordinator_id", ""),
        "position": form.get("position") or None,
        "starts_at": _london_instant(form.get("starts_at")),
        "ends_at": _london_instant(form.get("ends_at")),
        "is_override": form.get("is_override") == "yes",
    }
    answer = await _call(request, person, "POST", "/incidents/rota/entries", body)
    if answer.ok:
        return await _on_call_page(request, person, runtime, added=True)
    return await _on_call_page(
        request, person, runtime, refused=answer, form=form, status=answer.status
    )


# --- an EP's incidents -------------------------------------------------------------------------


@router.get("/my-incidents")
async def my_incidents(
    request: Request, person: Person = EPS, runtime: Runtime = Depends(get_runtime)
) -> Response:
    principal = person.principal
    async with audited_access(
        runtime.uow, principal, action="list", resource=f"incidents?ep={principal.subject}"
    ) as access:
        found = await views.assignments(access.uow.conn, principal.tenant, principal.subject)
    return page(request, "my_incidents.html", person=person, assignments=found)


# --- what paging sent ------------------------------------------------------------------------


@router.get("/sent")
async def sent(
    request: Request, person: Person = COORDINATING, runtime: Runtime = Depends(get_runtime)
) -> Response:
    """What paging sent for the LA (and, under `make run`, what would have reached a phone)."""
    principal = person.principal
    async with audited_access(
        runtime.uow, principal, action="list", resource="notifications"
    ) as access:
        found = await views.notifications(access.uow.conn, principal.tenant)
    return page(request, "sent.html", person=person, sent=found)
