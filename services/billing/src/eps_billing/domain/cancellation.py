"""Late cancellations of traded time: what the authority's tariff charges, as a pure rule.

The rule is tariff data (``cancellation_full_charge_days``; Leicester and Nottingham 2025/26:
14, "charged in full under 14 days' notice"). A cancelled appointment is charged in full when:

- its time was **traded** (bought by the school: SLA or spot). Core, statutory and
  critical-incident time is never charged, whatever the notice;
- it was not called off by the **service** (``CancellationParty.SERVICE``: displaced by a
  critical incident, consent no longer valid, a change of named EP). A cancellation by the school,
  or one where scheduling does not say who, follows the rule;
- it was cancelled **later than the notice deadline**: the same Europe/London wall-clock time,
  that many calendar days before the start. Cancelling exactly at the deadline gives full notice
  and is free. Days are calendar days (weekends and holidays count), and the deadline keeps its
  local time across a clock change, so the notice is then 14 days and an hour (autumn) or
  14 days less an hour (spring) of elapsed time. Cancelling after the start is charged too.

Charged "in full" means the appointment's whole length is charged as traded time delivered on
the appointment's London date: drawn first from the school's SLA, the rest at spot prices as the
cheapest cover, exactly like delivered time (``pricing``). The charge is a delivery of its own
(``charge_delivery``) whose id derives from the appointment's, so an appointment is charged at
most once, whatever the number of events saying it was cancelled. Finance may waive a charge
(``waiver``): its delivery is voided, like delivered time scheduling voids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from eps_chassis.london import LONDON, london_date
from eps_contracts.scheduling import CancellationParty, FundingStream

from eps_billing.domain.commands import VoidDeliveredTime
from eps_billing.domain.pricing import Delivery
from eps_billing.domain.tariff import Tariff

CHARGE_NAMESPACE = uuid.UUID("5c1f9d2e-8a47-4b0e-a6d3-7e2b91c4f058")
WAIVER_NAMESPACE = uuid.UUID("9a4e2c71-3b8d-4f05-8e6a-1d7c5b0f2e93")


@dataclass(frozen=True, slots=True)
class CancelledAppointment:
    """An appointment as scheduling cancelled it."""

    appointment_id: uuid.UUID
    school_urn: str
    funding_stream: FundingStream
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime
    cancelled_by: CancellationParty | None = None

    @property
    def minutes(self) -> int:
        return max(0, int((self.ends_at - self.starts_at).total_seconds()) // 60)

    @property
    def on(self) -> date:
        """The appointment's Europe/London date: the date its charge is priced and billed on."""
        return london_date(self.starts_at)


@dataclass(frozen=True, slots=True)
class CancellationCharge:
    """What a cancellation costs: ``minutes`` of traded time (0: free), and why."""

    minutes: int
    reason: str

    @property
    def charged(self) -> bool:
        return self.minutes > 0


def needs_tariff(cancelled: CancelledAppointment) -> bool:
    """Whether judging the cancellation asks the tariff (``cancellation_charge`` does only for
    traded time the service did not call off): without one it waits, unjudged."""
    return (
        cancelled.funding_stream is FundingStream.TRADED
        and cancelled.cancelled_by is not CancellationParty.SERVICE
    )


def notice_deadline(starts_at: datetime, days: int) -> datetime:
    """The last moment to cancel free: the same London wall-clock time ``days`` calendar days
    before the start (in UTC)."""
    local = starts_at.astimezone(LONDON)
    wall = local.replace(tzinfo=None) - timedelta(days=days)
    return wall.replace(tzinfo=LONDON, fold=local.fold).astimezone(UTC)


def cancellation_charge(
    tariff_for: Callable[[date], Tariff], cancelled: CancelledAppointment
) -> CancellationCharge:
    """The authority's rule for one cancelled appointment (see the module docstring), by the
    tariff in force on the appointment's date (``tariff_for`` is asked only for traded time)."""
    if cancelled.funding_stream is not FundingStream.TRADED:
        return CancellationCharge(0, f"{cancelled.funding_stream} time is never charged")
    if cancelled.cancelled_by is CancellationParty.SERVICE:
        return CancellationCharge(0, "cancelled by the service")
    days = tariff_for(cancelled.on).cancellation_full_charge_days
    deadline = notice_deadline(cancelled.starts_at, days)
    if cancelled.cancelled_at <= deadline:
        return CancellationCharge(0, f"cancelled with at least {days} days' notice")
    return CancellationCharge(
        cancelled.minutes,
        f"late cancellation: under {days} days' notice"
        f" (deadline {deadline.astimezone(LONDON):%Y-%m-%d %H:%M} Europe/London)",
    )


def charge_id(appointment_id: uuid.UUID) -> uuid.UUID:
    """The id of an appointment's cancellation charge: one per appointment."""
    return uuid.uuid5(CHARGE_NAMESPACE, str(appointment_id))


def waiver(charge: uuid.UUID, reason: str, at: datetime) -> VoidDeliveredTime:
    """Finance waiving a charge voids the delivery that carries it, so the charge leaves the
    draft, or is credited on the next document if it was invoiced. One waiver per charge: its
    id is derived from the charge's, so waiving again changes nothing."""
    return VoidDeliveredTime(
        event_id=uuid.uuid5(WAIVER_NAMESPACE, str(charge)),
        delivery_id=charge,
        at=at,
        reason=f"cancellation charge waived: {reason}"[:500],
    )


def charge_delivery(cancelled: CancelledAppointment, charge: CancellationCharge) -> Delivery:
    """The charge as traded time delivered on the appointment's date, drawn from the SLA in the
    order of its cancellation (like a delivery recorded then)."""
    return Delivery(
        charge_id(cancelled.appointment_id),
        cancelled.school_urn,
        cancelled.on,
        charge.minutes,
        FundingStream.TRADED,
        cancelled.cancelled_at,
        late_cancellation=True,
    )
