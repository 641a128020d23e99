"""Settling ledger lines on invoices and credit notes; numbers, ids and exact pounds."""

from __future__ import annotations

import uuid
from datetime import date

from eps_billing.domain.invoicing import (
    DocumentKind,
    OpenLine,
    document_id,
    document_number,
    pounds,
    settle,
)

A, B, C, D = (uuid.uuid4() for _ in range(4))


def line(n: int, delivery: uuid.UUID, pence: int, sla: int = 0, day: int = 6) -> OpenLine:
    return OpenLine(n, delivery, date(2025, 10, day), pence, sla, f"line {n}")


def test_lines_are_netted_per_delivery_and_split_into_invoice_and_credit_note() -> None:
    settlement = settle(
        [
            line(1, A, 55000),
            line(2, A, -40000),  # corrected before invoicing: nets to 150
            line(3, B, -40000, day=2),  # B was invoiced before: a credit
            line(4, C, 0, sla=240, day=3),  # drawn from the SLA: shown at 0
            line(5, D, 15000),
            line(6, D, -15000),  # recorded and voided before invoicing: nothing to show
        ],
        invoiced_before={B},
    )
    assert [(ln.delivery_id, ln.pence, ln.adjustment) for ln in settlement.invoice] == [
        (C, 0, False),
        (A, 15000, False),
    ]
    assert settlement.invoice[1].line_ids == (1, 2)
    assert settlement.invoice[1].description == "line 2"  # the price as it now stands
    [credit] = settlement.credit_note
    assert (credit.delivery_id, credit.pence, credit.adjustment) == (B, -40000, True)
    assert credit.description.startswith("adjustment: ")
    assert settlement.settled_silently == (5, 6)
    assert settlement.total(DocumentKind.INVOICE) == 15000
    assert settlement.total(DocumentKind.CREDIT_NOTE) == -40000


def test_an_increase_after_invoicing_is_an_adjustment_on_the_next_invoice() -> None:
    settlement = settle([line(9, A, 15000)], invoiced_before={A})
    [adjustment] = settlement.invoice
    assert adjustment.adjustment and adjustment.pence == 15000 and not settlement.credit_note


def test_numbers_are_per_authority_and_kind_and_ids_are_reproducible() -> None:
    assert document_number("leicester-city", DocumentKind.INVOICE, 42) == (
        "LEICESTER-CITY-INV-0000042"
    )
    assert document_number("leicester-city", DocumentKind.CREDIT_NOTE, 1) == (
        "LEICESTER-CITY-CN-0000001"
    )
    first = document_id("leicester-city", "123456", date(2025, 10, 1), DocumentKind.INVOICE)
    assert first == document_id("leicester-city", "123456", date(2025, 10, 1), DocumentKind.INVOICE)
    assert first != document_id(
        "leicester-city", "123456", date(2025, 10, 1), DocumentKind.CREDIT_NOTE
    )


def test_pounds_are_exact_from_pence() -> None:
    assert [pounds(p) for p in (0, 5, 55000, -40000, 123456789, -1)] == [
        "0.00",
        "0.05",
        "550.00",
        "-400.00",
        "1234567.89",
        "-0.01",
    ]


def test_time_of_a_period_already_invoiced_is_an_adjustment_on_the_next_invoice() -> None:
    # November's invoice: A was delivered in October but arrived after October closed
    settlement = settle(
        [line(1, A, 15000, day=30), line(2, B, 40000, day=31)],
        invoiced_before=set(),
        period_start=date(2025, 10, 31),
    )
    by_delivery = {ln.delivery_id: ln for ln in settlement.invoice}
    assert by_delivery[A].adjustment and by_delivery[A].description == "adjustment: line 1"
    assert by_delivery[A].delivered_on == date(2025, 10, 30)  # shown with its own date
    assert not by_delivery[B].adjustment
    assert settlement.total(DocumentKind.INVOICE) == 55000
