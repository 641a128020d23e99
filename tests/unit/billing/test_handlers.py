"""The billing service's handlers against a fake unit of work: no broker, no database.

Leicester City's 2025/26 tariff throughout (hour £150, half day 3 h £400, day 6 h £700; SLA
day 6 h at £650, 5 to 30 days, carried over; monthly periods, 5 grace days; 14 days' notice).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_billing.domain.agreements import AgreementStatus, HoldKind, agreement_id
from eps_billing.domain.cancellation import charge_id
from eps_billing.domain.commands import (
    BuyServiceLevelAgreement,
    CancelAgreement,
    CarryTariffForward,
    ChangeAgreementDays,
    ConfirmTariff,
    CreateTariff,
    DeliveredTimeCommand,
    RecordSchool,
    ReplaceTariff,
    WaiveCancellationCharge,
)
from eps_billing.domain.pricing import Agreement, price_deliveries
from eps_billing.domain.tariff import TariffStatus
from eps_billing.service_layer import handlers
from eps_chassis.errors import Conflict, DomainError, NotFound
from eps_contracts.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    ServiceLevelAgreementBought,
    ServiceLevelAgreementCancelled,
    ServiceLevelAgreementChanged,
)
from eps_contracts.scheduling import CancellationParty, FundingStream
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.builders import billing as builders
from tests.support.builders.billing import LEICESTER, LEICESTER_RULES, OTHER_SCHOOL, SCHOOL, london
from tests.support.clock import FakeClock
from tests.support.fakes.billing import FakeBillingUnitOfWork, SlaRow

FINANCE = "user:finance"
NOVEMBER_FIRST = london(2025, 11, 1)  # October's draft still open (5 grace days)


def uow_at(moment: datetime = NOVEMBER_FIRST, *, tariff: bool = True) -> FakeBillingUnitOfWork:
    return FakeBillingUnitOfWork(clock=FakeClock(moment), tariffs=[LEICESTER] if tariff else ())


async def school_with_sla(uow: FakeBillingUnitOfWork, days: int, year: int = 2025) -> uuid.UUID:
    await handlers.record_school(RecordSchool(SCHOOL, NOVEMBER_FIRST), uow)
    bought = await handlers.buy_service_level_agreement(
        BuyServiceLevelAgreement(SCHOOL, year, days, FINANCE), uow
    )
    assert bought.status is AgreementStatus.PRICED
    return bought.agreement_id


def minutes_of(event: object) -> tuple[int, int]:
    assert isinstance(
        event,
        ServiceLevelAgreementBought | ServiceLevelAgreementChanged | ServiceLevelAgreementCancelled,
    )
    return event.days, event.minutes


# --- delivered time ---------------------------------------------------------------------------


async def test_delivered_time_is_priced_once_at_spot_and_core_time_is_free() -> None:
    uow = uow_at()
    four_hours = builders.delivered(SCHOOL, 240, date(2025, 10, 6))
    resent = builders.delivered(SCHOOL, 240, date(2025, 10, 6), delivery_id=four_hours.delivery_id)
    core = builders.delivered(SCHOOL, 120, date(2025, 10, 7), FundingStream.CORE)
    await handlers.price_delivered_time([four_hours, core], uow)
    await handlers.price_delivered_time([resent], uow)  # scheduling sent it again
    assert uow.locks == ["shared", "shared"]
    assert uow.prices.charged(four_hours.delivery_id) == 55000  # half day + hour
    assert uow.prices.priced[core.delivery_id].pence == 0
    [line] = uow.prices.ledger
    assert (line.line.period_start, line.line.description) == (
        date(2025, 10, 1),
        "spot 4h00 as 1 x half day + 1 x hour",
    )
    assert uow.published == [] and uow.events_of(InvoiceIssued) == []


async def test_a_correction_or_a_void_that_overtakes_its_delivery_waits_for_it() -> None:
    uow = uow_at()
    d1, d2 = uuid.uuid4(), uuid.uuid4()
    october = date(2025, 10, 8)
    await handlers.price_delivered_time(
        [
            builders.correction(d1, 300, london(2025, 10, 9)),
            builders.void(d2, london(2025, 10, 10)),
        ],
        uow,
    )
    assert uow.prices.priced == {}  # nothing to price yet
    await handlers.price_delivered_time(
        [
            builders.delivered(SCHOOL, 120, october, delivery_id=d1),
            builders.delivered(SCHOOL, 60, october, delivery_id=d2),
        ],
        uow,
    )
    assert uow.prices.charged(d1) == 70000  # corrected to 5 h: a day
    assert uow.prices.charged(d2) == 0 and uow.deliveries.now_standing(d2).voided
    await handlers.price_delivered_time([builders.correction(d1, 60, london(2025, 10, 20))], uow)
    assert uow.prices.charged(d1) == 15000
    assert [e.line.pence for e in uow.prices.ledger] == [70000, -55000]


async def test_time_with_no_confirmed_tariff_is_held_and_priced_once_one_is_created() -> None:
    uow = uow_at(tariff=False)
    hour = builders.delivered(SCHOOL, 60, date(2025, 10, 6))
    statutory = builders.delivered(SCHOOL, 60, date(2025, 10, 6), FundingStream.STATUTORY)
    await handlers.price_delivered_time([hour, statutory], uow)
    held = uow.deliveries.rows[hour.delivery_id]
    assert held.held_reason == "leicester-city has no confirmed tariff in force on 2025-10-06"
    assert held.held_since == NOVEMBER_FIRST
    assert uow.deliveries.rows[statutory.delivery_id].held_reason is None  # free anyway
    assert uow.prices.ledger == []
    created, priced = await handlers.create_tariff(
        CreateTariff(date(2025, 9, 1), date(2026, 8, 31), LEICESTER_RULES, FINANCE), uow
    )
    assert (created.status, created.created_by, created.confirmed_by) == (
        TariffStatus.CONFIRMED,
        FINANCE,
        FINANCE,
    )
    assert (priced.deliveries, priced.late_cancellations, priced.agreements) == (1, 0, 0)
    assert uow.deliveries.rows[hour.delivery_id].held_reason is None
    assert uow.prices.charged(hour.delivery_id) == 15000
    assert uow.locks == ["shared", "exclusive"]


async def test_traded_time_draws_on_the_sla_in_the_order_scheduling_recorded_it() -> None:
    uow = uow_at()
    sla = await school_with_sla(uow, 5)  # 30 h
    [bought] = uow.events_of(ServiceLevelAgreementBought)
    assert minutes_of(bought) == (5, 1800)
    later = builders.delivered(SCHOOL, 600, date(2025, 10, 7))
    first = builders.delivered(SCHOOL, 1440, date(2025, 10, 6))
    await handlers.price_delivered_time([later], uow)
    await handlers.price_delivered_time([first], uow)  # recorded first, arrived second
    assert uow.prices.priced[first.delivery_id].sla_minutes == 1440
    assert (
        uow.prices.priced[later.delivery_id].sla_minutes,
        uow.prices.charged(later.delivery_id),
    ) == (
        360,
        55000,  # 4 h beyond the SLA: half day + hour
    )
    assert uow.agreements.slas[sla].drawn_minutes == 1800


# --- late cancellations -----------------------------------------------------------------------


async def test_a_late_cancellation_of_traded_time_is_charged_once_and_an_early_one_is_free() -> (
    None
):
    uow = uow_at()
    start = london(2025, 10, 20)
    late = builders.cancellation(SCHOOL, start, 120, start - timedelta(days=6))
    outcome = await handlers.charge_cancellation(late, uow)
    assert outcome.first and outcome.charge is not None and outcome.charge.minutes == 120
    charge = charge_id(late.appointment_id)
    assert uow.prices.charged(charge) == 30000
    [line] = uow.prices.ledger
    assert line.line.description == "late cancellation: spot 2h00 as 2 x hour"
    assert line.line.delivered_on == date(2025, 10, 20)
    again = builders.cancellation(
        SCHOOL, start, 120, start - timedelta(days=5), appointment_id=late.appointment_id
    )
    assert not (await handlers.charge_cancellation(again, uow)).first
    assert len(uow.prices.ledger) == 1  # the appointment is charged once
    for free in (
        builders.cancellation(SCHOOL, start, 120, start - timedelta(days=20)),
        builders.cancellation(
            SCHOOL, start, 120, start - timedelta(days=1), by=CancellationParty.SERVICE
        ),
        builders.cancellation(SCHOOL, start, 120, start - timedelta(days=1), FundingStream.CORE),
    ):
        judged = await handlers.charge_cancellation(free, uow)
        assert judged.charge is not None and judged.charge.minutes == 0
    assert len(uow.prices.ledger) == 1 and len(uow.cancellations.judged) == 4


async def test_a_cancellation_no_tariff_can_judge_waits_and_is_judged_when_one_is_confirmed() -> (
    None
):
    uow = uow_at(tariff=False)
    start = london(2025, 10, 20)
    late = builders.cancellation(SCHOOL, start, 120, start - timedelta(days=6))
    outcome = await handlers.charge_cancellation(late, uow)
    assert outcome.charge is None and outcome.first
    assert outcome.held == "leicester-city has no confirmed tariff in force on 2025-10-20"
    with pytest.raises(Conflict) as waiting:  # nothing to waive yet
        await handlers.waive_cancellation_charge(
            WaiveCancellationCharge(late.appointment_id, "goodwill"), uow
        )
    assert waiting.value.field == "appointment_id"
    _, priced = await handlers.create_tariff(
        CreateTariff(date(2025, 9, 1), date(2026, 8, 31), LEICESTER_RULES, FINANCE), uow
    )
    assert priced.late_cancellations == 1
    assert uow.prices.charged(charge_id(late.appointment_id)) == 30000


async def test_finance_waives_a_charge_once_and_only_a_charge() -> None:
    uow = uow_at()
    start = london(2025, 10, 20)
    late = builders.cancellation(SCHOOL, start, 120, start - timedelta(days=6))
    await handlers.charge_cancellation(late, uow)
    waive = WaiveCancellationCharge(late.appointment_id, "family bereavement")
    assert await handlers.waive_cancellation_charge(waive, uow) == SCHOOL
    assert await handlers.waive_cancellation_charge(waive, uow) == SCHOOL  # again: nothing
    charge = charge_id(late.appointment_id)
    assert [e.line.pence for e in uow.prices.ledger] == [30000, -30000]
    assert uow.deliveries.now_standing(charge).voided
    with pytest.raises(NotFound):
        await handlers.waive_cancellation_charge(
            WaiveCancellationCharge(uuid.uuid4(), "never charged"), uow
        )


# --- agreements -------------------------------------------------------------------------------


async def test_an_sla_for_a_school_billing_does_not_know_waits_for_it_to_be_registered() -> None:
    uow = uow_at()
    waiting = await handlers.buy_service_level_agreement(
        BuyServiceLevelAgreement(SCHOOL, 2025, 5, FINANCE), uow
    )
    assert waiting.status is AgreementStatus.UNPRICED and waiting.minutes == 0
    assert waiting.hold is not None and waiting.hold.kind is HoldKind.UNKNOWN_SCHOOL
    assert waiting.bought_by == FINANCE
    assert uow.events_of(ServiceLevelAgreementBought) == []  # it gives no time yet
    assert await handlers.record_school(RecordSchool(SCHOOL, NOVEMBER_FIRST), uow) == 1
    assert await handlers.record_school(RecordSchool(SCHOOL, NOVEMBER_FIRST), uow) == 0
    [bought] = uow.events_of(ServiceLevelAgreementBought)
    assert isinstance(bought, ServiceLevelAgreementBought)
    assert (bought.agreement_id, bought.academic_year, minutes_of(bought)) == (
        waiting.agreement_id,
        2025,
        (5, 1800),
    )
    assert uow.agreements.slas[waiting.agreement_id].status is AgreementStatus.PRICED


async def test_days_outside_the_tariffs_limits_are_refused_and_a_school_has_one_sla_a_year() -> (
    None
):
    uow = uow_at()
    await handlers.record_school(RecordSchool(SCHOOL, NOVEMBER_FIRST), uow)
    with pytest.raises(DomainError) as outside:
        await handlers.buy_service_level_agreement(
            BuyServiceLevelAgreement(SCHOOL, 2025, 4, FINANCE), uow
        )
    assert outside.value.field == "days" and "5 to 30 days a year" in str(outside.value)
    bought = await handlers.buy_service_level_agreement(
        BuyServiceLevelAgreement(SCHOOL, 2025, 5, FINANCE), uow
    )
    assert bought.agreement_id == agreement_id("leicester-city", SCHOOL, date(2025, 9, 1), 0)
    with pytest.raises(Conflict) as taken:
        await handlers.buy_service_level_agreement(
            BuyServiceLevelAgreement(SCHOOL, 2025, 6, FINANCE), uow
        )
    assert taken.value.field == "academic_year"


async def test_changing_the_days_reprices_the_year_and_never_holds_less_than_was_drawn() -> None:
    uow = uow_at()
    sla = await school_with_sla(uow, 8)
    forty_hours = [builders.delivered(SCHOOL, 1200, date(2025, 10, 6 + i)) for i in range(2)]
    await handlers.price_delivered_time(forty_hours, uow)
    uow.commit()
    with pytest.raises(DomainError) as below:
        await handlers.change_agreement_days(ChangeAgreementDays(sla, 6, "budget revised"), uow)
    assert below.value.field == "days" and "already been drawn" in str(below.value)
    changed = await handlers.change_agreement_days(
        ChangeAgreementDays(sla, 7, "budget revised"), uow
    )
    assert (changed.days, changed.minutes, changed.drawn_minutes) == (7, 7 * 360, 2400)
    [event] = uow.events_of(ServiceLevelAgreementChanged)
    assert isinstance(event, ServiceLevelAgreementChanged)
    assert minutes_of(event) == (7, 2520)
    assert event.reason == "days changed from 8 to 7: budget revised"
    await handlers.cancel_agreement(CancelAgreement(sla, "withdrawn", FINANCE), uow)
    with pytest.raises(Conflict) as cancelled:
        await handlers.change_agreement_days(ChangeAgreementDays(sla, 8, "again"), uow)
    assert cancelled.value.field == "agreement_id"


async def test_cancelling_an_sla_reprices_its_time_at_spot_and_is_announced_once() -> None:
    uow = uow_at()
    sla = await school_with_sla(uow, 5)
    day = builders.delivered(SCHOOL, 360, date(2025, 10, 6))
    await handlers.price_delivered_time([day], uow)
    assert uow.prices.charged(day.delivery_id) == 0  # drawn from the SLA
    uow.commit()
    cancel = CancelAgreement(sla, "the school withdrew", FINANCE)
    cancelled = await handlers.cancel_agreement(cancel, uow)
    again = await handlers.cancel_agreement(cancel, uow)
    assert (cancelled.status, again.status) == (AgreementStatus.CANCELLED,) * 2
    assert (cancelled.cancelled_by, cancelled.cancel_reason) == (FINANCE, "the school withdrew")
    assert uow.prices.charged(day.delivery_id) == 70000  # a day at spot
    [event] = uow.events_of(ServiceLevelAgreementCancelled)
    assert isinstance(event, ServiceLevelAgreementCancelled)
    assert (minutes_of(event), event.reason) == ((5, 0), "the school withdrew")


async def test_time_drawn_in_one_year_moves_what_the_next_year_carries_over() -> None:
    uow = uow_at(london(2026, 8, 1))
    current = await uow.tariffs.records()
    draft = await handlers.carry_tariff_forward(
        CarryTariffForward(current[0].tariff_id, FINANCE), uow
    )
    await handlers.confirm_tariff(ConfirmTariff(draft.tariff_id, FINANCE), uow)
    this_year = await school_with_sla(uow, 5)
    next_year = await handlers.buy_service_level_agreement(
        BuyServiceLevelAgreement(SCHOOL, 2026, 5, FINANCE), uow
    )
    assert (next_year.minutes, next_year.carried_minutes) == (3600, 1800)
    uow.commit()
    await handlers.price_delivered_time([builders.delivered(SCHOOL, 360, date(2026, 7, 1))], uow)
    assert uow.agreements.slas[this_year].drawn_minutes == 360
    assert uow.agreements.slas[next_year.agreement_id].carried_minutes == 1440
    [moved] = uow.events_of(ServiceLevelAgreementChanged)
    assert isinstance(moved, ServiceLevelAgreementChanged)
    assert (moved.agreement_id, minutes_of(moved)) == (next_year.agreement_id, (5, 3240))
    assert moved.reason == "time carried over from 2025/26 changed from 30h00 to 24h00"


async def test_the_announcing_job_tells_of_an_sla_never_announced_once() -> None:
    uow = uow_at()
    before = SlaRow(
        uuid.uuid4(),
        SCHOOL,
        date(2025, 9, 1),
        date(2026, 8, 31),
        6,
        AgreementStatus.PRICED,
        minutes=2160,
        day_minutes=360,
        day_pence=65000,
    )
    uow.agreements.slas[before.agreement_id] = before  # as the migration left it
    assert await handlers.announce_agreements(uow) == 1
    assert await handlers.announce_agreements(uow) == 0
    assert uow.locks == ["exclusive", "exclusive"]
    [bought] = uow.events_of(ServiceLevelAgreementBought)
    assert isinstance(bought, ServiceLevelAgreementBought)
    assert (bought.agreement_id, minutes_of(bought)) == (before.agreement_id, (6, 2160))


# --- tariffs ----------------------------------------------------------------------------------


async def test_an_overlapping_tariff_is_refused_naming_the_date_and_a_draft_prices_nothing() -> (
    None
):
    uow = uow_at(london(2026, 9, 10))
    september = builders.delivered(SCHOOL, 60, date(2026, 9, 7))
    await handlers.price_delivered_time([september], uow)
    with pytest.raises(Conflict) as overlap:
        await handlers.create_tariff(
            CreateTariff(date(2026, 6, 1), date(2027, 5, 31), LEICESTER_RULES, FINANCE), uow
        )
    assert overlap.value.field == "effective_from"
    draft, priced = await handlers.create_tariff(
        CreateTariff(
            date(2026, 9, 1), date(2027, 8, 31), LEICESTER_RULES, FINANCE, TariffStatus.DRAFT
        ),
        uow,
    )
    assert draft.status is TariffStatus.DRAFT and draft.confirmed_at is None
    assert priced == handlers.PricedNow()
    assert uow.deliveries.rows[september.delivery_id].held_reason is not None


async def test_a_year_carried_forward_is_a_draft_and_confirming_it_prices_what_waited() -> None:
    uow = uow_at(london(2026, 9, 10))
    september = builders.delivered(SCHOOL, 60, date(2026, 9, 7))
    await handlers.price_delivered_time([september], uow)
    [current] = await uow.tariffs.records()
    draft = await handlers.carry_tariff_forward(CarryTariffForward(current.tariff_id, FINANCE), uow)
    assert (draft.status, draft.tariff.effective_from, draft.tariff.effective_to) == (
        TariffStatus.DRAFT,
        date(2026, 9, 1),
        date(2027, 8, 31),
    )
    assert (draft.carried_forward_from, draft.created_by) == (current.tariff_id, FINANCE)
    with pytest.raises(Conflict):  # that year has its tariff now
        await handlers.carry_tariff_forward(CarryTariffForward(current.tariff_id, FINANCE), uow)
    assert uow.prices.ledger == []
    confirmed, priced = await handlers.confirm_tariff(ConfirmTariff(draft.tariff_id, FINANCE), uow)
    assert (confirmed.status, confirmed.confirmed_by, priced.deliveries) == (
        TariffStatus.CONFIRMED,
        FINANCE,
        1,
    )
    assert uow.prices.charged(september.delivery_id) == 15000
    _, twice = await handlers.confirm_tariff(ConfirmTariff(draft.tariff_id, FINANCE), uow)
    assert twice == handlers.PricedNow()
    assert [action for _, action, _, _ in uow.tariffs.history] == ["carried-forward", "confirmed"]


async def test_replacing_a_tariff_reprices_what_it_priced_and_may_not_give_up_its_days() -> None:
    uow = uow_at()
    await handlers.record_school(RecordSchool(OTHER_SCHOOL, NOVEMBER_FIRST), uow)
    bought = await handlers.buy_service_level_agreement(
        BuyServiceLevelAgreement(OTHER_SCHOOL, 2025, 5, FINANCE), uow
    )
    hour = builders.delivered(SCHOOL, 60, date(2025, 10, 6))
    await handlers.price_delivered_time([hour], uow)
    uow.commit()
    [current] = await uow.tariffs.records()
    with pytest.raises(Conflict) as shrunk:
        await handlers.replace_tariff(
            ReplaceTariff(
                current.tariff_id, date(2025, 11, 1), date(2026, 8, 31), LEICESTER_RULES, FINANCE
            ),
            uow,
        )
    assert shrunk.value.field == "effective_from" and "1 deliveries" in str(shrunk.value)
    rules = {
        **LEICESTER_RULES,
        "spot_units": [
            {**u, "pence": 16000} if u["name"] == "hour" else u
            for u in LEICESTER_RULES["spot_units"]
        ],
        "sla": {**LEICESTER_RULES["sla"], "day_minutes": 390},
    }
    replaced, _ = await handlers.replace_tariff(
        ReplaceTariff(current.tariff_id, date(2025, 9, 1), date(2026, 8, 31), rules, FINANCE), uow
    )
    assert (replaced.revision, replaced.status) == (2, TariffStatus.CONFIRMED)
    assert [e.line.pence for e in uow.prices.ledger] == [15000, 1000]
    [changed] = uow.events_of(ServiceLevelAgreementChanged)
    assert isinstance(changed, ServiceLevelAgreementChanged)
    assert (changed.agreement_id, minutes_of(changed)) == (bought.agreement_id, (5, 5 * 390))
    assert changed.reason == "the tariff for 2025/26 was replaced: a day is 6h30"


# --- finalising invoices ----------------------------------------------------------------------


async def test_due_periods_close_into_gapless_invoices_and_later_reductions_into_credit_notes() -> (
    None
):
    clock = FakeClock(NOVEMBER_FIRST)
    uow = FakeBillingUnitOfWork(clock=clock, tariffs=[LEICESTER])
    four_hours = builders.delivered(SCHOOL, 240, date(2025, 10, 6))
    await handlers.price_delivered_time(
        [four_hours, builders.delivered(OTHER_SCHOOL, 60, date(2025, 10, 31))], uow
    )
    assert await handlers.finalise_due_invoices(uow) == []  # October's grace runs to 6 November
    clock.now = datetime(2025, 11, 6, 0, 0, tzinfo=UTC)  # midnight in London (GMT)
    assert await handlers.finalise_due_invoices(uow) == [
        "LEICESTER-CITY-INV-0000001",
        "LEICESTER-CITY-INV-0000002",
    ]
    invoices = [e for e in uow.events_of(InvoiceIssued) if isinstance(e, InvoiceIssued)]
    assert [(e.school_urn, e.total_pence, e.period_start) for e in invoices] == [
        (SCHOOL, 55000, date(2025, 10, 1)),
        (OTHER_SCHOOL, 15000, date(2025, 10, 1)),
    ]
    assert all(e.settled_on == date(2025, 11, 6) for e in uow.prices.ledger)
    await handlers.price_delivered_time(
        [builders.correction(four_hours.delivery_id, 60, london(2025, 11, 10))], uow
    )
    clock.now = datetime(2025, 12, 6, 0, 0, tzinfo=UTC)
    assert await handlers.finalise_due_invoices(uow) == ["LEICESTER-CITY-CN-0000001"]
    [credit] = uow.events_of(CreditNoteIssued)
    assert isinstance(credit, CreditNoteIssued)
    assert (credit.school_urn, credit.total_pence, credit.period_start) == (
        SCHOOL,
        40000,
        date(2025, 11, 1),
    )
    [document] = [d for d in uow.documents.issued if d.number == "LEICESTER-CITY-CN-0000001"]
    [line] = document.lines
    assert (line.pence, line.adjustment) == (-40000, True)
    assert [p.start for p in uow.documents.finalised] == [date(2025, 10, 1), date(2025, 11, 1)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(240, 600).map(lambda m: m - m % 15), min_size=8, max_size=16),
    st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from(["up", "down", "void", "core"])),
        min_size=1,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
async def test_an_sla_repriced_batch_by_batch_prices_as_if_repriced_whole(
    lengths: list[int],
    changes: list[tuple[int, str]],
    rnd: random.Random,
    batches: int,
) -> None:
    """Each batch re-prices an SLA only from the first delivery it touches, on top of what was
    drawn before it (new time after everything priced simply on top): with corrections up and
    down, voids and moves to core time, in any order and batching, every delivery's price, the
    SLA's balance and what the ledger charges each delivery are those of pricing every delivery
    as it finally stands, at once (handlers on the fake unit of work; on the broker and
    database: test_billing's shuffled draw-down test)."""
    uow = uow_at()
    sla = await school_with_sla(uow, 5)  # 30 h: a handful of deliveries use it up
    start = london(2025, 9, 8)
    recorded = [
        builders.delivered(
            SCHOOL,
            minutes,
            date(2025, 9, 8) + timedelta(days=i),
            at=start + timedelta(hours=i),
        )
        for i, minutes in enumerate(lengths)
    ]
    facts: list[DeliveredTimeCommand] = list(recorded)
    for n, (which, kind) in enumerate(changes):
        target = recorded[which % len(recorded)]
        at = start + timedelta(days=40, minutes=n)
        if kind == "void":
            facts.append(builders.void(target.delivery_id, at))
        elif kind == "core":
            facts.append(builders.correction(target.delivery_id, 60, at, FundingStream.CORE))
        else:
            more = target.minutes + 120 if kind == "up" else max(15, target.minutes - 120)
            facts.append(builders.correction(target.delivery_id, more, at))
    rnd.shuffle(facts)
    cuts = sorted(rnd.sample(range(1, len(facts)), min(batches - 1, len(facts) - 1)))
    for part in zip([0, *cuts], [*cuts, len(facts)], strict=True):
        await handlers.price_delivered_time(facts[part[0] : part[1]], uow)

    standing = [uow.deliveries.now_standing(r.delivery_id) for r in recorded]
    agreement = Agreement(sla, SCHOOL, date(2025, 9, 1), date(2026, 8, 31), 1800)
    expected, drawn = price_deliveries(standing, lambda _: LEICESTER, [agreement])
    assert {p.delivery_id: (p.sla_minutes, p.pence) for p in expected} == {
        i: (p.sla_minutes, p.pence) for i, p in uow.prices.priced.items()
    }
    assert uow.agreements.slas[sla].drawn_minutes == drawn.get(sla, 0)
    for p in expected:  # what the ledger charges each delivery is its price now
        assert uow.prices.charged(p.delivery_id) == p.pence
