"""What the billing service shows over HTTP: read straight from its tables, as response models
(so the OpenAPI document describes what comes back). Amounts are integer pence, with exact
pounds beside them where a person reads them; instants are ISO 8601 with their offset."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer

from eps_billing.domain.agreements import AgreementStatus
from eps_billing.domain.invoicing import pounds
from eps_billing.domain.pricing import hours
from eps_billing.domain.tariff import Tariff, TariffStatus
from eps_billing.service_layer.repricing import PricedNow
from eps_billing.service_layer.unit_of_work import PostgresBillingUnitOfWork

Instant = Annotated[
    datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")
]
"""An instant as ``isoformat`` writes it (``+00:00``, never ``Z``), as this API always has."""


# --- agreements -------------------------------------------------------------------------------


class AgreementView(BaseModel):
    """A school's SLA for an academic year, with its status and (while unpriced) why."""

    agreement_id: uuid.UUID
    school_urn: str
    academic_year: int = Field(description="2025 for the year 2025/26.")
    valid_from: date
    valid_to: date
    status: AgreementStatus = Field(description="unpriced, priced or cancelled.")
    days: int
    minutes: int = Field(description="Bookable: the days at the tariff's day, plus carry-over.")
    hours: str
    carried_minutes: int = Field(description="Of the minutes, carried over from the year before.")
    drawn_minutes: int
    remaining_minutes: int
    day_minutes: int | None
    day_pence: int | None
    bought_by: str | None
    bought_at: Instant | None
    priced_at: Instant | None
    reason_kind: str | None = Field(
        None, description="While unpriced: no_tariff, unknown_school or days_outside_limits."
    )
    reason: str | None = Field(None, description="While unpriced: why, in words.")
    held_since: Instant | None = None
    cancelled_by: str | None = None
    cancelled_at: Instant | None = None
    cancel_reason: str | None = None


async def agreement(
    uow: PostgresBillingUnitOfWork, agreement_id: uuid.UUID
) -> AgreementView | None:
    row = await uow.conn.fetchrow(
        "SELECT agreement_id, school_urn, valid_from, valid_to, status, days, minutes,"
        " carried_minutes, drawn_minutes, day_minutes, day_pence, bought_by, bought_at,"
        " priced_at, held_kind AS reason_kind, held_reason AS reason, held_since, cancelled_by,"
        " cancelled_at, cancel_reason FROM agreements WHERE tenant = $1 AND agreement_id = $2",
        uow.tenant,
        agreement_id,
    )
    if row is None:
        return None
    return AgreementView(
        **row,
        academic_year=row["valid_from"].year,
        hours=hours(row["minutes"]),
        remaining_minutes=row["minutes"] - row["drawn_minutes"],
    )


class BalanceAgreement(BaseModel):
    agreement_id: uuid.UUID
    valid_from: date
    valid_to: date
    status: AgreementStatus
    days: int
    minutes: int
    carried_minutes: int
    drawn_minutes: int
    reason_kind: str | None
    reason: str | None
    remaining_minutes: int
    remaining: str = Field(description="The remaining minutes in hours, e.g. 12h30.")


class BalanceView(BaseModel):
    """A school's SLAs, year by year, and what is left of each."""

    school_urn: str
    agreements: list[BalanceAgreement]


async def balance(uow: PostgresBillingUnitOfWork, school_urn: str) -> BalanceView:
    rows = await uow.conn.fetch(
        "SELECT agreement_id, valid_from, valid_to, status, days, minutes, carried_minutes,"
        " drawn_minutes, held_kind AS reason_kind, held_reason AS reason"
        " FROM agreements WHERE tenant = $1 AND school_urn = $2"
        " ORDER BY valid_from, created_at",
        uow.tenant,
        school_urn,
    )
    return BalanceView(
        school_urn=school_urn,
        agreements=[
            BalanceAgreement(
                **r,
                remaining_minutes=r["minutes"] - r["drawn_minutes"],
                remaining=hours(r["minutes"] - r["drawn_minutes"]),
            )
            for r in rows
        ],
    )


# --- tariffs ----------------------------------------------------------------------------------


class SpotUnitView(BaseModel):
    name: str
    minutes: int
    pence: int


class SpotRoundingView(BaseModel):
    increment_minutes: int
    mode: str


class SlaView(BaseModel):
    day_minutes: int
    day_pence: int
    min_days: int
    max_days: int
    carry_over: bool


class TariffView(BaseModel):
    """One authority's rules for a span of dates, whether in force, and who did what when."""

    tariff_id: uuid.UUID
    tenant: str
    status: TariffStatus = Field(description="draft (prices nothing) or confirmed (in force).")
    revision: int
    effective_from: date
    effective_to: date
    spot_units: list[SpotUnitView]
    spot_rounding: SpotRoundingView
    sla: SlaView
    critical_incident: str
    cancellation_full_charge_days: int
    billing_period_months: int
    billing_year_starts_month: int
    grace_days: int
    created_by: str
    created_at: Instant
    confirmed_by: str | None
    confirmed_at: Instant | None
    carried_forward_from: uuid.UUID | None


class PricedNowView(BaseModel):
    """What was held for want of a tariff and is priced now."""

    deliveries: int
    late_cancellations: int
    agreements: int


class TariffWritten(TariffView):
    """A tariff as written, with what it priced that had waited for it."""

    priced_now: PricedNowView

    @classmethod
    def of(cls, tariff: TariffView, priced: PricedNow) -> TariffWritten:
        return cls(
            **tariff.model_dump(),
            priced_now=PricedNowView(
                deliveries=priced.deliveries,
                late_cancellations=priced.late_cancellations,
                agreements=priced.agreements,
            ),
        )


class TariffVersion(BaseModel):
    action: str = Field(description="created, carried-forward, replaced or confirmed.")
    revision: int
    status: str
    effective_from: date
    effective_to: date
    rules: dict[str, Any]
    actor: str
    at: Instant


class TariffWithHistory(TariffView):
    history: list[TariffVersion]


_TARIFF = "SELECT * FROM tariffs WHERE tenant = $1"


async def tariffs(
    uow: PostgresBillingUnitOfWork, status: TariffStatus | None = None
) -> list[TariffView]:
    """The authority's tariffs in date order (only drafts, or only confirmed)."""
    rows = await uow.conn.fetch(
        _TARIFF + " AND ($2::text IS NULL OR status = $2) ORDER BY effective_from",
        uow.tenant,
        str(status) if status is not None else None,
    )
    return [_tariff(r) for r in rows]


async def tariff(uow: PostgresBillingUnitOfWork, tariff_id: uuid.UUID) -> TariffView | None:
    row = await uow.conn.fetchrow(_TARIFF + " AND tariff_id = $2", uow.tenant, tariff_id)
    return _tariff(row) if row is not None else None


async def tariff_with_history(
    uow: PostgresBillingUnitOfWork, tariff_id: uuid.UUID
) -> TariffWithHistory | None:
    """One tariff, with every version's rules and who did what, when."""
    found = await tariff(uow, tariff_id)
    if found is None:
        return None
    rows = await uow.conn.fetch(
        "SELECT action, revision, status, effective_from, effective_to, rules, actor, at"
        " FROM tariff_history WHERE tenant = $1 AND tariff_id = $2 ORDER BY history_id",
        uow.tenant,
        tariff_id,
    )
    history = [TariffVersion(**{**r, "rules": json.loads(r["rules"])}) for r in rows]
    return TariffWithHistory(**found.model_dump(), history=history)


def _tariff(r: Any) -> TariffView:
    # every rule given, defaults filled in, as the domain reads the stored document
    rules = Tariff.from_rules(
        r["tenant"], r["effective_from"], r["effective_to"], json.loads(r["rules"])
    ).rules()
    return TariffView(
        tariff_id=r["tariff_id"],
        tenant=r["tenant"],
        status=r["status"],
        revision=r["revision"],
        effective_from=r["effective_from"],
        effective_to=r["effective_to"],
        **rules,
        created_by=r["created_by"],
        created_at=r["created_at"],
        confirmed_by=r["confirmed_by"],
        confirmed_at=r["confirmed_at"],
        carried_forward_from=r["carried_forward_from"],
    )


# --- what cannot be priced yet ----------------------------------------------------------------


class UnpricedItem(BaseModel):
    item: str = Field(description="delivery, late_cancellation or agreement.")
    id: uuid.UUID = Field(description="The delivery, appointment or agreement.")
    school_urn: str
    dated: date
    minutes: int | None
    days: int | None
    funding_stream: str | None
    reason_kind: str | None = Field(description="no_tariff, unknown_school or days_outside_limits.")
    reason: str | None
    since: Instant | None


class UnpricedView(BaseModel):
    """What is held because it cannot be priced yet, with why and since when."""

    school_urn: str | None
    count: int
    items: list[UnpricedItem]


async def unpriced(uow: PostgresBillingUnitOfWork, school_urn: str | None) -> UnpricedView:
    rows = await uow.conn.fetch(
        "SELECT 'delivery' AS item, delivery_id AS id, school_urn, delivered_on AS dated,"
        " minutes, NULL::int AS days, funding_stream, 'no_tariff' AS reason_kind,"
        " held_reason AS reason, held_since AS since"
        " FROM deliveries WHERE tenant = $1 AND held_reason IS NOT NULL"
        " AND ($2::text IS NULL OR school_urn = $2)"
        " UNION ALL SELECT 'late_cancellation', appointment_id, school_urn,"
        " (starts_at AT TIME ZONE 'Europe/London')::date,"
        " (extract(epoch FROM ends_at - starts_at) / 60)::int, NULL, funding_stream,"
        " 'no_tariff', held_reason, held_since"
        " FROM cancellations WHERE tenant = $1 AND held_reason IS NOT NULL"
        " AND ($2::text IS NULL OR school_urn = $2)"
        " UNION ALL SELECT 'agreement', agreement_id, school_urn, valid_from, NULL, days,"
        " NULL, held_kind, held_reason, held_since"
        " FROM agreements WHERE tenant = $1 AND status = 'unpriced'"
        " AND ($2::text IS NULL OR school_urn = $2)"
        " ORDER BY since, dated, id",
        uow.tenant,
        school_urn,
    )
    items = [UnpricedItem(**r) for r in rows]
    return UnpricedView(school_urn=school_urn, count=len(items), items=items)


# --- documents --------------------------------------------------------------------------------


class DocumentSummary(BaseModel):
    """An issued invoice or credit note."""

    document_id: uuid.UUID
    kind: str = Field(description="invoice or credit_note.")
    number: str
    school_urn: str
    period_start: date
    period_end: date
    issued_on: date
    total_pence: int = Field(description="The sum of its lines: negative on a credit note.")
    total: str = Field(description="The total in pounds, exact, e.g. 550.00.")


class DocumentLineView(BaseModel):
    line_no: int
    delivery_id: uuid.UUID
    delivered_on: date
    description: str
    sla_minutes: int
    pence: int
    adjustment: bool = Field(description="The delivery was on an earlier document.")
    amount: str


class DocumentView(DocumentSummary):
    lines: list[DocumentLineView]


_DOCUMENT = (
    "SELECT document_id, kind, number, school_urn, period_start, period_end, issued_on,"
    " total_pence FROM documents WHERE tenant = $1"
)


async def documents_of(uow: PostgresBillingUnitOfWork, school_urn: str) -> list[DocumentSummary]:
    rows = await uow.conn.fetch(
        _DOCUMENT + " AND school_urn = $2 ORDER BY issued_on, number", uow.tenant, school_urn
    )
    return [DocumentSummary(**r, total=pounds(r["total_pence"])) for r in rows]


async def document(uow: PostgresBillingUnitOfWork, document_id: uuid.UUID) -> DocumentView | None:
    row = await uow.conn.fetchrow(_DOCUMENT + " AND document_id = $2", uow.tenant, document_id)
    if row is None:
        return None
    lines = await uow.conn.fetch(
        "SELECT l.line_no, l.delivery_id, l.delivered_on, l.description, l.sla_minutes,"
        " l.pence, l.adjustment FROM document_lines l JOIN documents d USING (document_id)"
        " WHERE d.tenant = $1 AND l.document_id = $2 ORDER BY l.line_no",
        uow.tenant,
        document_id,
    )
    return DocumentView(
        **row,
        total=pounds(row["total_pence"]),
        lines=[DocumentLineView(**line, amount=pounds(line["pence"])) for line in lines],
    )


class DraftLine(BaseModel):
    delivery_id: uuid.UUID
    delivered_on: date
    period_start: date
    pence: int
    sla_minutes: int
    description: str


class DraftView(BaseModel):
    """Priced time not yet on an issued document: the draft of the next invoice."""

    school_urn: str
    total_pence: int
    total: str
    lines: list[DraftLine]


async def draft(uow: PostgresBillingUnitOfWork, school_urn: str) -> DraftView:
    rows = await uow.conn.fetch(
        "SELECT delivery_id, delivered_on, period_start, pence, sla_minutes, description"
        " FROM ledger_lines WHERE tenant = $1 AND school_urn = $2"
        " AND settled_on IS NULL ORDER BY line_id",
        uow.tenant,
        school_urn,
    )
    total = sum(r["pence"] for r in rows)
    return DraftView(
        school_urn=school_urn,
        total_pence=total,
        total=pounds(total),
        lines=[DraftLine(**r) for r in rows],
    )


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


async def documents_csv(uow: PostgresBillingUnitOfWork, first: date, last: date) -> str:
    """Every line of every document issued in the dates, for the council's finance system: one
    row per line; amounts in pence and in pounds (exact, two decimals, credit notes negative);
    comma separated, a header row, ISO dates."""
    rows = await uow.conn.fetch(
        "SELECT d.number, d.kind, d.school_urn, d.period_start, d.period_end,"
        " d.issued_on, l.line_no, l.delivery_id, l.delivered_on, l.description,"
        " l.sla_minutes, l.pence, l.adjustment FROM documents d"
        " JOIN document_lines l USING (document_id)"
        " WHERE d.tenant = $1 AND d.issued_on BETWEEN $2 AND $3"
        " ORDER BY d.kind, d.number, l.line_no",
        uow.tenant,
        first,
        last,
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
    return buffer.getvalue()


# --- waivers ----------------------------------------------------------------------------------


class ChargeWaived(BaseModel):
    """An appointment's late-cancellation charge, waived."""

    appointment_id: uuid.UUID
    charge_id: uuid.UUID = Field(description="The delivery that carried the charge.")
    school_urn: str
    waived: bool = True
