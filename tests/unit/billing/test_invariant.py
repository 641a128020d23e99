"""The billing invariant, property-based: whatever the order, duplication or replay of events,
and however late the tariff arrives, for every school and delivery period, invoiced minus
credited equals the priced value of the delivered time as it finally stands plus the late
cancellation charges (each appointment charged at most once, however often its cancellation is
sent); and a replay yields the same documents line by line.

The book below keeps in memory what the service keeps in its tables, with the same domain
functions: re-price on every fact, a ledger line per price change, settle at each period close.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from eps_billing.domain.cancellation import (
    CancelledAppointment,
    cancellation_charge,
    charge_delivery,
)
from eps_billing.domain.cancellation import needs_tariff as judging_needs_tariff
from eps_billing.domain.invoicing import DocumentKind, DocumentLine, OpenLine, price_change, settle
from eps_billing.domain.pricing import (
    Agreement,
    Change,
    Delivery,
    Priced,
    needs_tariff,
    price_deliveries,
)
from eps_billing.domain.tariff import BillingPeriod, next_period, period_of
from eps_chassis.london import LONDON
from eps_contracts.scheduling import CancellationParty, FundingStream
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.builders.billing import LEICESTER

T0 = datetime(2025, 9, 1, 8, tzinfo=UTC)
SCHOOLS = ("100001", "100002")
FIRST_PERIOD = period_of(date(2025, 9, 1))


@dataclass(frozen=True)
class Fact:
    event_id: uuid.UUID
    delivery_id: uuid.UUID
    recorded: Delivery | None = None
    change: Change | None = None
    cancellation: CancelledAppointment | None = None  # delivery_id: the appointment's id


@dataclass
class Book:
    agreements: tuple[Agreement, ...]
    seen: set[uuid.UUID] = field(default_factory=set)
    recorded: dict[uuid.UUID, Delivery] = field(default_factory=dict)
    changes: dict[uuid.UUID, dict[uuid.UUID, Change]] = field(default_factory=dict)
    priced: dict[uuid.UUID, Priced] = field(default_factory=dict)
    open: list[OpenLine] = field(default_factory=list)
    documents: list[tuple[str, DocumentKind, BillingPeriod, tuple[DocumentLine, ...]]] = field(
        default_factory=list
    )
    on_documents: set[uuid.UUID] = field(default_factory=set)
    next_to_close: BillingPeriod = FIRST_PERIOD
    line_ids: int = 0
    judged: set[uuid.UUID] = field(default_factory=set)  # appointments whose cancellation counts

    def states(self) -> list[Delivery]:
        return [
            d.with_changes(self.changes.get(d.delivery_id, {}).values())
            for d in self.recorded.values()
        ]

    def apply(self, fact: Fact) -> None:
        if fact.event_id in self.seen:
            return  # the inbox
        self.seen.add(fact.event_id)
        if fact.recorded is not None:
            self.recorded.setdefault(fact.delivery_id, fact.recorded)
        if fact.change is not None:
            self.changes.setdefault(fact.delivery_id, {})[fact.change.change_id] = fact.change
        if fact.cancellation is not None:
            self.judge(fact.cancellation)
        self.reprice()

    def priceable(self) -> list[Delivery]:
        return self.states()

    def reprice(self) -> None:
        prices, _ = price_deliveries(self.priceable(), lambda _: LEICESTER, self.agreements)
        for after in prices:
            delta = price_change(self.priced.get(after.delivery_id), after)
            self.priced[after.delivery_id] = after
            if delta is not None:
                self.line_ids += 1
                d = self.recorded[after.delivery_id]
                self.open.append(
                    OpenLine(
                        self.line_ids,
                        d.delivery_id,
                        d.delivered_on,
                        delta.pence,
                        delta.sla_minutes,
                        d.school_urn,  # description: the school, to group lines below
                    )
                )

    def judge(self, cancelled: CancelledAppointment) -> None:
        """The first cancellation of an appointment counts; a late one adds a charge."""
        if cancelled.appointment_id in self.judged:
            return
        self.judged.add(cancelled.appointment_id)
        charge = cancellation_charge(lambda _: LEICESTER, cancelled)
        if charge.charged:
            delivery = charge_delivery(cancelled, charge)
            self.recorded.setdefault(delivery.delivery_id, delivery)

    def close_next_period(self) -> None:
        period = self.next_to_close
        due = [line for line in self.open if line.delivered_on <= period.end]
        self.open = [line for line in self.open if line.delivered_on > period.end]
        by_school: dict[str, list[OpenLine]] = defaultdict(list)
        for line in due:
            by_school[line.description].append(line)
        for school in sorted(by_school):
            settlement = settle(by_school[school], self.on_documents, period.start)
            for kind, lines in (
                (DocumentKind.INVOICE, settlement.invoice),
                (DocumentKind.CREDIT_NOTE, settlement.credit_note),
            ):
                for settled in lines:  # late time of a closed period is always an adjustment
                    late = settled.delivered_on < period.start
                    assert settled.adjustment == (late or settled.delivery_id in self.on_documents)
                if sum(line.pence for line in lines):
                    self.documents.append((school, kind, period, lines))
                    self.on_documents.update(line.delivery_id for line in lines)
        self.next_to_close = next_period(period)

    def close_all(self, until: date) -> None:
        while self.next_to_close.start <= until or self.open:
            self.close_next_period()


@dataclass
class WaitingBook(Book):
    """The book of an authority whose tariff arrives late: until it does, the time and the
    cancellations that need it wait (the service's unpriced items); then they are priced."""

    tariff_known: bool = False
    waiting: list[CancelledAppointment] = field(default_factory=list)

    def priceable(self) -> list[Delivery]:
        return [d for d in self.states() if self.tariff_known or not needs_tariff(d)]

    def judge(self, cancelled: CancelledAppointment) -> None:
        if self.tariff_known or not judging_needs_tariff(cancelled):
            super().judge(cancelled)
        elif cancelled.appointment_id not in self.judged:  # the first one counts, judged later
            self.judged.add(cancelled.appointment_id)
            self.waiting.append(cancelled)

    def tariff_arrives(self) -> None:
        self.tariff_known = True
        for cancelled in self.waiting:
            self.judged.discard(cancelled.appointment_id)
            super().judge(cancelled)
        self.waiting.clear()
        self.reprice()


def facts_strategy() -> st.SearchStrategy[tuple[list[Fact], tuple[Agreement, ...]]]:
    one = st.tuples(
        st.sampled_from(SCHOOLS),
        st.integers(0, 120),  # day offset from 1 September
        st.integers(1, 480),  # minutes
        st.sampled_from(list(FundingStream)),
        st.lists(  # corrections (minutes, stream) or a void (None)
            st.one_of(
                st.none(), st.tuples(st.integers(1, 480), st.sampled_from(list(FundingStream)))
            ),
            max_size=2,
        ),
    )

    cancellation = st.tuples(
        st.sampled_from(SCHOOLS),
        st.integers(0, 120),  # day of the appointment, from 1 September
        st.integers(30, 360),  # its length
        st.integers(-2, 24 * 20),  # hours of notice (14 days: 336)
        st.sampled_from(list(FundingStream)),
        st.sampled_from([None, CancellationParty.SCHOOL, CancellationParty.SERVICE]),
        st.integers(1, 2),  # events sent for it
    )

    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[Fact], tuple[Agreement, ...]]:
        specs = draw(st.lists(one, min_size=1, max_size=14))
        facts: list[Fact] = []
        for i, (school, offset, minutes, stream, changes) in enumerate(specs):
            delivery_id = uuid.uuid4()
            on = date(2025, 9, 1) + timedelta(days=offset)
            at = T0 + timedelta(days=offset, hours=i)
            facts.append(
                Fact(
                    uuid.uuid4(),
                    delivery_id,
                    recorded=Delivery(delivery_id, school, on, minutes, stream, at),
                )
            )
            for j, change in enumerate(changes):
                when = at + timedelta(days=draw(st.integers(0, 60)), minutes=j)
                facts.append(
                    Fact(
                        uuid.uuid4(),
                        delivery_id,
                        change=Change(uuid.uuid4(), when, None, None, voided=True)
                        if change is None
                        else Change(uuid.uuid4(), when, change[0], change[1]),
                    )
                )
        for school, offset, minutes, notice_hours, stream, party, sends in draw(
            st.lists(cancellation, max_size=4)
        ):
            appointment_id = uuid.uuid4()
            starts_at = datetime.combine(date(2025, 9, 1) + timedelta(days=offset), time(9), LONDON)
            cancelled = CancelledAppointment(
                appointment_id,
                school,
                stream,
                starts_at,
                starts_at + timedelta(minutes=minutes),
                starts_at - timedelta(hours=notice_hours),
                party,
            )
            # scheduling may send the same cancellation again, with a new event id
            facts.extend(
                Fact(uuid.uuid4(), appointment_id, cancellation=cancelled) for _ in range(sends)
            )
        sla_minutes = draw(st.sampled_from([0, 60, 5 * 360, 8 * 360]))
        agreements = (
            (Agreement(uuid.uuid4(), SCHOOLS[0], date(2025, 9, 1), date(2026, 8, 31), sla_minutes),)
            if sla_minutes
            else ()
        )
        return facts, agreements

    return build()


def final_value(
    facts: list[Fact], agreements: tuple[Agreement, ...]
) -> dict[tuple[str, date], int]:
    """The priced value of the delivered time and the late cancellation charges, straight from
    the facts (no ledger)."""
    book = Book(agreements)
    for fact in facts:
        if fact.recorded is not None:
            book.recorded.setdefault(fact.delivery_id, fact.recorded)
        if fact.change is not None:
            book.changes.setdefault(fact.delivery_id, {})[fact.change.change_id] = fact.change
        if fact.cancellation is not None:
            book.judge(fact.cancellation)
    prices, _ = price_deliveries(book.states(), lambda _: LEICESTER, agreements)
    value: dict[tuple[str, date], int] = defaultdict(int)
    for p in prices:
        d = book.recorded[p.delivery_id]
        value[(d.school_urn, period_of(d.delivered_on).start)] += p.pence
    return value


def invoiced_minus_credited(book: Book) -> dict[tuple[str, date], int]:
    totals: dict[tuple[str, date], int] = defaultdict(int)
    for school, _, _, lines in book.documents:
        for line in lines:
            totals[(school, period_of(line.delivered_on).start)] += line.pence
    return totals


def nonzero(values: dict[tuple[str, date], int]) -> dict[tuple[str, date], int]:
    return {k: v for k, v in values.items() if v}


@settings(max_examples=150, deadline=None)
@given(
    facts_strategy(),
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 40), max_size=6),
)
def test_invoiced_minus_credited_is_the_priced_value_whatever_the_order(
    data: tuple[list[Fact], tuple[Agreement, ...]], rnd: random.Random, closes: list[int]
) -> None:
    facts, agreements = data
    delivered = [*facts, *rnd.sample(facts, k=min(3, len(facts)))]
    rnd.shuffle(delivered)
    book = Book(agreements)
    for step, fact in enumerate(delivered):
        book.apply(fact)
        if step in closes:  # a period closes between two events: later ones become adjustments
            book.close_next_period()
    book.close_all(until=date(2026, 1, 31))
    assert nonzero(invoiced_minus_credited(book)) == nonzero(final_value(facts, agreements))
    for _, kind, _, lines in book.documents:
        assert lines and sum(line.pence for line in lines) != 0
        if kind is DocumentKind.CREDIT_NOTE:
            assert all(line.pence < 0 and line.adjustment for line in lines)
        else:
            assert all(line.pence >= 0 for line in lines)


@settings(max_examples=150, deadline=None)
@given(
    facts_strategy(),
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 40), max_size=6),
    st.integers(0, 40),
)
def test_time_held_until_its_tariff_arrives_is_invoiced_as_if_the_tariff_had_been_there(
    data: tuple[list[Fact], tuple[Agreement, ...]],
    rnd: random.Random,
    closes: list[int],
    arrives: int,
) -> None:
    """Periods close while time waits for its tariff; once the tariff arrives (at any point)
    the time is priced in its own period, as adjustments where that period was closed, and
    invoiced minus credited is the priced value again, cancellation charges included."""
    facts, agreements = data
    delivered = [*facts, *rnd.sample(facts, k=min(3, len(facts)))]
    rnd.shuffle(delivered)
    book = WaitingBook(agreements)
    for step, fact in enumerate(delivered):
        if step == arrives:
            book.tariff_arrives()
        book.apply(fact)
        if step in closes:
            book.close_next_period()
    if not book.tariff_known:
        book.tariff_arrives()
    book.close_all(until=date(2026, 1, 31))
    assert not book.waiting
    assert nonzero(invoiced_minus_credited(book)) == nonzero(final_value(facts, agreements))


@settings(max_examples=100, deadline=None)
@given(facts_strategy(), st.randoms(use_true_random=False))
def test_a_replay_in_another_order_gives_the_same_documents_line_by_line(
    data: tuple[list[Fact], tuple[Agreement, ...]], rnd: random.Random
) -> None:
    facts, agreements = data
    replayed = [*facts, *facts]
    rnd.shuffle(replayed)
    books = []
    for order in (facts, replayed):
        book = Book(agreements)
        for fact in order:
            book.apply(fact)
        book.close_all(until=date(2026, 1, 31))
        books.append(book)

    def comparable(book: Book) -> list[tuple[object, ...]]:
        return [
            (
                school,
                kind,
                period,
                [(ln.delivery_id, ln.delivered_on, ln.pence, ln.sla_minutes) for ln in lines],
            )
            for school, kind, period, lines in book.documents
        ]

    assert comparable(books[0]) == comparable(books[1])


@settings(max_examples=100, deadline=None)
@given(facts_strategy(), st.randoms(use_true_random=False))
def test_without_an_sla_each_late_cancellation_is_invoiced_once_at_the_spot_price_of_its_length(
    data: tuple[list[Fact], tuple[Agreement, ...]], rnd: random.Random
) -> None:
    facts, _ = data
    cancellations = [f for f in facts if f.cancellation is not None]
    delivered = [*cancellations, *cancellations]  # every cancellation redelivered
    rnd.shuffle(delivered)
    book = Book(())
    for fact in delivered:
        book.apply(fact)
    book.close_all(until=date(2026, 1, 31))
    expected = 0
    cancelled = [f.cancellation for f in cancellations if f.cancellation is not None]
    for c in {c.appointment_id: c for c in cancelled}.values():
        # both in London time: aware arithmetic and comparison by the wall clock, as the rule
        late = c.cancelled_at > c.starts_at - timedelta(days=14)
        if (
            late
            and c.funding_stream is FundingStream.TRADED
            and c.cancelled_by is not CancellationParty.SERVICE
        ):
            expected += LEICESTER.spot_cover(c.minutes).pence
    assert sum(line.pence for *_, lines in book.documents for line in lines) == expected
