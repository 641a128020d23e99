"""What the privacy service shows over HTTP: its subject access requests, legal holds and the
erasure report, read straight from its tables; and the subject access bundle, every service's
answer about the child assembled, as JSON and as a page a person reads (Jinja2)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path

from eps_chassis.subject_access import HeldRecord, SubjectAccessAnswer, held_rows
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from eps_privacy.service_layer.unit_of_work import PostgresPrivacyUnitOfWork

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
# the columns of a record a person reviews for third parties' data (``column`` or ``column.path``)
TEMPLATES.filters["reviewed"] = lambda record: {path.split(".")[0] for path in record.third_party}


class SubjectAccessRequestView(BaseModel):
    request_id: uuid.UUID
    child_id: uuid.UUID
    requester: str = Field(description="Who asked (the child, a parent, their representative).")
    received_on: date
    due_on: date = Field(description="One calendar month from receipt, plus any extension.")
    extension_months: int
    extension_reason: str | None
    status: str
    opened_by: str
    answered_on: date | None


class LegalHoldView(BaseModel):
    hold_id: uuid.UUID
    child_id: uuid.UUID
    reason: str
    placed_by: str
    held_from: date
    placed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None


class ErasureView(BaseModel):
    erasure_id: uuid.UUID
    child_id: uuid.UUID
    rule: str = Field(description="Why: the retention schedule ended, or a request to erase.")
    record_type: str
    due_on: date = Field(description="The day the rule said the records' time had come.")
    ordered_at: datetime
    ordered_by: str | None = Field(description="Who ordered it (the retention job: the service).")
    reason: str | None
    awaiting: list[str] = Field(description="The services that must confirm.")
    confirmed: dict[str, int] = Field(description="Each service that confirmed: rows erased.")
    completed_at: datetime | None
    key_shredded: bool


class Unanswered(BaseModel):
    service: str
    reason: str = Field(description="Why it did not answer (unreachable, or its refusal).")


class Bundle(BaseModel):
    """Everything the EPS holds about one child, for a subject access request."""

    request: SubjectAccessRequestView
    assembled_at: datetime
    complete: bool = Field(
        description="Every service answered. An incomplete bundle names those that did not,"
        " and cannot be given as the answer (ask again)."
    )
    unanswered: list[Unanswered] = Field(description="The services that did not answer.")
    answers: list[SubjectAccessAnswer] = Field(description="One per service that answered.")
    records: int = Field(description="How many records in all.")
    to_review: int = Field(
        description="Records holding third parties' data: a person reviews them for redaction"
        " before the bundle is disclosed."
    )


async def request(
    uow: PostgresPrivacyUnitOfWork, request_id: uuid.UUID
) -> SubjectAccessRequestView | None:
    row = await uow.records.request(request_id)
    return SubjectAccessRequestView(**dict(row)) if row is not None else None


async def legal_holds(uow: PostgresPrivacyUnitOfWork, child_id: uuid.UUID) -> list[LegalHoldView]:
    rows = await uow.conn.fetch(
        "SELECT * FROM legal_holds WHERE tenant = $1 AND child_id = $2 ORDER BY placed_at",
        uow.tenant,
        child_id,
    )
    return [LegalHoldView(**dict(r)) for r in rows]


async def legal_hold(uow: PostgresPrivacyUnitOfWork, hold_id: uuid.UUID) -> LegalHoldView | None:
    row = await uow.records.hold(hold_id)
    return LegalHoldView(**dict(row)) if row is not None else None


async def erasures(uow: PostgresPrivacyUnitOfWork, since: date | None) -> list[ErasureView]:
    """What was erased (or is being), when, and under which rule."""
    rows = await uow.conn.fetch(
        "SELECT e.*, COALESCE((SELECT jsonb_object_agg(c.service, c.rows)::text"
        " FROM erasure_confirmations c WHERE c.erasure_id = e.erasure_id), '{}') AS confirmed"
        " FROM erasures e WHERE e.tenant = $1 AND ($2::date IS NULL OR e.due_on >= $2)"
        " ORDER BY e.ordered_at",
        uow.tenant,
        since,
    )
    return [
        ErasureView.model_validate({**dict(r), "confirmed": _json(r["confirmed"])}) for r in rows
    ]


def _json(text: str) -> dict[str, int]:
    loaded: dict[str, int] = json.loads(text)
    return loaded


async def held_about_child(uow: PostgresPrivacyUnitOfWork, child_id: uuid.UUID) -> list[HeldRecord]:
    """What privacy itself holds about the child: their date of birth, their subject access
    requests, legal holds and erasures."""
    args = (uow.tenant, child_id)
    where = "WHERE tenant = $1 AND child_id = $2"
    found = await held_rows(uow, "child", f"SELECT * FROM children {where}", *args, key="child_id")
    found += await held_rows(
        uow, "subject access request", f"SELECT * FROM subject_access_requests {where}", *args,
        key="request_id", third_party=("requester", "opened_by"),
    )  # fmt: skip
    found += await held_rows(
        uow, "legal hold", f"SELECT * FROM legal_holds {where}", *args,
        key="hold_id", third_party=("reason", "placed_by", "lifted_by", "lift_reason"),
    )  # fmt: skip
    found += await held_rows(
        uow, "erasure", f"SELECT * FROM erasures {where}", *args, key="erasure_id"
    )
    return found


def bundle_html(bundle: Bundle) -> str:
    return TEMPLATES.get_template("bundle.html").render(bundle=bundle)
