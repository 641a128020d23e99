"""Service level agreements: when one can be priced, how its days may change, what to announce.

An SLA is bought for an academic year (1 September to 31 August). It is **priced** (given its
minutes and day price) by the tariff confirmed for the day it starts, for a school billing knows
(scheduling registers every school with a named EP, ``NamedEpAssigned``). Until then it is held
**unpriced** with the reason, and it gives the school no time: nothing is lost, and nothing is
guessed. Its bookable minutes are the days at the tariff's length of a day plus the time carried
over from the year before (``pricing.carried_over``).

Each change of what a school may book is announced once per transaction, with the agreement's
whole state (``Announcement``): bought when first priced, changed when its days or minutes
move, cancelled when it ends. An agreement cancelled before it was ever priced was never
announced, so nothing is said about it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from eps_chassis.errors import DomainError
from eps_contracts import Event
from eps_contracts.billing import (
    ServiceLevelAgreementBought,
    ServiceLevelAgreementCancelled,
    ServiceLevelAgreementChanged,
)

from eps_billing.domain.pricing import hours
from eps_billing.domain.tariff import Tariff

AGREEMENT_NAMESPACE = uuid.UUID("0b6f8e0c-7d0c-4d52-8f0e-2f9c6a1d3b57")


class AgreementStatus(StrEnum):
    UNPRICED = "unpriced"  # held: no confirmed tariff, school unknown, or days outside limits
    PRICED = "priced"
    CANCELLED = "cancelled"


class HoldKind(StrEnum):
    """Why something cannot be priced yet (a metric label: few values, no school)."""

    NO_TARIFF = "no_tariff"
    UNKNOWN_SCHOOL = "unknown_school"
    DAYS_OUTSIDE_LIMITS = "days_outside_limits"


@dataclass(frozen=True, slots=True)
class Hold:
    kind: HoldKind
    reason: str


def academic_year(year: int) -> tuple[date, date]:
    """The first and last day of the academic year starting in ``year`` (2025: 2025/26)."""
    return date(year, 9, 1), date(year + 1, 8, 31)


def year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


def agreement_id(
    tenant: str, school_urn: str, valid_from: date, cancelled_before: int
) -> uuid.UUID:
    """Reproducible: the first SLA of a school and year has the id it always had; one bought
    again after a cancellation counts the cancelled ones, so its id is new."""
    key = f"{tenant}/{school_urn}/{valid_from}"
    return uuid.uuid5(
        AGREEMENT_NAMESPACE, key if not cancelled_before else f"{key}/{cancelled_before}"
    )


def no_tariff(tenant: str, day: date) -> Hold:
    return Hold(HoldKind.NO_TARIFF, f"{tenant} has no confirmed tariff in force on {day}")


def agreement_hold(
    tenant: str,
    school_urn: str,
    valid_from: date,
    days: int,
    *,
    school_known: bool,
    tariff: Tariff | None,
) -> Hold | None:
    """Why an SLA cannot be priced now, or None when it can. An unknown school comes first: the
    URN may be a typo that finance cancels, whatever the tariff."""
    if not school_known:
        return Hold(
            HoldKind.UNKNOWN_SCHOOL,
            f"billing has not heard of school {school_urn} ({tenant}): the SLA is priced when"
            " scheduling registers the school",
        )
    if tariff is None:
        return no_tariff(tenant, valid_from)
    try:
        tariff.check_sla_days(days)
    except DomainError as refused:
        return Hold(HoldKind.DAYS_OUTSIDE_LIMITS, str(refused))
    return None


def sla_minutes(days: int, day_minutes: int, carried: int) -> int:
    """Bookable minutes of an SLA: its days at the tariff's length of a day, plus carry-over."""
    return days * day_minutes + carried


def check_days_change(
    tariff: Tariff, days: int, *, day_minutes: int, carried: int, drawn: int
) -> None:
    """New days for a priced SLA: within the tariff's limits, and never fewer minutes than the
    school has already drawn (time delivered is not taken back by changing the agreement)."""
    tariff.check_sla_days(days)
    minutes = sla_minutes(days, day_minutes, carried)
    if minutes < drawn:
        raise DomainError(
            f"{days} days hold {hours(minutes)} with the carry-over, but {hours(drawn)} has"
            " already been drawn; an SLA never holds less than the time already drawn",
            field="days",
        )


class Announcement(StrEnum):
    BOUGHT = "bought"
    CHANGED = "changed"
    CANCELLED = "cancelled"


def announcement(
    status: AgreementStatus,
    announced: AgreementStatus | None,
    state: tuple[int, int],
    announced_state: tuple[int | None, int | None],
) -> Announcement | None:
    """What to tell the other services about an agreement, given what they were last told.

    ``state`` is (days, minutes). Unpriced agreements are not announced (they give no time);
    one cancelled before it was announced was never known to them.
    """
    if status is AgreementStatus.PRICED:
        if announced is None:
            return Announcement.BOUGHT
        return Announcement.CHANGED if state != announced_state else None
    if status is AgreementStatus.CANCELLED and announced is AgreementStatus.PRICED:
        return Announcement.CANCELLED
    return None


@dataclass(slots=True)
class AgreementRecord:
    """An SLA as kept, whatever its status, with what the other services were last told about
    it (``announced_*``) and why it changed since (``pending_reasons``).

    :meth:`announce` records the event that tells them its whole state now, if it changed; the
    unit of work publishes it when the transaction commits.
    """

    agreement_id: uuid.UUID
    school_urn: str
    valid_from: date
    valid_to: date
    days: int
    status: AgreementStatus
    minutes: int
    carried_minutes: int
    drawn_minutes: int
    day_minutes: int | None
    day_pence: int | None
    hold: Hold | None
    held_since: datetime | None
    bought_by: str | None
    bought_at: datetime | None
    priced_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    announced_status: AgreementStatus | None
    announced_days: int | None
    announced_minutes: int | None
    pending_reasons: tuple[str, ...]
    events: list[Event] = field(default_factory=list, init=False, compare=False, repr=False)

    @property
    def academic_year(self) -> int:
        return self.valid_from.year

    def announce(self) -> bool:
        """Record what the other services should now be told (bought, changed with the reasons,
        or cancelled); False when there is nothing to tell."""
        kind = announcement(
            self.status,
            self.announced_status,
            (self.days, self.minutes),
            (self.announced_days, self.announced_minutes),
        )
        reasons = "; ".join(dict.fromkeys(self.pending_reasons)) or "agreement updated"
        # told now, or (unpriced, cancelled before it was ever told) nothing to tell them
        self.announced_status = self.status
        self.announced_days, self.announced_minutes = self.days, self.minutes
        self.pending_reasons = ()
        if kind is None:
            return False
        state: dict[str, Any] = dict(
            agreement_id=self.agreement_id,
            school_urn=self.school_urn,
            academic_year=self.academic_year,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            days=self.days,
            minutes=self.minutes,
        )
        if kind is Announcement.BOUGHT:
            self.events.append(ServiceLevelAgreementBought(**state))
        elif kind is Announcement.CANCELLED:
            reason = self.cancel_reason or "cancelled"
            self.events.append(ServiceLevelAgreementCancelled(**state, reason=reason[:500]))
        else:
            self.events.append(ServiceLevelAgreementChanged(**state, reason=reasons[:500]))
        return True
