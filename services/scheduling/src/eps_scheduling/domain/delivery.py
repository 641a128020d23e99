"""Delivered time: what an EP actually gave, priced once by billing; corrected or voided later."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from eps_chassis.errors import Conflict, DomainError
from eps_chassis.london import london_date
from eps_contracts import Event
from eps_contracts.scheduling import (
    AppointmentKind,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
    FundingStream,
)

from eps_scheduling.domain.calendar import MINUTES_PER_DAY
from eps_scheduling.domain.model import Appointment, AppointmentStatus


def check_minutes(minutes: int) -> None:
    if not 0 < minutes <= MINUTES_PER_DAY:
        raise DomainError(f"must be 1 to {MINUTES_PER_DAY} whole minutes", field="minutes")


@dataclass
class Delivery:
    delivery_id: uuid.UUID
    appointment_id: uuid.UUID
    school_urn: str
    referral_id: uuid.UUID | None
    ep_id: str
    activity: AppointmentKind
    minutes: int
    delivered_on: date
    funding_stream: FundingStream
    voided: bool = False
    events: list[Event] = field(default_factory=list)

    @classmethod
    def record(
        cls, appointment: Appointment, minutes: int, funding_stream: FundingStream | None = None
    ) -> Delivery:
        """Log the time delivered at a completed appointment (on its Europe/London date)."""
        if appointment.status is not AppointmentStatus.COMPLETED:
            raise Conflict("time is logged only for a completed appointment")
        if appointment.school_urn is None:
            raise DomainError("the appointment has no school to account to", field="school_urn")
        check_minutes(minutes)
        delivery = cls(
            delivery_id=uuid.uuid4(),
            appointment_id=appointment.appointment_id,
            school_urn=appointment.school_urn,
            referral_id=appointment.referral_id,
            ep_id=appointment.ep_id,
            activity=appointment.kind,
            minutes=minutes,
            delivered_on=london_date(appointment.starts_at),
            funding_stream=funding_stream or appointment.funding_stream,
        )
        delivery.events.append(
            DeliveredTimeRecorded(
                delivery_id=delivery.delivery_id,
                appointment_id=delivery.appointment_id,
                school_urn=delivery.school_urn,
                referral_id=delivery.referral_id,
                ep_id=delivery.ep_id,
                activity=delivery.activity,
                minutes=minutes,
                delivered_on=delivery.delivered_on,
                funding_stream=delivery.funding_stream,
            )
        )
        return delivery

    def correct(
        self, correction_id: uuid.UUID, minutes: int, funding_stream: FundingStream, reason: str
    ) -> None:
        if self.voided:
            raise Conflict("a voided delivery cannot be corrected")
        check_minutes(minutes)
        if (minutes, funding_stream) == (self.minutes, self.funding_stream):
            raise Conflict("the correction changes nothing")
        self.minutes, self.funding_stream = minutes, funding_stream
        self.events.append(
            DeliveredTimeCorrected(
                delivery_id=self.delivery_id,
                correction_id=correction_id,
                minutes=minutes,
                funding_stream=funding_stream,
                reason=reason,
            )
        )

    def void(self, reason: str) -> None:
        if self.voided:
            raise Conflict("the delivery is already voided")
        self.voided = True
        self.events.append(DeliveredTimeVoided(delivery_id=self.delivery_id, reason=reason))
