"""Events of the billing bounded context: invoices and credit notes issued to schools, and the
service level agreements (SLAs) schools buy.

Amounts are integer pence. Documents travel on one topic keyed by the school's URN, so a
school's documents stay in the order they were issued. They carry identifiers and totals only:
a finance system fetches the lines through the billing API or its CSV export.

An SLA is bought in billing and nowhere else; scheduling learns a school's traded time for a
year from these events (each carries the agreement's whole current state, so the latest event
of an agreement is all a consumer needs), and never records an SLA of its own.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar

from pydantic import Field

from eps_contracts.base import Event
from eps_contracts.common import SchoolUrn
from eps_contracts.topics import Topic

INVOICES = Topic(
    "eps.billing.invoices.v1",
    "Invoices and credit notes issued to schools for traded EP time, keyed by school URN.",
)


class _DocumentIssued(Event):
    """What an invoice and a credit note have in common (not an event type of its own)."""

    topic: ClassVar[Topic] = INVOICES
    key_field: ClassVar[str] = "school_urn"

    number: str = Field(min_length=1, max_length=40, description="Gapless number within the LA.")
    school_urn: SchoolUrn
    period_start: date = Field(description="First day of the billing period it was issued for.")
    period_end: date = Field(description="Last day of that billing period.")
    issued_on: date = Field(description="Date issued (Europe/London).")
    line_count: int = Field(gt=0, description="Number of lines.")


class InvoiceIssued(_DocumentIssued):
    """A school's invoice for one billing period was finalised with its gapless number."""

    event_type: ClassVar[str] = "eps.billing.invoice-issued.v1"

    invoice_id: uuid.UUID
    total_pence: int = Field(gt=0, description="Amount due, in pence.")


class CreditNoteIssued(_DocumentIssued):
    """Money given back to a school: delivered time already invoiced was reduced or voided."""

    event_type: ClassVar[str] = "eps.billing.credit-note-issued.v1"

    credit_note_id: uuid.UUID
    total_pence: int = Field(gt=0, description="Amount credited, in pence (positive).")


AGREEMENTS = Topic(
    "eps.billing.agreements.v1",
    "Service level agreements bought by schools: the traded EP time of each school and"
    " academic year, keyed by agreement id.",
)


class _AgreementEvent(Event):
    """An SLA's current state (not an event type of its own)."""

    topic: ClassVar[Topic] = AGREEMENTS
    key_field: ClassVar[str] = "agreement_id"

    agreement_id: uuid.UUID
    school_urn: SchoolUrn
    academic_year: int = Field(ge=2000, le=2100, description="2026 for the year 2026/27.")
    valid_from: date = Field(description="First day the agreement covers (1 September).")
    valid_to: date = Field(description="Last day the agreement covers (31 August).")
    days: int = Field(ge=0, le=366, description="SLA days bought.")
    minutes: int = Field(
        ge=0,
        description="Traded minutes the school may book in the year: the days bought at the"
        " tariff's length of a day, plus any time carried over from the year before.",
    )


class ServiceLevelAgreementBought(_AgreementEvent):
    """A school bought an SLA for an academic year, priced under the tariff then in force."""

    event_type: ClassVar[str] = "eps.billing.sla-bought.v1"


class ServiceLevelAgreementChanged(_AgreementEvent):
    """An SLA's days or its carried-over time changed: ``minutes`` is the new total."""

    event_type: ClassVar[str] = "eps.billing.sla-changed.v1"

    reason: str = Field(min_length=1, max_length=500, description="Why it changed.")


class ServiceLevelAgreementCancelled(_AgreementEvent):
    """An SLA was cancelled: the school has none of its traded time any more (``minutes`` 0)."""

    event_type: ClassVar[str] = "eps.billing.sla-cancelled.v1"

    reason: str = Field(min_length=1, max_length=500, description="Why it was cancelled.")
