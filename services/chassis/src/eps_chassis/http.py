"""HTTP helpers shared by every service's API."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from eps_chassis.errors import Conflict, DomainError, Forbidden, NotFound

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> Any:
    """A request body validated as JSON against a strict contract model.

    FastAPI validates bodies in Python mode, where strict models refuse the JSON forms of dates,
    UUIDs and enums; validating the raw JSON keeps the contracts strict and the answer the
    usual 422 naming each field (``loc`` starts with ``body``) and the rule it broke.
    """

    async def parse(request: Request) -> M:
        raw = await request.body()
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            errors = [
                {**{k: v for k, v in e.items() if k != "url"}, "loc": ("body", *e["loc"])}
                for e in exc.errors()
            ]
            raise RequestValidationError(errors) from exc

    return Depends(parse)


_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (DomainError, 422),
)


def status_for(error: DomainError) -> int:
    """The HTTP answer to a refusal: not found 404, forbidden 403, a conflict with the record's
    state 409, any other rule 422."""
    return next(status for kind, status in _STATUS if isinstance(error, kind))
