"""HTTP entrypoints for finance officers and school business managers.

Finance (and admins) see every school of their local authority and keep its tariffs and SLAs; a
school business manager sees only their own school. Every read and write is audited.
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

from eps_billing.adapters.repository import (
    AgreementRecord,
    AgreementRepository,
    DocumentRepository,
    TariffRecord,
    TariffRepository,
    UnpricedRepository,
)
from eps_billing.domain.agreements import AgreementStatus, year_label
from eps_billing.domain.cancellation import charge_id
from eps_billing.domain.commands import (
    BuyServiceLevelAgreement,
    CancelAgreement,
    CarryTariffForward,
    ChangeAgreementDays,
    ConfirmTariff,
    CreateTariff,
    ReplaceTariff,
    WaiveCancellationCharge,
)
from eps_billing.domain.invoicing import pounds
from eps_billing.domain.pricing import hours
from eps_billing.domain.tariff import CriticalIncidentRule, Rounding, TariffStatus
from eps_billing.service_layer import handlers, tariffs

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
    response: Response,
    body: BuyAgreementRequest = json_body(BuyAgreementRequest),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Buy an SLA: 201 when priced now; 202 with ``status: unpriced`` and the reason when it
    waits for a confirmed tariff for the year or for scheduling to register the school (it
    gives no time until then). Days outside a confirmed tariff's limits: 422 naming ``days``."""
    command = BuyServiceLevelAgreement(body.school_urn, body.academic_year, body.days)
    resource = f"school/{body.school_urn}/agreements/{year_label(body.academic_year)}"
    async with audited_access(runtime.uow, principal, action="buy-sla", resource=resource) as a:
        agreement = await handlers.buy_service_level_agreement(command, a.uow)
        a.resource = f"agreement/{agreement.agreement_id}"
    if agreement.status is AgreementStatus.UNPRICED:
        response.status_code = 202
    return _agreement_json(agreement)


def _agreement_json(record: AgreementRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "agreement_id": str(record.agreement_id),
        "school_urn": record.school_urn,
        "academic_year": record.academic_year,
        "valid_from": record.valid_from.isoformat(),
        "valid_to": record.valid_to.isoformat(),
        "status": str(record.status),
        "days": record.days,
        "minutes": record.minutes,
        "hours": hours(record.minutes),
        "carried_minutes": record.carried_minutes,
        "drawn_minutes": record.drawn_minutes,
        "remaining_minutes": record.minutes - record.drawn_minutes,
        "day_minutes": record.day_minutes,
        "day_pence": record.day_pence,
        "bought_by": record.bought_by,
        "bought_at": _plain(record.bought_at),
        "priced_at": _plain(record.priced_at),
    }
    if record.hold is not None:
        view.update(
            reason_kind=str(record.hold.kind),
            reason=record.hold.reason,
            held_since=_plain(record.held_since),
        )
    if record.status is AgreementStatus.CANCELLED:
        view.update(
            cancelled_by=record.cancelled_by,
            cancelled_at=_plain(record.cancelled_at),
            cancel_reason=record.cancel_reason,
        )
    return view


@router.get("/agreements/{agreement_id}")
async def read_agreement(
    agreement_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """An SLA with its status (and, while unpriced, why)."""
    async with audited_access(
        runtime.uow, principal, action="read-sla", resource=f"agreement/{agreement_id}"
    ) as access:
        record = await AgreementRepository(access.uow.conn).get(principal.tenant, agreement_id)
        if record is None:
            raise NotFound(f"no SLA {agreement_id}", field="agreement_id")
        if not _may_see(principal, record.school_urn):
            raise Forbidden("school staff may see only their own school's billing")
    return _agreement_json(record)


class ChangeDaysRequest(ContractModel):
    """Finance changes the days of a school's SLA."""

    days: int = Field(ge=1, le=366, description="The days the SLA holds from now on.")
    reason: str = Field(min_length=1, max_length=300, description="Why, for the school's record.")


@router.put("/agreements/{agreement_id}/days")
async def change_agreement_days(
    agreement_id: uuid.UUID,
    body: ChangeDaysRequest = json_body(ChangeDaysRequest),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """New days, within the tariff's limits and never below the time already drawn (422 naming
    ``days``); the year's deliveries are re-priced and the change is announced."""
    command = ChangeAgreementDays(agreement_id, body.days, body.reason)
    async with audited_access(
        runtime.uow, principal, action="change-sla", resource=f"agreement/{agreement_id}"
    ) as access:
        record = await handlers.change_agreement_days(command, access.uow)
    return _agreement_json(record)


class CancelAgreementRequest(ContractModel):
    """Finance cancels a school's SLA."""

    reason: str = Field(min_length=1, max_length=300, description="Why it is cancelled.")


@router.post("/agreements/{agreement_id}/cancellation")
async def cancel_agreement(
    agreement_id: uuid.UUID,
    body: CancelAgreementRequest = json_body(CancelAgreementRequest),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Cancel the SLA: the time drawn on it is re-priced at spot (adjustments on the next
    documents) and the cancellation is announced. Cancelling again changes nothing."""
    command = CancelAgreement(agreement_id, body.reason)
    async with audited_access(
        runtime.uow, principal, action="cancel-sla", resource=f"agreement/{agreement_id}"
    ) as access:
        record = await handlers.cancel_agreement(command, access.uow)
    return _agreement_json(record)


# --- tariffs --------------------------------------------------------------------------------


class SpotUnitBody(ContractModel):
    name: str = Field(min_length=1, max_length=40, description="e.g. 'hour', 'half day'.")
    minutes: int = Field(gt=0, le=24 * 60, description="Length of the unit.")
    pence: int = Field(ge=0, le=10_000_000, description="Price of the unit, in pence.")


class SpotRoundingBody(ContractModel):
    increment_minutes: int = Field(1, gt=0, le=24 * 60, description="Spot time is rounded to it.")
    mode: Rounding = Field(Rounding.UP, description="'up', 'down' or 'nearest' (halves up).")


class SlaBody(ContractModel):
    day_minutes: int = Field(gt=0, le=24 * 60, description="Length of an SLA day.")
    day_pence: int = Field(ge=0, le=10_000_000, description="Price of an SLA day, in pence.")
    min_days: int = Field(ge=1, le=366, description="Fewest days a school may buy in a year.")
    max_days: int = Field(ge=1, le=366, description="Most days a school may buy in a year.")
    carry_over: bool = Field(description="Unused time moves into the next year's SLA.")


class TariffBody(ContractModel):
    """One authority's rules for a span of dates (see ``domain/tariff.py``)."""

    effective_from: date = Field(description="First day the tariff prices.")
    effective_to: date = Field(description="Last day the tariff prices.")
    spot_units: list[SpotUnitBody] = Field(min_length=1, max_length=20)
    spot_rounding: SpotRoundingBody = Field(default_factory=SpotRoundingBody)
    sla: SlaBody
    critical_incident: CriticalIncidentRule = Field(
        description="'free' (the LA funds it) or 'traded' (charged like traded time)."
    )
    cancellation_full_charge_days: int = Field(
        ge=0, le=365, description="Cancelled with less notice (calendar days): charged in full."
    )
    billing_period_months: int = Field(
        ge=1, le=12, description="Months per invoice: 1, 2, 3, 4, 6 or 12."
    )
    billing_year_starts_month: int = Field(
        4, ge=1, le=12, description="Periods are counted from this month (4: April)."
    )
    grace_days: int = Field(ge=0, le=90, description="Days a closed period still takes events.")

    def rules(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"effective_from", "effective_to", "status"})


class NewTariffBody(TariffBody):
    status: TariffStatus = Field(
        TariffStatus.CONFIRMED,
        description="'confirmed' (in force at once; the default) or 'draft' (prices nothing"
        " until confirmed).",
    )


def _tariff_json(
    record: TariffRecord,
    *,
    history: list[dict[str, Any]] | None = None,
    priced: tariffs.PricedNow | None = None,
) -> dict[str, Any]:
    tariff = record.tariff
    view: dict[str, Any] = {
        "tariff_id": str(record.tariff_id),
        "tenant": tariff.tenant,
        "status": str(record.status),
        "revision": record.revision,
        "effective_from": tariff.effective_from.isoformat(),
        "effective_to": tariff.effective_to.isoformat(),
        **tariff.rules(),
        "created_by": record.created_by,
        "created_at": _plain(record.created_at),
        "confirmed_by": record.confirmed_by,
        "confirmed_at": _plain(record.confirmed_at),
        "carried_forward_from": _plain(record.carried_forward_from),
    }
    if history is not None:
        view["history"] = [{k: _plain(v) for k, v in h.items()} for h in history]
    if priced is not None:
        view["priced_now"] = {
            "deliveries": priced.deliveries,
            "late_cancellations": priced.late_cancellations,
            "agreements": priced.agreements,
        }
    return view


@router.post("/tariffs", status_code=201)
async def create_tariff(
    body: NewTariffBody = json_body(NewTariffBody),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """A tariff for a span of dates. Overlapping another of the authority's tariffs: 409
    naming ``effective_from`` or ``effective_to``; rules that do not hang together: 422 naming
    the field. Confirmed at once unless ``status`` is ``draft``; a confirmed one prices what
    was held unpriced on its dates (``priced_now``)."""
    command = CreateTariff(body.effective_from, body.effective_to, body.rules(), body.status)
    async with audited_access(
        runtime.uow, principal, action="create-tariff", resource="tariffs"
    ) as access:
        record, priced = await tariffs.create_tariff(command, access.uow)
        access.resource = f"tariff/{record.tariff_id}"
    return _tariff_json(record, priced=priced)


@router.get("/tariffs")
async def list_tariffs(
    status: TariffStatus | None = Query(None, description="Only drafts, or only confirmed."),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    """The authority's tariffs in date order."""
    async with audited_access(
        runtime.uow, principal, action="read-tariffs", resource="tariffs"
    ) as access:
        records = await TariffRepository(access.uow.conn).records(principal.tenant)
    return [_tariff_json(r) for r in records if status is None or r.status is status]


@router.get("/tariffs/{tariff_id}")
async def read_tariff(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """One tariff, with its history: every version's rules, who did what, when."""
    async with audited_access(
        runtime.uow, principal, action="read-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        repository = TariffRepository(access.uow.conn)
        record = await repository.get(principal.tenant, tariff_id)
        if record is None:
            raise NotFound(f"no tariff {tariff_id}", field="tariff_id")
        history = await repository.history(principal.tenant, tariff_id)
    return _tariff_json(record, history=history)


@router.put("/tariffs/{tariff_id}")
async def replace_tariff(
    tariff_id: uuid.UUID,
    body: TariffBody = json_body(TariffBody),
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Replace a tariff's rules and dates (its status stays). A confirmed one re-prices what it
    priced (differences are ledger lines on the next documents); it may not give up days on
    which it priced anything (409 naming the date)."""
    command = ReplaceTariff(tariff_id, body.effective_from, body.effective_to, body.rules())
    async with audited_access(
        runtime.uow, principal, action="replace-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        record, priced = await tariffs.replace_tariff(command, access.uow)
    return _tariff_json(record, priced=priced)


@router.post("/tariffs/{tariff_id}/carry-forward", status_code=201)
async def carry_tariff_forward(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """The next year's tariff as a draft: the same rules, the dates moved on a year."""
    async with audited_access(
        runtime.uow, principal, action="carry-forward-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        record = await tariffs.carry_tariff_forward(CarryTariffForward(tariff_id), access.uow)
    return _tariff_json(record)


@router.post("/tariffs/{tariff_id}/confirm")
async def confirm_tariff(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Put a draft in force: what was held unpriced on its dates is priced (``priced_now``)."""
    async with audited_access(
        runtime.uow, principal, action="confirm-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        record, priced = await tariffs.confirm_tariff(ConfirmTariff(tariff_id), access.uow)
    return _tariff_json(record, priced=priced)


# --- what cannot be priced yet ----------------------------------------------------------------


@router.get("/unpriced")
async def list_unpriced(
    school_urn: str | None = Query(
        None, pattern=r"^[0-9]{6,7}$", description="One school (school staff: their own)."
    ),
    principal: Principal = READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Delivered time, late cancellations and SLAs held because they cannot be priced yet, with
    why; each is priced by itself once the tariff or the school arrives."""
    if principal.is_school_staff and school_urn is None:
        school_urn = principal.school_urn
    async with audited_access(
        runtime.uow, principal, action="read-unpriced", resource=f"unpriced/{school_urn or '*'}"
    ) as access:
        if principal.is_school_staff and (school_urn is None or school_urn != principal.school_urn):
            raise Forbidden("school staff may see only their own school's billing")
        items = await UnpricedRepository(access.uow.conn).items(principal.tenant, school_urn)
    return {
        "school_urn": school_urn,
        "count": len(items),
        "items": [{k: _plain(v) for k, v in item.items()} for item in items],
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
