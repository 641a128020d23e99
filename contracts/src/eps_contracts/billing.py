"""Events of the billing bounded context: invoices and credit notes issued to schools.

Amounts are integer pence. Both events travel on one topic keyed by the school's URN, so a
school's documents stay in the order they were issued. They carry identifiers and totals only:
a finance system fetches the lines through the billing API or its CSV export.
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
