"""Pricing delivered time: free streams, SLA draw-down, spot cover, corrections and voids."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from eps_billing.domain.invoicing import price_change
from eps_billing.domain.pricing import (
    Agreement,
    Change,
    Delivery,
    Priced,
    carried_over,
    follows,
    price_deliveries,
    price_with_carry_over,
)
from eps_billing.domain.tariff import Tariff
from eps_contracts.scheduling import FundingStream
from hypothesis import given
from hypothesis import strategies as st

from tests.support.builders.billing import LEICESTER, NOTTINGHAM

T0 = datetime(2025, 10, 1, 9, tzinfo=UTC)
SLA = Agreement(uuid.uuid4(), "123456", date(2025, 9, 1), date(2026, 8, 31), 5 * 360)


def delivery(
    minutes: int,
    stream: FundingStream = FundingStream.TRADED,
    *,
    on: date = date(2025, 10, 6),
    at: int = 0,
) -> Delivery:
    return Delivery(uuid.uuid4(), "123456", on, minutes, stream, T0 + timedelta(hours=at))


def price(deliveries: list[Delivery], agreements: tuple[Agreement, ...] = ()) -> list[Priced]:
    return price_deliveries(deliveries, lambda _: LEICESTER, agreements)[0]


def test_core_and_statutory_time_is_never_charged() -> None:
    priced = price([delivery(600, FundingStream.CORE), delivery(300, FundingStream.STATUTORY)])
    assert [p.pence for p in priced] == [0, 0]
    assert [p.sla_minutes for p in priced] == [0, 0]


def test_critical_incident_time_follows_the_authority_rule() -> None:
    incident = delivery(240, FundingStream.CRITICAL_INCIDENT)
    assert price([incident])[0].pence == 0  # Leicester funds it
    priced, _ = price_deliveries([incident], lambda _: NOTTINGHAM)
    assert priced[0].pence == 2 * 39300  # Nottingham charges it as traded time


def test_traded_time_without_an_sla_is_charged_at_spot_prices() -> None:
    [p] = price([delivery(240)])
    assert (p.pence, p.spot_minutes, p.units) == (55000, 240, (("half day", 1), ("hour", 1)))


def test_traded_time_draws_the_sla_first_then_spot_beyond_it() -> None:
    first = delivery(5 * 360 - 60, at=0)
    second = delivery(300, at=1)  # 60 minutes left on the SLA, 240 at spot
    priced, drawn = price_deliveries([second, first], lambda _: LEICESTER, [SLA])
    by_id = {p.delivery_id: p for p in priced}
    assert by_id[first.delivery_id] == Priced(first.delivery_id, 5 * 360 - 60, 0, 0)
    assert (by_id[second.delivery_id].sla_minutes, by_id[second.delivery_id].pence) == (60, 55000)
    assert drawn == {SLA.agreement_id: 5 * 360}


def test_an_sla_covers_only_its_own_dates() -> None:
    before = delivery(60, on=date(2025, 8, 29))
    [p] = price_deliveries([before], lambda _: LEICESTER, [SLA])[0]
    assert (p.sla_minutes, p.pence) == (0, 15000)


def test_the_sla_is_drawn_in_the_order_time_was_recorded_not_arrival_order() -> None:
    early = delivery(5 * 360, at=0)
    late = delivery(60, at=5)
    for order in ([early, late], [late, early]):
        priced = {p.delivery_id: p.pence for p in price(order, (SLA,))}
        assert priced == {early.delivery_id: 0, late.delivery_id: 15000}


def test_corrections_apply_latest_first_and_a_void_wins_whatever_the_order() -> None:
    base = delivery(120)
    at = T0 + timedelta(days=1)
    c1 = Change(uuid.uuid4(), at, 180, FundingStream.TRADED)
    c2 = Change(uuid.uuid4(), at + timedelta(hours=1), 60, FundingStream.CORE)
    void = Change(uuid.uuid4(), at - timedelta(hours=1), None, None, voided=True)
    assert base.with_changes([c2, c1]).minutes == 60
    assert base.with_changes([c2, c1]).funding_stream is FundingStream.CORE
    assert base.with_changes([c1]).minutes == 180
    assert base.with_changes([c1, void, c2]).voided
    assert price([base.with_changes([void])])[0].pence == 0


def test_a_price_change_is_a_credit_or_debit_line_never_an_edit() -> None:
    d = delivery(240)
    was = price([d])[0]
    now = price([d.with_changes([Change(uuid.uuid4(), T0, 60, FundingStream.TRADED)])])[0]
    line = price_change(was, now)
    assert line is not None and line.pence == 15000 - 55000 and line.spot_minutes == -180
    assert price_change(now, now) is None
    first = price_change(None, was)
    assert first is not None and first.pence == 55000


@given(
    st.lists(
        st.tuples(st.integers(1, 600), st.sampled_from(list(FundingStream)), st.integers(0, 500)),
        min_size=1,
        max_size=25,
    ),
    st.integers(0, 30 * 360),
    st.integers(0, 25),
)
def test_pricing_new_deliveries_on_top_equals_repricing_everything(
    specs: list[tuple[int, FundingStream, int]], sla_minutes: int, split: int
) -> None:
    deliveries = [delivery(m, s, at=i * 1000 + jitter) for i, (m, s, jitter) in enumerate(specs)]
    sla = Agreement(SLA.agreement_id, "123456", SLA.valid_from, SLA.valid_to, sla_minutes)
    full, drawn_all = price_deliveries(deliveries, lambda _: LEICESTER, [sla])
    head, tail = deliveries[:split], deliveries[split:]
    first, drawn = price_deliveries(head, lambda _: LEICESTER, [sla])
    rest, drawn_end = price_deliveries(tail, lambda _: LEICESTER, [sla], already_drawn=drawn)
    assert sorted(first + rest, key=lambda p: str(p.delivery_id)) == sorted(
        full, key=lambda p: str(p.delivery_id)
    )
    assert drawn_end.get(sla.agreement_id, 0) == drawn_all.get(sla.agreement_id, 0)
    assert drawn_all.get(sla.agreement_id, 0) <= sla_minutes


def year_sla(minutes: int, year: int, school: str = "123456") -> Agreement:
    return Agreement(uuid.uuid4(), school, date(year, 9, 1), date(year + 1, 8, 31), minutes)


def test_carried_time_is_what_is_unused_now_and_only_where_the_authority_carries_it() -> None:
    old = year_sla(5 * 360, 2025)
    assert carried_over(old, 360, carry_over=True) == 4 * 360
    assert carried_over(old, 5 * 360, carry_over=True) == 0
    assert carried_over(old, 360, carry_over=False) == 0
    assert follows(old, year_sla(360, 2026)) and not follows(old, year_sla(360, 2027))
    assert not follows(old, year_sla(360, 2026, school="654321"))


def test_old_year_time_recorded_late_takes_its_minutes_back_from_the_next_year() -> None:
    old, new = year_sla(5 * 360, 2025), year_sla(5 * 360, 2026)
    september = delivery(10 * 360, on=date(2026, 9, 14), at=0)  # uses all ten days at once
    prices, held = price_with_carry_over([september], lambda _: LEICESTER, [old, new])
    assert [a.minutes for a in held] == [5 * 360, 10 * 360]
    assert (prices[0].sla_minutes, prices[0].pence) == (10 * 360, 0)
    august = delivery(360, on=date(2026, 8, 20), at=5)  # the old year, recorded afterwards
    prices, held = price_with_carry_over([september, august], lambda _: LEICESTER, [old, new])
    by_id = {p.delivery_id: p for p in prices}
    assert [a.minutes for a in held] == [5 * 360, 9 * 360]
    assert (by_id[august.delivery_id].sla_minutes, by_id[august.delivery_id].pence) == (360, 0)
    # the day is not drawn twice: September now pays for it at spot (a day, 700)
    assert by_id[september.delivery_id].sla_minutes == 9 * 360
    assert by_id[september.delivery_id].pence == 70000


def test_no_carry_over_where_the_tariff_has_none() -> None:
    old, new = year_sla(3 * 360, 2025), year_sla(3 * 360, 2026)
    september = delivery(4 * 360, on=date(2026, 9, 14))
    prices, held = price_with_carry_over([september], lambda _: NOTTINGHAM, [old, new])
    assert [a.minutes for a in held] == [3 * 360, 3 * 360]
    assert prices[0].sla_minutes == 3 * 360 and prices[0].pence == 2 * 39300


@given(
    st.lists(
        st.tuples(
            st.integers(1, 600),
            st.sampled_from([FundingStream.TRADED, FundingStream.TRADED, FundingStream.CORE]),
            st.integers(0, 729),  # day from 1 September 2025: two academic years
            st.integers(0, 10_000),  # when recorded
        ),
        max_size=30,
    ),
    st.integers(0, 10),
    st.integers(0, 10),
    st.sampled_from([LEICESTER, NOTTINGHAM]),
)
def test_a_minute_of_sla_bought_once_is_drawn_at_most_once_across_years(
    specs: list[tuple[int, FundingStream, int, int]],
    old_days: int,
    new_days: int,
    tariff: Tariff,
) -> None:
    def lookup(_: date) -> Tariff:
        return tariff

    deliveries = [
        delivery(m, s, on=date(2025, 9, 1) + timedelta(days=d), at=a) for m, s, d, a in specs
    ]
    old, new = year_sla(old_days * 360, 2025), year_sla(new_days * 360, 2026)
    prices, held = price_with_carry_over(deliveries, lookup, [old, new])
    by_id = {p.delivery_id: p for p in prices}
    assert set(by_id) == {d.delivery_id for d in deliveries}  # every delivery priced once
    drawn = {
        year.agreement_id: sum(
            by_id[d.delivery_id].sla_minutes for d in deliveries if year.covers(d.delivered_on)
        )
        for year in held
    }
    assert drawn[old.agreement_id] + drawn[new.agreement_id] <= old.minutes + new.minutes
    unused_old = old.minutes - drawn[old.agreement_id]
    assert held[1].minutes == new.minutes + (unused_old if tariff.sla_carry_over else 0)
    assert drawn[new.agreement_id] <= held[1].minutes
    # the old year is priced as if the next year did not exist
    alone, _ = price_deliveries(
        [d for d in deliveries if old.covers(d.delivered_on)],
        lookup,
        [old],
    )
    assert all(by_id[p.delivery_id] == p for p in alone)
