"""Kafka entrypoints: delivered-time events into commands, a polled batch at a time; cancelled
appointments into cancellation charges, one event at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eps_chassis.consumer import BatchEventRejected, BatchUnitOfWork, EventConsumer
from eps_chassis.errors import DomainError, EventRejected
from eps_chassis.logging import get_logger
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts import Envelope
from eps_contracts.scheduling import (
    APPOINTMENTS,
    DELIVERED_TIME,
    AppointmentCancelled,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
)

from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    DeliveredTimeCommand,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.service_layer import handlers

log = get_logger()

delivered_time = EventConsumer(
    name="delivered-time",
    topics=[DELIVERED_TIME],
    batch_size=1000,
    description="Delivered EP time, priced once per delivery; corrections and voids adjust it.",
)


def command_for(envelope: Envelope[Any]) -> DeliveredTimeCommand:
    data = envelope.data
    if isinstance(data, DeliveredTimeRecorded):
        return RecordDeliveredTime(
            event_id=envelope.id,
            tenant=envelope.tenant,
            delivery_id=data.delivery_id,
            school_urn=data.school_urn,
            delivered_on=data.delivered_on,
            minutes=data.minutes,
            funding_stream=data.funding_stream,
            recorded_at=envelope.time,
        )
    if isinstance(data, DeliveredTimeCorrected):
        return CorrectDeliveredTime(
            event_id=envelope.id,
            tenant=envelope.tenant,
            delivery_id=data.delivery_id,
            change_id=data.correction_id,
            at=envelope.time,
            minutes=data.minutes,
            funding_stream=data.funding_stream,
            reason=data.reason,
        )
    assert isinstance(data, DeliveredTimeVoided)
    return VoidDeliveredTime(
        event_id=envelope.id,
        tenant=envelope.tenant,
        delivery_id=data.delivery_id,
        at=envelope.time,
        reason=data.reason,
    )


@delivered_time.on_batch(DeliveredTimeRecorded, DeliveredTimeCorrected, DeliveredTimeVoided)
async def on_delivered_time(envelopes: Sequence[Envelope[Any]], uow: BatchUnitOfWork) -> None:
    refusal = await handlers.price_delivered_time([command_for(e) for e in envelopes], uow.conn)
    if refusal is not None:
        raise BatchEventRejected(refusal.event_id, refusal.reason)


appointments = EventConsumer(
    name="appointments",
    topics=[APPOINTMENTS],
    batch_size=100,
    description="Cancelled appointments: late cancellations of traded time are charged once.",
)


def charge_for(envelope: Envelope[AppointmentCancelled]) -> ChargeCancellation | None:
    """The command for a cancellation; None when the event lacks what billing needs (sent by
    scheduling before cancellations carried their school, funding and times)."""
    data = envelope.data
    if (
        data.school_urn is None
        or data.funding_stream is None
        or data.starts_at is None
        or data.ends_at is None
        or data.cancelled_at is None
    ):
        return None
    return ChargeCancellation(
        event_id=envelope.id,
        tenant=envelope.tenant,
        appointment_id=data.appointment_id,
        school_urn=data.school_urn,
        funding_stream=data.funding_stream,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        cancelled_at=data.cancelled_at,
        cancelled_by=data.cancelled_by,
    )


@appointments.on(AppointmentCancelled)
async def on_appointment_cancelled(
    envelope: Envelope[AppointmentCancelled], uow: UnitOfWork
) -> None:
    cmd = charge_for(envelope)
    if cmd is None:
        log.info(
            "cancellation not charged: the event lacks its school, funding or times",
            appointment_id=str(envelope.data.appointment_id),
            event_id=str(envelope.id),
        )
        return
    try:
        outcome = await handlers.charge_cancellation(cmd, uow.conn)
    except DomainError as exc:
        raise EventRejected.because(exc) from exc
    log.info(
        "cancellation judged",
        appointment_id=str(cmd.appointment_id),
        charged_minutes=outcome.charge.minutes,
        decision=outcome.charge.reason,
        first=outcome.first,
    )
