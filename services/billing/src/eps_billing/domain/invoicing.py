"""Ledger lines and the documents they are settled on.

Every change in a delivery's price is a ledger line: the new value minus the value priced before
(a charge when positive, a credit when negative). Lines are never edited. When a billing period
closes, each school's unsettled lines are netted per delivery and settled on:

- the period's **invoice**: deliveries never invoiced before, and increases to deliveries already
  invoiced (adjustments, shown with their delivery date). Time delivered in a period that was
  already invoiced (it arrived after that period closed) is an adjustment too;
- a **credit note**: reductions of deliveries already invoiced (corrections and voids).

So for every school and delivery period, invoiced minus credited equals the priced value of the
delivered time, whatever order, duplication or replay the events came in. Lines netting to zero
pence and zero SLA minutes are settled without appearing on a document; a document is issued only
when its total is not zero. Totals are sums of integer pence: there is nothing to round.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from eps_contracts import Event
from eps_contracts.billing import CreditNoteIssued, InvoiceIssued

from eps_billing.domain.pricing import Priced
from eps_billing.domain.tariff import BillingPeriod

DOCUMENT_NAMESPACE = uuid.UUID("1d0e5b7a-2f6c-4e61-9b8f-5c3a0e7d9a41")


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"

    @property
    def prefix(self) -> str:
        return "INV" if self is DocumentKind.INVOICE else "CN"


@dataclass(frozen=True, slots=True)
class LineDelta:
    delivery_id: uuid.UUID
    pence: int
    sla_minutes: int
    spot_minutes: int
    description: str


def price_change(before: Priced | None, after: Priced) -> LineDelta | None:
    """The ledger line for a delivery whose price went from ``before`` to ``after``."""
    was = (before.pence, before.sla_minutes, before.spot_minutes) if before else (0, 0, 0)
    now = (after.pence, after.sla_minutes, after.spot_minutes)
    if was == now:
        return None
    pence, sla_minutes, spot_minutes = (n - w for n, w in zip(now, was, strict=True))
    return LineDelta(
        after.delivery_id,
        pence,
        sla_minutes,
        spot_minutes,
        after.describe(),  # the price now: a document line shows the latest state
    )


@dataclass(frozen=True, slots=True)
class NewLine:
    """A ledger line to add: one change in a delivery's price, dated in its billing period."""

    school_urn: str
    delivery_id: uuid.UUID
    delivered_on: date
    period_start: date
    pence: int
    sla_minutes: int
    spot_minutes: int
    description: str


@dataclass(frozen=True, slots=True)
class OpenLine:
    """An unsettled ledger line of one school."""

    line_id: int
    delivery_id: uuid.UUID
    delivered_on: date
    pence: int
    sla_minutes: int
    description: str


@dataclass(frozen=True, slots=True)
class DocumentLine:
    delivery_id: uuid.UUID
    delivered_on: date
    pence: int
    sla_minutes: int
    description: str
    adjustment: bool  # the delivery was on an earlier document
    line_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Settlement:
    invoice: tuple[DocumentLine, ...]
    credit_note: tuple[DocumentLine, ...]
    settled_silently: tuple[int, ...]  # line ids netting to nothing

    def total(self, kind: DocumentKind) -> int:
        lines = self.invoice if kind is DocumentKind.INVOICE else self.credit_note
        return sum(line.pence for line in lines)


def settle(
    lines: Iterable[OpenLine],
    invoiced_before: AbstractSet[uuid.UUID],
    period_start: date | None = None,
) -> Settlement:
    """Net one school's unsettled lines per delivery and split them into the two documents.

    ``period_start`` is the first day of the period being invoiced: a line for time delivered
    before it belongs to a period already invoiced, so it is shown as an adjustment.
    """
    by_delivery: dict[uuid.UUID, list[OpenLine]] = {}
    for line in lines:
        by_delivery.setdefault(line.delivery_id, []).append(line)
    invoice: list[DocumentLine] = []
    credit: list[DocumentLine] = []
    silent: list[int] = []
    for delivery_id, group in sorted(
        by_delivery.items(), key=lambda kv: (kv[1][0].delivered_on, kv[0])
    ):
        ordered = sorted(group, key=lambda line: line.line_id)
        pence = sum(line.pence for line in ordered)
        minutes = sum(line.sla_minutes for line in ordered)
        ids = tuple(line.line_id for line in ordered)
        adjustment = delivery_id in invoiced_before or (
            period_start is not None and ordered[0].delivered_on < period_start
        )
        if pence == 0 and minutes == 0:
            silent.extend(ids)
            continue
        netted = DocumentLine(
            delivery_id,
            ordered[0].delivered_on,
            pence,
            minutes,
            ordered[-1].description if not adjustment else f"adjustment: {ordered[-1].description}",
            adjustment,
            ids,
        )
        (credit if pence < 0 else invoice).append(netted)
    return Settlement(tuple(invoice), tuple(credit), tuple(silent))


@dataclass(slots=True)
class Document:
    """An invoice or a credit note, issued once with its number: it records the event that
    tells finance (``InvoiceIssued``, ``CreditNoteIssued``)."""

    document_id: uuid.UUID
    kind: DocumentKind
    number: str
    school_urn: str
    period: BillingPeriod
    issued_on: date
    lines: tuple[DocumentLine, ...]
    events: list[Event] = field(default_factory=list, init=False, compare=False, repr=False)

    @property
    def total_pence(self) -> int:
        return sum(line.pence for line in self.lines)

    @classmethod
    def issue(
        cls,
        tenant: str,
        kind: DocumentKind,
        sequence: int,
        school_urn: str,
        period: BillingPeriod,
        issued_on: date,
        lines: Sequence[DocumentLine],
    ) -> Document:
        """Issue the period's document of one kind for a school, numbered ``sequence`` in the
        authority's series of that kind."""
        document = cls(
            document_id(tenant, school_urn, period.start, kind),
            kind,
            document_number(tenant, kind, sequence),
            school_urn,
            period,
            issued_on,
            tuple(lines),
        )
        common: dict[str, Any] = dict(
            number=document.number,
            school_urn=school_urn,
            period_start=period.start,
            period_end=period.end,
            issued_on=issued_on,
            line_count=len(document.lines),
        )
        total = document.total_pence
        document.events.append(
            InvoiceIssued(invoice_id=document.document_id, total_pence=total, **common)
            if kind is DocumentKind.INVOICE
            else CreditNoteIssued(credit_note_id=document.document_id, total_pence=-total, **common)
        )
        return document


def document_number(tenant: str, kind: DocumentKind, sequence: int) -> str:
    return f"{tenant.upper()}-{kind.prefix}-{sequence:07d}"


def document_id(tenant: str, school_urn: str, period_start: date, kind: DocumentKind) -> uuid.UUID:
    """Deterministic, so replaying the events into an empty database gives the same ids."""
    return uuid.uuid5(DOCUMENT_NAMESPACE, f"{tenant}/{school_urn}/{period_start}/{kind}")


def pounds(pence: int) -> str:
    """Exact decimal pounds for exports ('-5.50'), from integer pence."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole}.{part:02d}"
