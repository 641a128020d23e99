"""Late cancellations: the tariff's rule, its edges (the deadline itself, clock changes, weekends)
and how a charge is priced (SLA first, then spot), for two authorities."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from eps_billing.domain.cancellation import (
    CancelledAppointment,
    cancellation_charge,
    charge_delivery,
    charge_id,
    notice_deadline,
)
from eps_billing.domain.pricing import Agreement, price_deliveries
from eps_billing.domain.tariff import Tariff
from eps_chassis.errors import DomainError
from eps_chassis.london import LONDON
from eps_contracts.scheduling import CancellationParty, FundingStream

from tests.support.builders.billing import LEICESTER, NOTTINGHAM_RULES

SCHOOL = "123456"


def local(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), LONDON)


def appointment(
    starts_at: datetime,
    cancelled_at: datetime,
    minutes: int = 120,
    stream: FundingStream = FundingStream.TRADED,
    by: CancellationParty | None = None,
) -> CancelledAppointment:
    return CancelledAppointment(
        uuid.uuid4(),
        SCHOOL,
        stream,
        starts_at,
        starts_at + timedelta(minutes=minutes),
        cancelled_at,
        by,
    )


def charged_minutes(cancelled: CancelledAppointment, tariff: Tariff = LEICESTER) -> int:
    return cancellation_charge(lambda _: tariff, cancelled).minutes


TUESDAY = date(2025, 11, 18)  # GMT, no clock change in the fortnight before


def test_cancelling_exactly_at_the_notice_deadline_is_free_and_a_second_later_is_charged() -> None:
    start = local(TUESDAY, 9)
    deadline = local(date(2025, 11, 4), 9)
    assert notice_deadline(start, 14) == deadline
    assert charged_minutes(appointment(start, deadline)) == 0
    assert charged_minutes(appointment(start, deadline + timedelta(seconds=1))) == 120
    assert charged_minutes(appointment(start, deadline - timedelta(days=30))) == 0


def test_the_deadline_keeps_its_london_time_when_the_clocks_go_back() -> None:
    # clocks go back on Sunday 26 October 2025: 09:00 on Monday 27 is 09:00 UTC, 09:00 on
    # Monday 13 (BST) is 08:00 UTC, so full notice is 14 days and an hour of elapsed time
    start = local(date(2025, 10, 27), 9)
    assert notice_deadline(start, 14) == datetime(2025, 10, 13, 8, tzinfo=UTC)
    assert charged_minutes(appointment(start, datetime(2025, 10, 13, 8, tzinfo=UTC))) == 0
    # 14 days and 30 minutes before the start, but 09:30 in London: under 14 days' notice
    late = datetime(2025, 10, 13, 8, 30, tzinfo=UTC)
    assert start - late > timedelta(days=14)
    assert charged_minutes(appointment(start, late)) == 120


def test_the_deadline_keeps_its_london_time_when_the_clocks_go_forward() -> None:
    # clocks go forward on Sunday 29 March 2026: 09:00 on Monday 6 April (BST) is 08:00 UTC,
    # 09:00 on Monday 23 March (GMT) is 09:00 UTC: full notice is 14 days less an hour
    start = local(date(2026, 4, 6), 9)
    assert notice_deadline(start, 14) == datetime(2026, 3, 23, 9, tzinfo=UTC)
    early = datetime(2026, 3, 23, 8, 30, tzinfo=UTC)
    assert start - early < timedelta(days=14)
    assert charged_minutes(appointment(start, early)) == 0
    assert charged_minutes(appointment(start, datetime(2026, 3, 23, 9, 0, 1, tzinfo=UTC))) == 120


def test_notice_is_counted_in_calendar_days_so_weekends_count() -> None:
    start = local(date(2025, 11, 17), 9)  # a Monday
    # the Monday two weeks before is only 10 working days ahead, and it is full notice
    assert charged_minutes(appointment(start, local(date(2025, 11, 3), 9))) == 0
    # a cancellation on the Saturday or Sunday in between is late
    assert charged_minutes(appointment(start, local(date(2025, 11, 8), 11))) == 120
    assert charged_minutes(appointment(start, local(date(2025, 11, 9), 18))) == 120


def test_a_cancellation_after_the_start_is_charged_in_full() -> None:
    start = local(TUESDAY, 9)
    assert charged_minutes(appointment(start, start + timedelta(minutes=10), 150)) == 150


@pytest.mark.parametrize(
    "stream", [FundingStream.CORE, FundingStream.STATUTORY, FundingStream.CRITICAL_INCIDENT]
)
def test_time_a_school_did_not_buy_is_never_charged_whatever_the_notice(
    stream: FundingStream,
) -> None:
    start = local(TUESDAY, 9)
    charge = cancellation_charge(
        lambda _: pytest.fail("no tariff is needed"),
        appointment(start, start - timedelta(hours=1), stream=stream),
    )
    assert (charge.minutes, charge.reason) == (0, f"{stream} time is never charged")


def test_a_cancellation_by_the_service_is_free_and_one_by_the_school_or_unstated_is_not() -> None:
    start = local(TUESDAY, 9)
    late = start - timedelta(days=2)
    assert charged_minutes(appointment(start, late, by=CancellationParty.SERVICE)) == 0
    assert charged_minutes(appointment(start, late, by=CancellationParty.SCHOOL)) == 120
    assert charged_minutes(appointment(start, late, by=None)) == 120


def test_the_tariff_is_the_one_in_force_on_the_appointments_london_date() -> None:
    # 23:30 UTC on 31 August 2026 is 00:30 on 1 September in London
    start = datetime(2026, 8, 31, 23, 30, tzinfo=UTC)
    asked: list[date] = []

    def tariff_for(day: date) -> Tariff:
        asked.append(day)
        return LEICESTER

    cancellation_charge(tariff_for, appointment(start, start - timedelta(days=1)))
    assert asked == [date(2026, 9, 1)]


def test_an_authority_without_a_tariff_for_the_date_refuses_rather_than_guessing() -> None:
    def no_tariff(day: date) -> Tariff:
        raise DomainError(f"no tariff in force on {day}", field="date")

    start = local(date(2030, 1, 7), 9)
    with pytest.raises(DomainError):
        cancellation_charge(no_tariff, appointment(start, start - timedelta(days=1)))


def test_a_late_cancellation_is_priced_like_delivered_time_at_spot_prices() -> None:
    start = local(TUESDAY, 9)
    for minutes, pence in ((120, 30000), (240, 55000), (360, 70000)):
        cancelled = appointment(start, start - timedelta(days=3), minutes)
        charge = cancellation_charge(lambda _: LEICESTER, cancelled)
        delivery = charge_delivery(cancelled, charge)
        assert (delivery.delivered_on, delivery.minutes, delivery.late_cancellation) == (
            TUESDAY,
            minutes,
            True,
        )
        [priced] = price_deliveries([delivery], lambda _: LEICESTER)[0]
        assert (priced.sla_minutes, priced.pence) == (0, pence)


def test_a_late_cancellation_draws_on_the_schools_sla_first_then_spot() -> None:
    start = local(TUESDAY, 9)
    cancelled = appointment(start, start - timedelta(days=1), 240)
    delivery = charge_delivery(cancelled, cancellation_charge(lambda _: LEICESTER, cancelled))
    sla = Agreement(uuid.uuid4(), SCHOOL, date(2025, 9, 1), date(2026, 8, 31), 180)
    [priced], drawn = price_deliveries([delivery], lambda _: LEICESTER, [sla])
    assert (priced.sla_minutes, priced.spot_minutes, priced.pence) == (180, 60, 15000)
    assert drawn == {sla.agreement_id: 180}


def test_another_authoritys_notice_and_units_apply_to_its_schools() -> None:
    nottingham = Tariff.from_rules(
        "nottingham-city",
        date(2025, 9, 1),
        date(2026, 8, 31),
        {**NOTTINGHAM_RULES, "cancellation_full_charge_days": 7},
    )
    start = local(TUESDAY, 9)
    ten_days = appointment(start, start - timedelta(days=10))
    assert charged_minutes(ten_days, nottingham) == 0  # enough notice there
    assert charged_minutes(ten_days, LEICESTER) == 120  # not in Leicester
    late = appointment(start, start - timedelta(days=6, hours=23))
    charge = cancellation_charge(lambda _: nottingham, late)
    [priced] = price_deliveries([charge_delivery(late, charge)], lambda _: nottingham)[0]
    assert priced.pence == 39300  # one 3-hour session covers the 2 hours


def test_an_authority_without_a_notice_rule_charges_only_a_cancellation_after_the_start() -> None:
    rules = {k: v for k, v in NOTTINGHAM_RULES.items() if k != "cancellation_full_charge_days"}
    tariff = Tariff.from_rules("nottingham-city", date(2025, 9, 1), date(2026, 8, 31), rules)
    start = local(TUESDAY, 9)
    assert charged_minutes(appointment(start, start), tariff) == 0
    assert charged_minutes(appointment(start, start + timedelta(minutes=1)), tariff) == 120


def test_one_charge_per_appointment_with_an_id_of_its_own() -> None:
    appointment_id = uuid.uuid4()
    assert charge_id(appointment_id) == charge_id(appointment_id)
    assert charge_id(appointment_id) not in (appointment_id, charge_id(uuid.uuid4()))
