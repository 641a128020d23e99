"""Pricing delivered time: a pure function of the deliveries as they now stand.

The value of a school's delivered time does not depend on the order events arrived in:

- a delivery's state is its recorded minutes and funding stream, overridden by its latest
  correction (ordered by the time scheduling made it, then its id); a void wins over everything.
  Corrections and voids that arrive before the delivery wait for it;
- core and statutory time is never charged; critical-incident time follows the authority's rule;
- a late cancellation charge (``cancellation``) is priced as traded time delivered on the
  appointment's date;
- traded time is drawn from the SLA agreement covering its date, in the order the deliveries
  were recorded by scheduling (then by delivery id), until the agreement's minutes run out; the
  rest of each delivery is charged at spot prices as the cheapest cover (see ``tariff``);
- where the authority carries unused SLA time over, a school's SLA for the next academic year
  holds the minutes of the previous one that are unused *as the previous year now stands*.
  Time delivered in the old year but recorded late takes its minutes back from the new year,
  so a minute bought once is never drawn twice (``price_with_carry_over``).

Re-pricing after any change gives every delivery's new value; the difference from what was
priced before becomes a ledger line (a charge or a credit), never an edit of an issued invoice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from eps_contracts.scheduling import FundingStream

from eps_billing.domain.tariff import CriticalIncidentRule, SpotCover, Tariff


@dataclass(frozen=True, slots=True)
class Change:
    """A correction (minutes and funding stream) or a void of a delivery."""

    change_id: uuid.UUID
    at: datetime
    minutes: int | None
    funding_stream: FundingStream | None
    voided: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as it now stands (after its corrections and void)."""

    delivery_id: uuid.UUID
    school_urn: str
    delivered_on: date
    minutes: int
    funding_stream: FundingStream
    recorded_at: datetime
    voided: bool = False
    late_cancellation: bool = False  # a cancellation charge (``cancellation``), not time given
    # held unpriced for want of a tariff, as stored (billing's state, not the delivery's)
    held: bool = field(default=False, compare=False)

    def with_changes(self, changes: Iterable[Change]) -> Delivery:
        ordered = sorted(changes, key=lambda c: (c.at, c.change_id))
        if not ordered:
            return self  # most deliveries are never corrected
        minutes, stream, voided = self.minutes, self.funding_stream, self.voided
        for change in ordered:
            if change.voided:
                voided = True
            else:
                minutes = change.minutes if change.minutes is not None else minutes
                stream = change.funding_stream or stream
        return Delivery(
            self.delivery_id,
            self.school_urn,
            self.delivered_on,
            minutes,
            stream,
            self.recorded_at,
            voided,
            self.late_cancellation,
            self.held,
        )

    @property
    def draw_order(self) -> tuple[datetime, uuid.UUID]:
        return (self.recorded_at, self.delivery_id)


@dataclass(frozen=True, slots=True)
class Agreement:
    """A school's SLA: minutes of EP time paid in advance, usable between two dates."""

    agreement_id: uuid.UUID
    school_urn: str
    valid_from: date
    valid_to: date
    minutes: int

    def covers(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


DrawKey = tuple[datetime, uuid.UUID]
"""Where a delivery stands in an SLA's draw order: (recorded at, delivery id)."""


@dataclass(frozen=True, slots=True)
class Reach:
    """How far past the delivery that drew an SLA's last minute (``key``) a re-pricing can
    move prices, when it gives back at most ``minutes`` of the SLA: a delivery after the key
    draws again only if the chargeable minutes of those between the key and it, as they were
    priced, add up to fewer than that. (Minutes given back are drawn in draw order, and every
    one of them is taken before a delivery whose predecessors past the key take them all.)"""

    key: DrawKey
    minutes: int


@dataclass(frozen=True, slots=True)
class Window:
    """A school's deliveries to re-price against an SLA: dated between two days, from a draw
    key on (all of them when it is None), and past a reach only as far as it goes."""

    school_urn: str
    first: date
    last: date
    start: DrawKey | None = None
    reach: Reach | None = None


@dataclass(frozen=True, slots=True)
class AgreementRow:
    """A priced SLA as pricing needs it: its minutes and how far they are drawn."""

    agreement: Agreement
    drawn_minutes: int
    last_key: DrawKey | None  # the latest delivery priced against it, in draw order
    exhausted_key: DrawKey | None  # the delivery that drew its last minute
    carried_minutes: int = 0  # of agreement.minutes, carried over from the previous year


@dataclass(frozen=True, slots=True)
class DrawState:
    """An SLA's balance after re-pricing: minutes drawn and the keys of its draw-down."""

    agreement_id: uuid.UUID
    drawn_minutes: int
    last_key: DrawKey | None
    exhausted_key: DrawKey | None


@dataclass(frozen=True, slots=True)
class Priced:
    """What one delivery costs the school now."""

    delivery_id: uuid.UUID
    sla_minutes: int
    spot_minutes: int  # minutes charged at spot prices (before rounding to units)
    pence: int
    units: tuple[tuple[str, int], ...] = ()

    @classmethod
    def free(cls, delivery_id: uuid.UUID) -> Priced:
        return cls(delivery_id, 0, 0, 0)

    def describe(self) -> str:
        parts = []
        if self.sla_minutes:
            parts.append(f"SLA {hours(self.sla_minutes)}")
        if self.spot_minutes:
            cover = SpotCover(0, self.pence, self.units)
            parts.append(f"spot {hours(self.spot_minutes)} as {cover.describe()}")
        return "; ".join(parts) or "not charged"


def hours(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}h{m:02d}"


TariffLookup = Callable[[date], Tariff]


def needs_tariff(delivery: Delivery) -> bool:
    """Whether pricing the delivery as it stands asks the tariff: core and statutory time and
    voided deliveries are free under any tariff, so they are priced even where none is in force;
    traded and critical-incident time wait for one (held as unpriced, never guessed)."""
    return not delivery.voided and delivery.funding_stream in (
        FundingStream.TRADED,
        FundingStream.CRITICAL_INCIDENT,
    )


def chargeable_minutes(delivery: Delivery, tariff: Tariff) -> int:
    """Minutes the school pays for (from its SLA or at spot prices)."""
    if delivery.voided:
        return 0
    if delivery.funding_stream is FundingStream.TRADED:
        return delivery.minutes
    if (
        delivery.funding_stream is FundingStream.CRITICAL_INCIDENT
        and tariff.critical_incident is CriticalIncidentRule.TRADED
    ):
        return delivery.minutes
    return 0  # core and statutory time are never charged to a school


def price_deliveries(
    deliveries: Iterable[Delivery],
    tariff_for: TariffLookup,
    agreements: Sequence[Agreement] = (),
    *,
    already_drawn: dict[uuid.UUID, int] | None = None,
) -> tuple[list[Priced], dict[uuid.UUID, int]]:
    """Price deliveries of one school in draw order; returns prices and minutes drawn per SLA.

    ``already_drawn`` (per agreement) lets a caller price deliveries recorded after every
    delivery already priced without reloading them (the result is the same as re-pricing all).
    """
    drawn = dict(already_drawn or {})
    priced: list[Priced] = []
    for delivery in sorted(deliveries, key=lambda d: d.draw_order):
        if not needs_tariff(delivery):
            priced.append(Priced.free(delivery.delivery_id))
            continue
        minutes = chargeable_minutes(delivery, tariff_for(delivery.delivered_on))
        if minutes == 0:
            priced.append(Priced.free(delivery.delivery_id))
            continue
        from_sla = 0
        agreement = next((a for a in agreements if a.covers(delivery.delivered_on)), None)
        if agreement is not None:
            used = drawn.get(agreement.agreement_id, 0)
            from_sla = min(minutes, agreement.minutes - used)
            drawn[agreement.agreement_id] = used + from_sla
        spot = minutes - from_sla
        cover = tariff_for(delivery.delivered_on).spot_cover(spot)
        priced.append(Priced(delivery.delivery_id, from_sla, spot, cover.pence, cover.units))
    return priced, drawn


def carried_over(previous: Agreement, drawn: int, carry_over: bool) -> int:
    """Minutes of an SLA that move into the school's SLA for the next academic year.

    What is unused now (never negative), or nothing where the authority does not carry time
    over. Moved, not copied: when the old year draws more, the carried minutes shrink by as much.
    """
    return max(0, previous.minutes - drawn) if carry_over else 0


def follows(previous: Agreement, agreement: Agreement) -> bool:
    """``agreement`` starts the day after ``previous`` ends (the next academic year's SLA)."""
    return (
        previous.school_urn == agreement.school_urn
        and previous.valid_to + timedelta(days=1) == agreement.valid_from
    )


def price_with_carry_over(
    deliveries: Iterable[Delivery],
    tariff_for: TariffLookup,
    bought: Sequence[Agreement],
) -> tuple[list[Priced], list[Agreement]]:
    """Price one school's deliveries against its yearly SLAs, carrying unused time over.

    ``bought`` holds the minutes bought for each year (without any carry-over). Each year is
    priced in turn; the next year's SLA then holds its own minutes plus what ``carried_over``
    gives from this one (by the carry-over rule of this year's tariff). Returns the prices and
    the agreements with the minutes they hold in the end. This is the rule the service applies
    incrementally, whatever order the events come in.
    """
    remaining = list(deliveries)
    prices: list[Priced] = []
    held: list[Agreement] = []
    drawn_before = 0
    for agreement in sorted(bought, key=lambda a: a.valid_from):
        carried = 0
        if held and follows(held[-1], agreement):
            rule = tariff_for(held[-1].valid_from).sla_carry_over
            carried = carried_over(held[-1], drawn_before, rule)
        holding = replace(agreement, minutes=agreement.minutes + carried)
        inside = [d for d in remaining if holding.covers(d.delivered_on)]
        remaining = [d for d in remaining if not holding.covers(d.delivered_on)]
        priced, drawn = price_deliveries(inside, tariff_for, [holding])
        prices.extend(priced)
        held.append(holding)
        drawn_before = drawn.get(holding.agreement_id, 0)
    prices.extend(price_deliveries(remaining, tariff_for)[0])
    return prices, held
