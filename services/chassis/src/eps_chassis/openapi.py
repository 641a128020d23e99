"""A service's OpenAPI document, as the routes really behave, and the checks that keep it so.

FastAPI's own document misses what the chassis does around a route: bodies are read by
``json_body`` (strict JSON mode, after the role check), so FastAPI sees none; every refusal is a
problem+json (``eps_chassis.http``), not FastAPI's 422 shape; and operation ids are generated
from paths. :func:`openapi_document` completes it:

- each route's request body, the model ``json_body`` validates against (its JSON Schema);
- every status a route can give besides its success, with the problem+json schema: 401 and 403
  (with the roles allowed) everywhere, 422 where there is input, 404 where a record is named
  (a path parameter or a body), 409 where state changes, 413 and 415 where a body is read;
- stable operation ids, ``<service>.<route function>`` (or the id a route names itself);
- the servers, the contact, the bearer JWT and who may call each operation (``x-eps-roles``);
- the headers every answer carries (``X-Correlation-Id``; ``WWW-Authenticate`` with a 401), and
  the correlation id a caller may send.

:func:`check_routes` refuses, when a service is built, a route that would read its body before
knowing who calls (its role check must come first) or that takes a body some other way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from eps_chassis.http import PROBLEM_JSON, FieldError, Problem

_REF = "#/components/schemas/{model}"
_BEARER = {
    "bearerFormat": "JWT",
    "description": "A JWT (ES256 or RS256) from the local authority's identity provider, with"
    " the claims `sub` (who), `role` (or Entra-style `roles`), `la` (the local authority) and,"
    " for school staff, `school_urn`. Each operation names the roles it allows (`x-eps-roles`).",
}
_HEADERS = {
    "X-Correlation-Id": {
        "description": "The request's correlation id, carried by the events, audit rows and log"
        " lines it causes: the caller's when it is a UUID, else a new one (a caller's id in"
        " another form is echoed back and logged beside it).",
        "required": True,
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "`Bearer`: a bearer token is needed.",
        "required": True,
        "schema": {"type": "string", "const": "Bearer"},
    },
}
_CORRELATION_PARAMETER = {
    "name": "X-Correlation-Id",
    "in": "header",
    "required": False,
    "description": "The caller's correlation id (a UUID), echoed in the answer's header.",
    "schema": {"type": "string"},
}
_ERRORS = {
    401: "No valid bearer token (missing, expired, forged, or of an LA not served here).",
    403: "The caller's role, school or local authority may not do this.",
    404: "A record the request names does not exist (for the caller's local authority).",
    409: "The request does not fit the record's current state.",
    413: "The body is larger than the service accepts (EPS_HTTP_MAX_BODY_BYTES).",
    415: "The body is not JSON.",
    422: "An input breaks a rule: ``errors`` names each field and the rule.",
}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def body_of(route: APIRoute) -> tuple[type[Any], bool] | None:
    """The model ``json_body`` reads for this route, and whether a body is required."""
    for sub in _dependencies(route.dependant):
        model = getattr(sub.call, "body_model", None)
        if model is not None:
            return model, bool(getattr(sub.call, "body_required", True))
    return None


def roles_of(route: APIRoute) -> tuple[str, ...] | None:
    """The roles a route allows (``require_roles``), or None when it checks none."""
    for sub in _dependencies(route.dependant):
        roles = getattr(sub.call, "allowed_roles", None)
        if roles is not None:
            return tuple(str(r) for r in roles)
    return None


def check_routes(routes: Sequence[APIRoute]) -> None:
    """Refuse a route whose body would be read before its caller is known to be allowed."""
    for route in routes:
        where = f"{','.join(sorted(route.methods or ()))} {route.path}"
        if route.body_field is not None:
            raise TypeError(f"{where}: take the body with json_body(Model), not as a parameter")
        order = [
            "roles" if getattr(d.call, "allowed_roles", None) is not None else "body"
            for d in route.dependant.dependencies
            if getattr(d.call, "allowed_roles", None) is not None
            or getattr(d.call, "body_model", None) is not None
        ]
        if "body" in order and "roles" not in order:
            raise TypeError(f"{where}: a route that reads a body must check the caller's role")
        if "body" in order and order.index("body") < order.index("roles"):
            raise TypeError(f"{where}: list the role check before the body, so it comes first")


def openapi_document(app: FastAPI, service: str, routes: Sequence[APIRoute]) -> dict[str, Any]:
    """The service's OpenAPI document (see the module's docstring)."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=[{"url": "/", "description": "This service (see the README for its port)."}],
        contact={"name": "Educational Psychology Service platform"},
    )
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    components["headers"] = copy.deepcopy(_HEADERS)
    for scheme in components.get("securitySchemes", {}).values():
        if scheme.get("scheme") == "bearer":
            scheme.update(_BEARER)
    bodies = {model for route in routes if (found := body_of(route)) for model in [found[0]]}
    body_refs = _add_models(schemas, sorted(bodies, key=lambda m: m.__name__))
    _add_models(schemas, [Problem, FieldError])
    for route in routes:
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _complete(operation, route, method, service, body_refs)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _add_models(schemas: dict[str, Any], models: Sequence[type[Any]]) -> dict[type[Any], str]:
    """Add the validation schemas of ``models`` to the components; each model's reference. A
    name FastAPI already gave another schema (a response model's output form) gets ``-Input``."""
    if not models:
        return {}
    refs, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    defs: dict[str, Any] = definitions.get("$defs", {})
    # A schema that refers to a renamed one is renamed too, else the response's form of it
    # would be replaced by one referring to the input forms (and its own left unused).
    renamed: dict[str, str] = {}
    while True:
        found_defs = _with_refs_renamed(defs, renamed)
        taken = {n for n, s in found_defs.items() if schemas.get(n, s) != s} - set(renamed)
        if not taken:
            break
        renamed |= {name: f"{name}-Input" for name in taken}
    for name, schema in found_defs.items():
        schemas[renamed.get(name, name)] = schema
    found = {}
    for (model, _), ref in refs.items():
        name = ref["$ref"].rsplit("/", 1)[1]
        found[model] = _REF.format(model=renamed.get(name, name))
    return found


def _with_refs_renamed(defs: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(defs)
    for old, new in renamed.items():
        text = text.replace(json.dumps(_REF.format(model=old)), json.dumps(_REF.format(model=new)))
    found: dict[str, Any] = json.loads(text)
    return found


def _complete(
    operation: dict[str, Any],
    route: APIRoute,
    method: str,
    service: str,
    body_refs: dict[type[Any], str],
) -> None:
    operation["operationId"] = f"{service}.{route.operation_id or route.name}"
    body = body_of(route)
    roles = roles_of(route)
    if body is not None:
        model, required = body
        operation["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": body_refs[model]}}},
        }
    if roles is not None:
        operation["x-eps-roles"] = list(roles)
        who = f"Who may call: {', '.join(roles)}."
        described = operation.get("description")
        operation["description"] = f"{described}\n\n{who}" if described else who
    statuses = [401, 403] if roles is not None else []
    has_input = (
        body is not None
        or bool(route.dependant.path_params)
        or bool(route.dependant.query_params or route.dependant.header_params)
    )
    if body is not None or route.dependant.path_params:
        statuses.append(404)
    if method != "GET":
        statuses.append(409)
    if body is not None:
        statuses += [413, 415]
    if has_input:
        statuses.append(422)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's own shape: every refusal is a problem here
    for status in sorted(statuses):
        responses.setdefault(
            str(status),
            {
                "description": _ERRORS[status],
                "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}},
            },
        )
    operation.setdefault("parameters", []).append(copy.deepcopy(_CORRELATION_PARAMETER))
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Correlation-Id"] = {"$ref": "#/components/headers/X-Correlation-Id"}
        if code == "401":
            headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
