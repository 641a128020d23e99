"""Tariffs: what a local authority charges schools for traded EP time. Data, not code.

A tariff is one local authority's rules for a span of dates, kept by the authority's finance
officers over HTTP (``service_layer/tariffs.py``) as a JSON document (the ``tariffs`` table), so
another authority's or year's units, prices, SLA limits, carry-over, critical-incident and
cancellation rules are data, not a release. Spans of one authority never overlap
(``check_no_overlap``); a draft prices nothing until it is confirmed:

    {"spot_units": [{"name": "hour", "minutes": 60, "pence": 15000}, ...],
     "sla": {"day_minutes": 360, "day_pence": 65000, "min_days": 5, "max_days": 30,
             "carry_over": true},
     "spot_rounding": {"increment_minutes": 1, "mode": "up"},
     "critical_incident": "free" | "traded",
     "cancellation_full_charge_days": 14,
     "billing_period_months": 1,
     "billing_year_starts_month": 4,
     "grace_days": 5}

**Rounding rule (spot time).** First the minutes are rounded as the authority says
(``spot_rounding``: to a multiple of ``increment_minutes``, ``up``, ``down`` or to the ``nearest``
with halves up; a positive time never rounds to nothing, so at least one increment is charged).
The default (1 minute, up) leaves the minutes as they are. Then time beyond a school's SLA
balance is charged as whole spot units:
the cheapest combination of the authority's units whose total length covers the minutes (so part
of a unit is charged as the whole unit); between equally cheap covers, the one with fewer units,
then with the shortest total length. Leicester 2025/26: 4 h = half day + 1 hour = GBP 550 (not a
day at GBP 700); 61 minutes = 2 hours = GBP 300; 5 h = day (GBP 700) because half day + 2 hours
costs GBP 700 too, with more units. Prices are integer pence, so no fraction ever appears.
"""

from __future__ import annotations

import functools
import uuid
from calendar import monthrange
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from eps_chassis.errors import Conflict, DomainError
from eps_chassis.london import LONDON, start_of_day


class Rounding(StrEnum):
    UP = "up"
    NEAREST = "nearest"  # halves up
    DOWN = "down"


def round_minutes(minutes: int, increment: int, mode: Rounding) -> int:
    """``minutes`` rounded to a multiple of ``increment``; positive time stays positive."""
    if minutes <= 0:
        return 0
    whole, part = divmod(minutes, increment)
    if (mode is Rounding.UP and part) or (mode is Rounding.NEAREST and 2 * part >= increment):
        whole += 1
    return max(whole, 1) * increment


class TariffStatus(StrEnum):
    DRAFT = "draft"  # prices nothing until confirmed (a year carried forward, say)
    CONFIRMED = "confirmed"  # in force: prices everything on its dates


class CriticalIncidentRule(StrEnum):
    FREE = "free"  # the LA funds critical-incident response
    TRADED = "traded"  # charged to the school like traded time (SLA first, then spot)


@dataclass(frozen=True, slots=True, order=True)
class SpotUnit:
    minutes: int
    pence: int
    name: str


@dataclass(frozen=True, slots=True)
class SpotCover:
    """Spot units charged for some minutes: ``units`` is ((unit name, count), ...)."""

    minutes: int
    pence: int
    units: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        return " + ".join(f"{n} x {name}" for name, n in self.units) or "none"


@dataclass(frozen=True, slots=True)
class Tariff:
    tenant: str
    effective_from: date
    effective_to: date
    spot_units: tuple[SpotUnit, ...]
    sla_day_minutes: int
    sla_day_pence: int
    sla_min_days: int
    sla_max_days: int
    sla_carry_over: bool
    critical_incident: CriticalIncidentRule
    cancellation_full_charge_days: int
    billing_period_months: int
    grace_days: int
    # periods are counted from this month: the LA's financial year (April, in England), so that
    # no invoice spans two financial years
    billing_year_starts_month: int = 4
    spot_rounding_minutes: int = 1
    spot_rounding: Rounding = Rounding.UP

    @classmethod
    def from_rules(
        cls, tenant: str, effective_from: date, effective_to: date, rules: dict[str, Any]
    ) -> Tariff:
        try:
            sla = rules["sla"]
            rounding = rules.get("spot_rounding", {})
            tariff = cls(
                tenant=tenant,
                effective_from=effective_from,
                effective_to=effective_to,
                spot_units=tuple(
                    sorted(
                        SpotUnit(int(u["minutes"]), int(u["pence"]), str(u["name"]))
                        for u in rules["spot_units"]
                    )
                ),
                sla_day_minutes=int(sla["day_minutes"]),
                sla_day_pence=int(sla["day_pence"]),
                sla_min_days=int(sla["min_days"]),
                sla_max_days=int(sla["max_days"]),
                sla_carry_over=bool(sla["carry_over"]),
                critical_incident=CriticalIncidentRule(rules["critical_incident"]),
                cancellation_full_charge_days=int(rules.get("cancellation_full_charge_days", 0)),
                billing_period_months=int(rules.get("billing_period_months", 1)),
                grace_days=int(rules.get("grace_days", 5)),
                billing_year_starts_month=int(rules.get("billing_year_starts_month", 4)),
                spot_rounding_minutes=int(rounding.get("increment_minutes", 1)),
                spot_rounding=Rounding(rounding.get("mode", "up")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DomainError(f"tariff rules are incomplete or invalid: {exc!r}") from exc
        tariff.check()
        return tariff

    def check(self) -> None:
        """The rules hang together; a refusal names the field at fault (as the HTTP body has it)."""
        if not self.spot_units:
            raise DomainError("a tariff needs at least one spot unit", field="spot_units")
        if any(u.minutes <= 0 or u.pence < 0 for u in self.spot_units):
            raise DomainError(
                "spot units need a positive length and a price of at least 0 pence",
                field="spot_units",
            )
        names = [u.name for u in self.spot_units]
        if len(set(names)) != len(names) or not all(n.strip() for n in names):
            raise DomainError("spot units need distinct, non-empty names", field="spot_units")
        if self.sla_day_minutes <= 0 or self.sla_day_pence < 0:
            raise DomainError(
                "an SLA day needs a positive length and a price of at least 0 pence",
                field="sla.day_minutes" if self.sla_day_minutes <= 0 else "sla.day_pence",
            )
        if not 0 < self.sla_min_days <= self.sla_max_days:
            raise DomainError(
                "SLA limits need 0 < min_days <= max_days",
                field="sla.min_days" if self.sla_min_days <= 0 else "sla.max_days",
            )
        if self.billing_period_months not in (1, 2, 3, 4, 6, 12):
            raise DomainError(
                "billing period must divide a year into whole months (1, 2, 3, 4, 6 or 12)",
                field="billing_period_months",
            )
        if self.spot_rounding_minutes <= 0:
            raise DomainError(
                "spot time is rounded to a positive number of minutes",
                field="spot_rounding.increment_minutes",
            )
        if not 1 <= self.billing_year_starts_month <= 12:
            raise DomainError(
                "billing year must start in a month from 1 to 12",
                field="billing_year_starts_month",
            )
        if self.cancellation_full_charge_days < 0:
            raise DomainError(
                "notice is a number of days, at least 0", field="cancellation_full_charge_days"
            )
        if self.grace_days < 0:
            raise DomainError("grace is a number of days, at least 0", field="grace_days")
        if self.effective_to < self.effective_from:
            raise DomainError("tariff ends before it starts", field="effective_to")

    def rules(self) -> dict[str, Any]:
        """The rules as the ``tariffs`` table and the HTTP API hold them, every field given."""
        return {
            "spot_units": [
                {"name": u.name, "minutes": u.minutes, "pence": u.pence} for u in self.spot_units
            ],
            "spot_rounding": {
                "increment_minutes": self.spot_rounding_minutes,
                "mode": str(self.spot_rounding),
            },
            "sla": {
                "day_minutes": self.sla_day_minutes,
                "day_pence": self.sla_day_pence,
                "min_days": self.sla_min_days,
                "max_days": self.sla_max_days,
                "carry_over": self.sla_carry_over,
            },
            "critical_incident": str(self.critical_incident),
            "cancellation_full_charge_days": self.cancellation_full_charge_days,
            "billing_period_months": self.billing_period_months,
            "billing_year_starts_month": self.billing_year_starts_month,
            "grace_days": self.grace_days,
        }

    def overlaps(self, first: date, last: date) -> bool:
        return self.effective_from <= last and first <= self.effective_to

    def covers(self, day: date) -> bool:
        return self.effective_from <= day <= self.effective_to

    def period_of(self, day: date) -> BillingPeriod:
        """The billing period holding ``day`` under this tariff."""
        return period_of(day, self.billing_period_months, self.billing_year_starts_month)

    def next_period(self, period: BillingPeriod) -> BillingPeriod:
        return self.period_of(period.end + timedelta(days=1))

    def spot_cover(self, minutes: int) -> SpotCover:
        """What ``minutes`` of spot time cost: rounded by the authority's rule, then covered."""
        rounded = round_minutes(minutes, self.spot_rounding_minutes, self.spot_rounding)
        return cheapest_cover(rounded, self.spot_units)

    def check_sla_days(self, days: int) -> None:
        """An SLA purchase must be within the authority's limits; the error states the rule."""
        if not self.sla_min_days <= days <= self.sla_max_days:
            raise DomainError(
                f"an SLA is bought for {self.sla_min_days} to {self.sla_max_days} days a year"
                f" ({self.tenant}, from {self.effective_from}); {days} requested",
                field="days",
            )


def cheapest_cover(minutes: int, units: tuple[SpotUnit, ...]) -> SpotCover:
    """The cheapest whole-unit cover of ``minutes`` (see the module's rounding rule)."""
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if minutes == 0:
        return SpotCover(0, 0, ())
    return _cover(minutes, units)


@functools.lru_cache(maxsize=65536)
def _cover(minutes: int, units: tuple[SpotUnit, ...]) -> SpotCover:
    # best[m] = (pence, unit count, length, counts) of the best cover of at least m minutes
    Best = tuple[int, int, int, tuple[int, ...]]
    best: list[Best] = [(0, 0, 0, (0,) * len(units))]
    for m in range(1, minutes + 1):
        candidates = []
        for i, unit in enumerate(units):
            pence, count, length, counts = best[max(0, m - unit.minutes)]
            bumped = tuple(c + (1 if j == i else 0) for j, c in enumerate(counts))
            candidates.append((pence + unit.pence, count + 1, length + unit.minutes, bumped))
        best.append(min(candidates))
    pence, _, length, counts = best[minutes]
    chosen = tuple(
        (unit.name, n) for unit, n in sorted(zip(units, counts, strict=True), reverse=True) if n
    )
    return SpotCover(length, pence, chosen)


# --- tariffs beside each other ----------------------------------------------------------


def check_no_overlap(candidate: Tariff, others: Iterable[Tariff]) -> None:
    """One tariff per day and authority: a candidate that overlaps another (draft or confirmed)
    is refused, naming the date that runs into it."""
    for other in sorted(others, key=lambda t: t.effective_from):
        if not other.overlaps(candidate.effective_from, candidate.effective_to):
            continue
        starts_inside = other.covers(candidate.effective_from)
        raise Conflict(
            f"{candidate.tenant} already has a tariff from {other.effective_from} to"
            f" {other.effective_to}; tariffs of one authority may not overlap",
            field="effective_from" if starts_inside else "effective_to",
        )


def a_year_on(day: date, *, end: bool = False) -> date:
    """The same date a year later. 29 February becomes 28 February for the last day of a span
    and 1 March for the first, so that spans moved on stay whole and never overlap."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return date(day.year + 1, 2, 28) if end else date(day.year + 1, 3, 1)


def carried_forward(tariff: Tariff) -> tuple[date, date]:
    """The dates of a tariff carried forward to the next year: each moved on a year."""
    return a_year_on(tariff.effective_from), a_year_on(tariff.effective_to, end=True)


def uncovered(before: Tariff, after: Tariff) -> list[tuple[str, date, date]]:
    """Dates ``before`` covered that ``after`` no longer does, with the field that gives them
    up: (field, first day, last day)."""
    gaps = []
    if before.effective_from < after.effective_from:
        last = min(before.effective_to, after.effective_from - timedelta(days=1))
        gaps.append(("effective_from", before.effective_from, last))
    if before.effective_to > after.effective_to:
        first = max(before.effective_from, after.effective_to + timedelta(days=1))
        gaps.append(("effective_to", first, before.effective_to))
    return gaps


@dataclass(frozen=True, slots=True)
class TariffRecord:
    """A tariff as kept: its rules and dates, whether in force, and who did what when."""

    tariff_id: uuid.UUID
    tariff: Tariff
    status: TariffStatus
    revision: int
    created_by: str
    created_at: datetime
    confirmed_by: str | None
    confirmed_at: datetime | None
    carried_forward_from: uuid.UUID | None


class Tariffs:
    """One authority's confirmed tariffs (the only ones that price anything), found by date."""

    def __init__(self, tenant: str, tariffs: Sequence[Tariff]) -> None:
        self.tenant = tenant
        self.tariffs = tuple(sorted(tariffs, key=lambda t: t.effective_from))
        self._by_day: dict[date, Tariff | None] = {}  # pricing asks several times per delivery

    def find(self, day: date) -> Tariff | None:
        try:
            return self._by_day[day]
        except KeyError:
            found = self._by_day[day] = next((t for t in self.tariffs if t.covers(day)), None)
            return found

    def at(self, day: date) -> Tariff:
        tariff = self.find(day)
        if tariff is None:
            raise DomainError(f"{self.tenant} has no tariff in force on {day}", field="date")
        return tariff

    def latest_before(self, day: date) -> Tariff | None:
        started = [t for t in self.tariffs if t.effective_from <= day]
        return started[-1] if started else (self.tariffs[0] if self.tariffs else None)


# --- billing periods and their close -------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class BillingPeriod:
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


@functools.lru_cache(maxsize=4096)  # pricing asks it for every ledger line
def period_of(day: date, months: int = 1, year_starts_month: int = 4) -> BillingPeriod:
    """The billing period holding ``day``: whole calendar months, grouped from the first month
    of the billing year (April: the financial year of an English local authority).

    Periods never cross the start of the billing year, so quarterly, four-monthly, half-yearly
    and yearly invoices each fall within one financial year (for example half years are April
    to September and October to March, never January to June). Monthly periods are calendar
    months; quarterly ones are calendar quarters when the year starts in January, April, July
    or October.
    """
    index = day.year * 12 + day.month - 1  # months since year 0
    start = index - (day.month - year_starts_month) % 12 % months
    end = start + months - 1
    start_year, start_month = divmod(start, 12)
    end_year, end_month = divmod(end, 12)
    return BillingPeriod(
        date(start_year, start_month + 1, 1),
        date(end_year, end_month + 1, monthrange(end_year, end_month + 1)[1]),
    )


def next_period(
    period: BillingPeriod, months: int = 1, year_starts_month: int = 4
) -> BillingPeriod:
    return period_of(period.end + timedelta(days=1), months, year_starts_month)


def closes_at(period: BillingPeriod, grace_days: int) -> datetime:
    """When a period's draft stops absorbing late events: local midnight after the grace days."""
    return start_of_day(period.end + timedelta(days=1 + grace_days)).astimezone(LONDON)
