"""Kafka entrypoints: translate delivered-time events into commands, a polled batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eps_chassis.consumer import BatchEventRejected, BatchUnitOfWork, EventConsumer
from eps_contracts import Envelope
from eps_contracts.scheduling import (
    DELIVERED_TIME,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
)

from eps_billing.domain.commands import (
    CorrectDeliveredTime,
    DeliveredTimeCommand,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.service_layer import handlers

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
