"""HTTP entrypoints for finance officers and school business managers.

Finance (and admins) see every school of their local authority and keep its tariffs and SLAs; a
school business manager sees only their own school. Every read and write is audited.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from eps_chassis.access import audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.errors import DomainError, Forbidden, NotFound
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel, within_years
from eps_contracts.common import SchoolUrn
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AfterValidator, Field

from eps_billing import views
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
from eps_billing.domain.tariff import CriticalIncidentRule, Rounding, TariffStatus
from eps_billing.service_layer import handlers
from eps_billing.service_layer.unit_of_work import PostgresBillingUnitOfWork
from eps_billing.views import (
    AgreementView,
    BalanceView,
    ChargeWaived,
    DocumentSummary,
    DocumentView,
    DraftView,
    TariffView,
    TariffWithHistory,
    TariffWritten,
    UnpricedView,
)

router = APIRouter(prefix="/billing", tags=["billing"])

FINANCE = require_roles(Role.FINANCE, Role.ADMIN)
IssueDate = Annotated[date, AfterValidator(within_years)]
URN = Path(pattern=r"^[0-9]{6,7}$", description="DfE unique reference number of the school.")
READERS = require_roles(Role.FINANCE, Role.ADMIN, Role.SCHOOL_BUSINESS_MANAGER)

Runtime = ServiceRuntime[PostgresBillingUnitOfWork]


async def _agreement(uow: PostgresBillingUnitOfWork, agreement_id: uuid.UUID) -> AgreementView:
    found = await views.agreement(uow, agreement_id)
    if found is None:
        raise NotFound(f"no SLA {agreement_id}", field="agreement_id")
    return found


async def _tariff(uow: PostgresBillingUnitOfWork, tariff_id: uuid.UUID) -> TariffView:
    found = await views.tariff(uow, tariff_id)
    if found is None:
        raise NotFound(f"no tariff {tariff_id}", field="tariff_id")
    return found


# --- agreements -------------------------------------------------------------------------------


class BuyAgreementRequest(ContractModel):
    """A school buys SLA days for an academic year."""

    school_urn: SchoolUrn
    academic_year: int = Field(ge=2000, le=2100, description="2025 for the year 2025/26.")
    days: int = Field(ge=1, le=366, description="Days bought (within the LA's SLA limits).")


@router.post(
    "/agreements",
    status_code=201,
    response_model=AgreementView,
    responses={202: {"model": AgreementView, "description": "Bought, unpriced: see `reason`."}},
)
async def buy_agreement(
    response: Response,
    principal: Principal = FINANCE,
    body: BuyAgreementRequest = json_body(BuyAgreementRequest),
    runtime: Runtime = Depends(get_runtime),
) -> AgreementView:
    """Buy an SLA: 201 when priced now; 202 with ``status: unpriced`` and the reason when it
    waits for a confirmed tariff for the year or for scheduling to register the school (it
    gives no time until then). Days outside a confirmed tariff's limits: 422 naming ``days``."""
    command = BuyServiceLevelAgreement(
        body.school_urn, body.academic_year, body.days, bought_by=principal.actor
    )
    resource = f"school/{body.school_urn}/agreements/{year_label(body.academic_year)}"
    async with audited_access(
        runtime.uow, principal, action="buy-sla", resource=resource
    ) as access:
        record = await handlers.buy_service_level_agreement(command, access.uow)
        access.resource = f"agreement/{record.agreement_id}"
        bought = await _agreement(access.uow, record.agreement_id)
    if bought.status is AgreementStatus.UNPRICED:
        response.status_code = 202
    return bought


@router.get("/agreements/{agreement_id}", response_model=AgreementView)
async def read_agreement(
    agreement_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
) -> AgreementView:
    """An SLA with its status (and, while unpriced, why)."""
    async with audited_access(
        runtime.uow, principal, action="read-sla", resource=f"agreement/{agreement_id}"
    ) as access:
        found = await _agreement(access.uow, agreement_id)
        access.check_school(found.school_urn)
    return found


class ChangeDaysRequest(ContractModel):
    """Finance changes the days of a school's SLA."""

    days: int = Field(ge=1, le=366, description="The days the SLA holds from now on.")
    reason: str = Field(min_length=1, max_length=300, description="Why, for the school's record.")


@router.put("/agreements/{agreement_id}/days", response_model=AgreementView)
async def change_agreement_days(
    agreement_id: uuid.UUID,
    principal: Principal = FINANCE,
    body: ChangeDaysRequest = json_body(ChangeDaysRequest),
    runtime: Runtime = Depends(get_runtime),
) -> AgreementView:
    """New days, within the tariff's limits and never below the time already drawn (422 naming
    ``days``); the year's deliveries are re-priced and the change is announced."""
    command = ChangeAgreementDays(agreement_id, body.days, body.reason)
    async with audited_access(
        runtime.uow, principal, action="change-sla", resource=f"agreement/{agreement_id}"
    ) as access:
        await handlers.change_agreement_days(command, access.uow)
        return await _agreement(access.uow, agreement_id)


class CancelAgreementRequest(ContractModel):
    """Finance cancels a school's SLA."""

    reason: str = Field(min_length=1, max_length=300, description="Why it is cancelled.")


@router.post("/agreements/{agreement_id}/cancellation", response_model=AgreementView)
async def cancel_agreement(
    agreement_id: uuid.UUID,
    principal: Principal = FINANCE,
    body: CancelAgreementRequest = json_body(CancelAgreementRequest),
    runtime: Runtime = Depends(get_runtime),
) -> AgreementView:
    """Cancel the SLA: the time drawn on it is re-priced at spot (adjustments on the next
    documents) and the cancellation is announced. Cancelling again changes nothing."""
    command = CancelAgreement(agreement_id, body.reason, cancelled_by=principal.actor)
    async with audited_access(
        runtime.uow, principal, action="cancel-sla", resource=f"agreement/{agreement_id}"
    ) as access:
        await handlers.cancel_agreement(command, access.uow)
        return await _agreement(access.uow, agreement_id)


# --- tariffs ----------------------------------------------------------------------------------


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


@router.post("/tariffs", status_code=201, response_model=TariffWritten)
async def create_tariff(
    principal: Principal = FINANCE,
    body: NewTariffBody = json_body(NewTariffBody),
    runtime: Runtime = Depends(get_runtime),
) -> TariffWritten:
    """A tariff for a span of dates. Overlapping another of the authority's tariffs: 409
    naming ``effective_from`` or ``effective_to``; rules that do not hang together: 422 naming
    the field. Confirmed at once unless ``status`` is ``draft``; a confirmed one prices what
    was held unpriced on its dates (``priced_now``)."""
    command = CreateTariff(
        body.effective_from, body.effective_to, body.rules(), principal.actor, body.status
    )
    async with audited_access(
        runtime.uow, principal, action="create-tariff", resource="tariffs"
    ) as access:
        record, priced = await handlers.create_tariff(command, access.uow)
        access.resource = f"tariff/{record.tariff_id}"
        return TariffWritten.of(await _tariff(access.uow, record.tariff_id), priced)


@router.get("/tariffs", response_model=list[TariffView])
async def list_tariffs(
    status: TariffStatus | None = Query(None, description="Only drafts, or only confirmed."),
    principal: Principal = FINANCE,
    runtime: Runtime = Depends(get_runtime),
) -> list[TariffView]:
    """The authority's tariffs in date order."""
    async with audited_access(
        runtime.uow, principal, action="read-tariffs", resource="tariffs"
    ) as access:
        return await views.tariffs(access.uow, status)


@router.get("/tariffs/{tariff_id}", response_model=TariffWithHistory)
async def read_tariff(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    runtime: Runtime = Depends(get_runtime),
) -> TariffWithHistory:
    """One tariff, with its history: every version's rules, who did what, when."""
    async with audited_access(
        runtime.uow, principal, action="read-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        found = await views.tariff_with_history(access.uow, tariff_id)
        if found is None:
            raise NotFound(f"no tariff {tariff_id}", field="tariff_id")
        return found


@router.put("/tariffs/{tariff_id}", response_model=TariffWritten)
async def replace_tariff(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    body: TariffBody = json_body(TariffBody),
    runtime: Runtime = Depends(get_runtime),
) -> TariffWritten:
    """Replace a tariff's rules and dates (its status stays). A confirmed one re-prices what it
    priced (differences are ledger lines on the next documents); it may not give up days on
    which it priced anything (409 naming the date)."""
    command = ReplaceTariff(
        tariff_id, body.effective_from, body.effective_to, body.rules(), principal.actor
    )
    async with audited_access(
        runtime.uow, principal, action="replace-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        _, priced = await handlers.replace_tariff(command, access.uow)
        return TariffWritten.of(await _tariff(access.uow, tariff_id), priced)


@router.post("/tariffs/{tariff_id}/carry-forward", status_code=201, response_model=TariffView)
async def carry_tariff_forward(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    runtime: Runtime = Depends(get_runtime),
) -> TariffView:
    """The next year's tariff as a draft: the same rules, the dates moved on a year."""
    command = CarryTariffForward(tariff_id, principal.actor)
    async with audited_access(
        runtime.uow, principal, action="carry-forward-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        record = await handlers.carry_tariff_forward(command, access.uow)
        return await _tariff(access.uow, record.tariff_id)


@router.post("/tariffs/{tariff_id}/confirm", response_model=TariffWritten)
async def confirm_tariff(
    tariff_id: uuid.UUID,
    principal: Principal = FINANCE,
    runtime: Runtime = Depends(get_runtime),
) -> TariffWritten:
    """Put a draft in force: what was held unpriced on its dates is priced (``priced_now``)."""
    command = ConfirmTariff(tariff_id, principal.actor)
    async with audited_access(
        runtime.uow, principal, action="confirm-tariff", resource=f"tariff/{tariff_id}"
    ) as access:
        _, priced = await handlers.confirm_tariff(command, access.uow)
        return TariffWritten.of(await _tariff(access.uow, tariff_id), priced)


# --- what cannot be priced yet ----------------------------------------------------------------


@router.get("/unpriced", response_model=UnpricedView)
async def list_unpriced(
    school_urn: str | None = Query(
        None, pattern=r"^[0-9]{6,7}$", description="One school (school staff: their own)."
    ),
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
) -> UnpricedView:
    """Delivered time, late cancellations and SLAs held because they cannot be priced yet, with
    why; each is priced by itself once the tariff or the school arrives."""
    if principal.is_school_staff and school_urn is None:
        school_urn = principal.school_urn
    async with audited_access(
        runtime.uow, principal, action="read-unpriced", resource=f"unpriced/{school_urn or '*'}"
    ) as access:
        if principal.is_school_staff and school_urn is None:
            # check_school lets school staff with no school through where none is asked for,
            # which here would be every school's
            raise Forbidden("school staff may see only their own school's billing")
        access.check_school(school_urn)
        return await views.unpriced(access.uow, school_urn)


# --- late cancellations -----------------------------------------------------------------------


class WaiverRequest(ContractModel):
    """Finance waives an appointment's late-cancellation charge."""

    reason: str = Field(min_length=1, max_length=400, description="Why the charge is waived.")


@router.post("/cancellation-charges/{appointment_id}/waiver", response_model=ChargeWaived)
async def waive_cancellation_charge(
    appointment_id: uuid.UUID,
    principal: Principal = FINANCE,
    body: WaiverRequest = json_body(WaiverRequest),
    runtime: Runtime = Depends(get_runtime),
) -> ChargeWaived:
    """Waive the charge (404 when the appointment was not charged): it leaves the school's
    draft, or the next document credits it if it was invoiced. Waiving again changes nothing."""
    command = WaiveCancellationCharge(appointment_id, body.reason)
    async with audited_access(
        runtime.uow, principal, action="waive-charge", resource=f"appointment/{appointment_id}"
    ) as access:
        school_urn = await handlers.waive_cancellation_charge(command, access.uow)
    return ChargeWaived(
        appointment_id=appointment_id, charge_id=charge_id(appointment_id), school_urn=school_urn
    )


# --- a school's billing -----------------------------------------------------------------------


@router.get("/schools/{school_urn}/balance", response_model=BalanceView)
async def read_balance(
    school_urn: str = URN,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
) -> BalanceView:
    """The school's SLAs, year by year, and what is left of each."""
    async with audited_access(
        runtime.uow, principal, action="read-balance", resource=f"school/{school_urn}"
    ) as access:
        access.check_school(school_urn)
        return await views.balance(access.uow, school_urn)


@router.get("/schools/{school_urn}/documents", response_model=list[DocumentSummary])
async def list_documents(
    school_urn: str = URN,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
) -> list[DocumentSummary]:
    """The school's invoices and credit notes, in the order they were issued."""
    async with audited_access(
        runtime.uow, principal, action="list-documents", resource=f"school/{school_urn}"
    ) as access:
        access.check_school(school_urn)
        return await views.documents_of(access.uow, school_urn)


@router.get("/schools/{school_urn}/draft", response_model=DraftView)
async def read_draft(
    school_urn: str = URN,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
) -> DraftView:
    """Priced time not yet on an issued document (the draft of the next invoice)."""
    async with audited_access(
        runtime.uow, principal, action="read-draft", resource=f"school/{school_urn}"
    ) as access:
        access.check_school(school_urn)
        return await views.draft(access.uow, school_urn)


@router.get("/documents/{document_id}", response_model=DocumentView)
async def read_document(
    document_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
) -> DocumentView:
    """An invoice or credit note with its lines."""
    async with audited_access(
        runtime.uow, principal, action="read", resource=f"document/{document_id}"
    ) as access:
        found = await views.document(access.uow, document_id)
        if found is None:
            raise NotFound("no such invoice or credit note")
        access.check_school(found.school_urn)
        return found


@router.get(
    "/exports/documents.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per document line."}},
)
async def export_documents(
    issued_from: IssueDate = Query(description="First issue date (inclusive)."),
    issued_to: IssueDate = Query(description="Last issue date (inclusive)."),
    principal: Principal = FINANCE,
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """Every line of every document issued in the dates, for the council's finance system.

    One row per line; amounts in pence and in pounds (exact, two decimals, credit notes
    negative); UTF-8, comma separated, a header row, ISO dates.
    """
    if issued_to < issued_from:
        raise DomainError("issued_to is before issued_from", field="issued_to")
    async with audited_access(
        runtime.uow, principal, action="export", resource=f"documents/{issued_from}..{issued_to}"
    ) as access:
        text = await views.documents_csv(access.uow, issued_from, issued_to)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="billing-documents.csv"'},
    )
