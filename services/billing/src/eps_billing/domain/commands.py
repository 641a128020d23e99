"""Commands of the billing service: what someone (or an event) asks it to do.

Each is carried out for the local authority of the unit of work it is handled in; the one who
asks (finance over HTTP) is named in the command where billing records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eps_contracts.scheduling import CancellationParty, FundingStream

from eps_billing.domain.tariff import TariffStatus


@dataclass(frozen=True, slots=True)
class RecordDeliveredTime:
    """Price time scheduling recorded as delivered (once per delivery)."""

    event_id: uuid.UUID
    delivery_id: uuid.UUID
    school_urn: str
    delivered_on: date
    minutes: int
    funding_stream: FundingStream
    recorded_at: datetime
    late_cancellation: bool = False  # a cancellation charge, priced as traded time


@dataclass(frozen=True, slots=True)
class CorrectDeliveredTime:
    """Re-price a delivery with the minutes and funding stream scheduling corrected it to."""

    event_id: uuid.UUID
    delivery_id: uuid.UUID
    change_id: uuid.UUID
    at: datetime
    minutes: int
    funding_stream: FundingStream
    reason: str


@dataclass(frozen=True, slots=True)
class VoidDeliveredTime:
    """Take a delivery back: it costs nothing from now on."""

    event_id: uuid.UUID
    delivery_id: uuid.UUID
    at: datetime
    reason: str


DeliveredTimeCommand = RecordDeliveredTime | CorrectDeliveredTime | VoidDeliveredTime


@dataclass(frozen=True, slots=True)
class ChargeCancellation:
    """Charge a cancelled appointment by the tariff's cancellation rule (or record it as free)."""

    event_id: uuid.UUID
    appointment_id: uuid.UUID
    school_urn: str
    funding_stream: FundingStream
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime
    cancelled_by: CancellationParty | None


@dataclass(frozen=True, slots=True)
class WaiveCancellationCharge:
    """Finance waives the late-cancellation charge of an appointment, saying why."""

    appointment_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class BuyServiceLevelAgreement:
    school_urn: str
    academic_year: int  # the year the academic year starts in: 2025 for 2025/26
    days: int
    bought_by: str


@dataclass(frozen=True, slots=True)
class ChangeAgreementDays:
    agreement_id: uuid.UUID
    days: int
    reason: str


@dataclass(frozen=True, slots=True)
class CancelAgreement:
    agreement_id: uuid.UUID
    reason: str
    cancelled_by: str


@dataclass(frozen=True, slots=True)
class RecordSchool:
    """Scheduling registered a school (its named EP was assigned): billing now knows it."""

    school_urn: str
    known_since: datetime


@dataclass(frozen=True, slots=True)
class CreateTariff:
    effective_from: date
    effective_to: date
    rules: Mapping[str, Any]  # as ``Tariff.rules()`` gives them
    created_by: str
    status: TariffStatus = TariffStatus.CONFIRMED


@dataclass(frozen=True, slots=True)
class ReplaceTariff:
    tariff_id: uuid.UUID
    effective_from: date
    effective_to: date
    rules: Mapping[str, Any]
    replaced_by: str


@dataclass(frozen=True, slots=True)
class ConfirmTariff:
    tariff_id: uuid.UUID
    confirmed_by: str


@dataclass(frozen=True, slots=True)
class CarryTariffForward:
    """Copy a year's tariff to the next year (dates moved on a year) as a draft to confirm."""

    tariff_id: uuid.UUID
    carried_by: str
