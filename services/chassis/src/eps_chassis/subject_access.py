"""What a service holds about one child, in one shape everywhere: for a subject access request,
for erasure when the child's retention ends, and for rectification of the child's details.

A service that keeps children's records declares them once (:class:`ChildRecords`, in its
``views.py``: ``held`` lists them, ``erase`` erases or anonymises them, ``rectify`` corrects the
child's details where it keeps them) and names it in its definition (``child_records=``). Then:

- every service serves ``GET /<service>/subject-access/children/{child_id}`` (the LA's
  data-protection officer and the principal EP; audited as ``child/<id>``): its records of the
  child, each with the fields a person must review for third parties' data before disclosure,
  and the audit of who looked at them (every audit row naming one of those records, or the
  child). A service that keeps no children's records answers with none, saying so;
- a service with children's records consumes ``eps.privacy.child-records.v1``: an erasure order
  erases them and is confirmed on ``eps.privacy.erasure-confirmations.v1`` (how many rows), a
  rectification applies the corrected details; each in the transaction of the event's inbox
  entry, so it happens once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eps_contracts import Envelope
from eps_contracts.privacy import (
    CHILD_RECORDS,
    ChildDetailsRectified,
    ChildErasureConfirmed,
    ChildErasureOrdered,
    RectifiedDetails,
)
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from eps_chassis.access import audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.consumer import EventConsumer
from eps_chassis.http import Purpose
from eps_chassis.unit_of_work import PostgresUnitOfWork

if TYPE_CHECKING:
    from eps_chassis.service import ServiceRuntime

SUBJECT_ACCESS_READERS = (Role.DATA_PROTECTION, Role.PRINCIPAL_EP)
CHILD_RECORDS_CONSUMER = "child-records"
SUBJECT_ACCESS_TAG = {
    "name": "subject access",
    "description": "Everything this service holds about one child, in the shape every service"
    " answers in, with the audit of who looked at it (for a subject access request).",
}


class HeldRecord(BaseModel):
    """One record a service holds about the child, as it is stored."""

    kind: str = Field(description="What it is: referral, consent case, appointment, advice...")
    record_id: str
    resource: str = Field(description="How the audit log names it (e.g. referral/<id>).")
    data: dict[str, Any] = Field(description="The record as held (its columns).")
    third_party: list[str] = Field(
        default_factory=list,
        description="Fields holding other people's data (names, staff notes): a person reviews"
        " them for redaction before the bundle is disclosed.",
    )


class AuditEntry(BaseModel):
    """Someone's access to the child's records (or a refusal of it)."""

    at: datetime
    actor: str
    role: str | None
    action: str
    resource: str
    purpose: str | None
    outcome: str
    reason: str | None


class SubjectAccessAnswer(BaseModel):
    """Everything one service holds about one child."""

    service: str
    child_id: uuid.UUID
    holds_children_records: bool = Field(
        description="False: this service keeps no record about a child (it answers with none)."
    )
    records: list[HeldRecord]
    audit: list[AuditEntry] = Field(description="Who looked at these records, oldest first.")


Held = Callable[[Any, uuid.UUID], Awaitable[list[HeldRecord]]]
Erase = Callable[[Any, uuid.UUID], Awaitable[int]]
Rectify = Callable[[Any, uuid.UUID, RectifiedDetails], Awaitable[int]]


@dataclass(frozen=True)
class ChildRecords:
    """A service's records about children: each function takes its unit of work (one LA)."""

    held: Held
    erase: Erase
    rectify: Rectify | None = None
    """None: the service keeps none of the child's details (names, date of birth)."""


async def held_rows(
    uow: PostgresUnitOfWork,
    kind: str,
    query: str,
    *args: Any,
    key: str,
    audited_as: tuple[str, str] | None = None,
    third_party: Sequence[str] = (),
    json_columns: Sequence[str] = (),
) -> list[HeldRecord]:
    """Each row ``query`` finds as a held record of ``kind``: ``key`` is its id column, it is
    audited as ``<kind>/<id>`` (or ``audited_as``: a kind and the column naming the record the
    audit log names, e.g. a history entry's referral); ``third_party`` names the columns (or
    ``column.path`` inside a JSON one) a person reviews for other people's data."""
    found = []
    for row in await uow.conn.fetch(query, *args):
        data = dict(row)
        for column in json_columns:
            if isinstance(data.get(column), str):
                data[column] = json.loads(data[column])
        record_id = str(data[key])
        audited_kind, audited_key = audited_as or (kind, key)
        found.append(
            HeldRecord(
                kind=kind,
                record_id=record_id,
                resource=f"{audited_kind}/{data[audited_key]}",
                data=data,
                third_party=list(third_party),
            )
        )
    return found


async def changed(uow: PostgresUnitOfWork, statement: str, *args: Any) -> int:
    """Run an erasing or correcting ``statement``: how many rows it changed or removed."""
    status: str = await uow.conn.execute(statement, *args)
    return int(status.split()[-1])


def child_resource(child_id: uuid.UUID) -> str:
    return f"child/{child_id}"


async def audit_about(uow: PostgresUnitOfWork, resources: list[str]) -> list[AuditEntry]:
    """The LA's audit rows naming any of ``resources`` (a record, or a record's sub-resource
    such as ``incident/<id>/notifications``), oldest first."""
    rows = await uow.conn.fetch(
        "SELECT at, actor, role, action, resource, purpose, outcome, reason FROM audit_log"
        " WHERE tenant = $1 AND (resource = ANY($2::text[]) OR resource LIKE ANY($3::text[]))"
        " ORDER BY at, id",
        uow.tenant,
        resources,
        [_like_prefix(r) + "/%" for r in resources],
    )
    return [AuditEntry(**dict(r)) for r in rows]


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def subject_access_router(service: str, records: ChildRecords | None) -> APIRouter:
    """``GET /<service>/subject-access/children/{child_id}``, mounted on every service."""
    router = APIRouter(prefix=f"/{service}/subject-access", tags=[SUBJECT_ACCESS_TAG["name"]])
    readers = require_roles(*SUBJECT_ACCESS_READERS)

    def _runtime(request: Request) -> ServiceRuntime[Any]:
        runtime: ServiceRuntime[Any] = request.app.state.runtime
        return runtime

    @router.get("/children/{child_id}", response_model=SubjectAccessAnswer)
    async def subject_access(
        child_id: uuid.UUID,
        principal: Principal = readers,
        runtime: ServiceRuntime[Any] = Depends(_runtime),
        x_purpose: Purpose = None,
    ) -> SubjectAccessAnswer:
        """Everything this service holds about the child, with the audit of who looked at it
        (for a subject access request; the privacy service assembles every service's)."""
        async with audited_access(
            runtime.uow,
            principal,
            action="subject-access",
            resource=child_resource(child_id),
            purpose=x_purpose,
        ) as access:
            held = await records.held(access.uow, child_id) if records is not None else []
            resources = [child_resource(child_id), *(r.resource for r in held)]
            return SubjectAccessAnswer(
                service=service,
                child_id=child_id,
                holds_children_records=records is not None,
                records=held,
                audit=await audit_about(access.uow, resources),
            )

    return router


def service_of(uow: PostgresUnitOfWork) -> str:
    return uow.source.rsplit("/", 1)[-1]  # the source is /eps/<service>


def child_records_consumer(records: ChildRecords) -> EventConsumer:
    """The consumer of erasure and rectification orders for a service's children's records."""
    consumer = EventConsumer(
        name=CHILD_RECORDS_CONSUMER,
        topics=[CHILD_RECORDS],
        batch_size=50,
        description="Orders about one child's records: erase them (and confirm), rectify them.",
    )

    @consumer.on(ChildErasureOrdered)
    async def on_erasure(event: Envelope[ChildErasureOrdered], uow: Any) -> None:
        order = event.data
        rows = await records.erase(uow, order.child_id)
        uow.publish(
            ChildErasureConfirmed(
                erasure_id=order.erasure_id,
                child_id=order.child_id,
                service=service_of(uow),
                rows=rows,
                at=uow.clock(),
            )
        )

    if records.rectify is not None:
        rectify = records.rectify

        @consumer.on(ChildDetailsRectified)
        async def on_rectified(event: Envelope[ChildDetailsRectified], uow: Any) -> None:
            details: RectifiedDetails | None = await uow.sealer.open_field(event, "details")
            if details is not None:  # None: the child was erased since, nothing to correct
                await rectify(uow, event.data.child_id, details)

    return consumer
