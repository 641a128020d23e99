"""HTTP entrypoints for finance officers and school business managers.

Finance (and admins) see every school of their local authority; a school business manager sees
only their own school. Every read and write is audited.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Any

from eps_chassis.access import audited_access
from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import DomainError, Forbidden, NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.common import SchoolUrn
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

from eps_billing.adapters.repository import AgreementRepository, DocumentRepository
from eps_billing.domain.cancellation import charge_id
from eps_billing.domain.commands import BuyServiceLevelAgreement, WaiveCancellationCharge
from eps_billing.domain.invoicing import pounds
from eps_billing.domain.pricing import hours
from eps_billing.service_layer import handlers

router = APIRouter(prefix="/billing", tags=["billing"])

FINANCE = require_roles(Role.FINANCE, Role.ADMIN)
URN = Path(pattern=r"^[0-9]{6,7}$", description="DfE unique reference number of the school.")
READERS = require_roles(Role.FINANCE, Role.ADMIN, Role.SCHOOL_BUSINESS_MANAGER)


class BuyAgreementRequest(ContractModel):
    """A school buys SLA days for an academic year."""

    school_urn: SchoolUrn
    academic_year: int = Field(ge=2000, le=2100, description="2025 for the year 2025/26.")
    days: int = Field(ge=1, le=366, description="Days bought (within the LA's SLA limits).")


def _may_see(principal: Principal, school_urn: str) -> bool:
    return not principal.is_school_staff or principal.school_urn == school_urn


@router.post("/agreements", status_code=201)
async def buy_agreement(
    body: BuyAgreementRequest = json_body(BuyAgreementRequest),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    command = BuyServiceLevelAgreement(body.school_urn, body.academic_year, body.days)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        agreement = await handlers.buy_service_level_agreement(command, uow)
        await record_access(
            uow.conn, principal, action="buy-sla", resource=f"agreement/{agreement.agreement_id}"
        )
    return {
        "agreement_id": str(agreement.agreement_id),
        "school_urn": agreement.school_urn,
        "valid_from": agreement.valid_from.isoformat(),
        "valid_to": agreement.valid_to.isoformat(),
        "minutes": agreement.minutes,
        "hours": hours(agreement.minutes),
    }


class WaiverRequest(ContractModel):
    """Finance waives an appointment's late-cancellation charge."""

    reason: str = Field(min_length=1, max_length=400, description="Why the charge is waived.")


@router.post("/cancellation-charges/{appointment_id}/waiver")
async def waive_cancellation_charge(
    appointment_id: uuid.UUID,
    body: WaiverRequest = json_body(WaiverRequest),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Waive the charge (404 when the appointment was not charged): it leaves the school's
    draft, or the next document credits it if it was invoiced. Waiving again changes nothing."""
    command = WaiveCancellationCharge(appointment_id, body.reason, runtime.clock())
    async with audited_access(
        runtime.uow, principal, action="waive-charge", resource=f"appointment/{appointment_id}"
    ) as access:
        school_urn = await handlers.waive_cancellation_charge(command, access.uow)
    return {
        "appointment_id": str(appointment_id),
        "charge_id": str(charge_id(appointment_id)),
        "school_urn": school_urn,
        "waived": True,
    }


async def _school_read(
    runtime: ServiceRuntime, principal: Principal, school_urn: str, action: str
) -> MessageContext:
    allowed = _may_see(principal, school_urn)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await record_access(
            uow.conn,
            principal,
            action=action,
            resource=f"school/{school_urn}",
            outcome="allowed" if allowed else "denied",
        )
    if not allowed:
        raise Forbidden("school staff may see only their own school's billing")
    return MessageContext.of(principal)


@router.get("/schools/{school_urn}/balance")
async def read_balance(
    school_urn: str = URN,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    context = await _school_read(runtime, principal, school_urn, "read-balance")
    async with runtime.uow(context) as uow:
        agreements = await AgreementRepository(uow.conn).views(principal.tenant, school_urn)
    return {
        "school_urn": school_urn,
        "agreements": [
            {
                **{k: _plain(v) for k, v in a.items() if k != "day_pence"},
                "remaining_minutes": a["minutes"] - a["drawn_minutes"],
                "remaining": hours(a["minutes"] - a["drawn_minutes"]),
            }
            for a in agreements
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value


def _document_json(view: dict[str, Any]) -> dict[str, Any]:
    out = {k: _plain(v) for k, v in view.items() if k != "lines"}
    out["total"] = pounds(view["total_pence"])
    if "lines" in view:
        out["lines"] = [
            {**{k: _plain(v) for k, v in line.items()}, "amount": pounds(line["pence"])}
            for line in view["lines"]
        ]
    return out


@router.get("/schools/{school_urn}/documents")
async def list_documents(
    school_urn: str = URN,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    context = await _school_read(runtime, principal, school_urn, "list-documents")
    async with runtime.uow(context) as uow:
        views = await DocumentRepository(uow.conn).list_for_school(principal.tenant, school_urn)
    return [_document_json(v) for v in views]


@router.get("/schools/{school_urn}/draft")
async def read_draft(
    school_urn: str = URN,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Priced time not yet on an issued document (the draft of the next invoice)."""
    context = await _school_read(runtime, principal, school_urn, "read-draft")
    async with runtime.uow(context) as uow:
        lines = await DocumentRepository(uow.conn).draft_lines(principal.tenant, school_urn)
    total = sum(line["pence"] for line in lines)
    return {
        "school_urn": school_urn,
        "total_pence": total,
        "total": pounds(total),
        "lines": [{k: _plain(v) for k, v in line.items() if k != "created_at"} for line in lines],
    }


@router.get("/documents/{document_id}")
async def read_document(
    document_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        view = await DocumentRepository(uow.conn).get(principal.tenant, document_id)
        outcome = "not_found" if view is None else "allowed"
        if view is not None and not _may_see(principal, view["school_urn"]):
            outcome = "denied"
        await record_access(
            uow.conn, principal, action="read", resource=f"document/{document_id}", outcome=outcome
        )
    if view is None:
        raise NotFound("no such invoice or credit note")
    if outcome == "denied":
        raise Forbidden("school staff may see only their own school's invoices")
    return _document_json(view)


EXPORT_COLUMNS = (
    "document_number",
    "document_type",
    "school_urn",
    "period_start",
    "period_end",
    "issued_on",
    "line_no",
    "delivery_id",
    "delivered_on",
    "description",
    "sla_minutes",
    "amount_pence",
    "amount_gbp",
    "adjustment",
)


@router.get("/exports/documents.csv")
async def export_documents(
    issued_from: date = Query(description="First issue date (inclusive)."),
    issued_to: date = Query(description="Last issue date (inclusive)."),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> Response:
    """Every line of every document issued in the dates, for the council's finance system.

    One row per line; amounts in pence and in pounds (exact, two decimals, credit notes
    negative); UTF-8, comma separated, a header row, ISO dates.
    """
    if issued_to < issued_from:
        raise DomainError("issued_to is before issued_from", field="issued_to")
    async with runtime.uow(MessageContext.of(principal)) as uow:
        rows = await DocumentRepository(uow.conn).export_rows(
            principal.tenant, issued_from, issued_to
        )
        await record_access(
            uow.conn,
            principal,
            action="export",
            resource=f"documents/{issued_from}..{issued_to}",
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        writer.writerow(
            (
                r["number"],
                r["kind"],
                r["school_urn"],
                r["period_start"].isoformat(),
                r["period_end"].isoformat(),
                r["issued_on"].isoformat(),
                r["line_no"],
                r["delivery_id"],
                r["delivered_on"].isoformat(),
                r["description"],
                r["sla_minutes"],
                r["pence"],
                pounds(r["pence"]),
                "yes" if r["adjustment"] else "no",
            )
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="billing-documents.csv"'},
    )
