"""Delivered-time events become commands; the consumer routes all three to one batch handler."""

from __future__ import annotations

import uuid
from datetime import date

from eps_billing.domain.commands import CorrectDeliveredTime, RecordDeliveredTime, VoidDeliveredTime
from eps_billing.entrypoints.events import command_for, delivered_time, on_delivered_time
from eps_chassis.consumer import _Valid
from eps_contracts.scheduling import FundingStream

from tests.unit.billing import events
from tests.unit.chassis.test_consumer_decode import record


def test_every_delivered_time_event_goes_to_the_batch_handler() -> None:
    delivery = uuid.uuid4()
    for envelope in (
        events.recorded("123456", 90, date(2025, 10, 6), delivery_id=delivery),
        events.corrected(delivery, 60),
        events.voided(delivery),
    ):
        decoded = delivered_time.decode(record(events.raw(envelope)))
        assert isinstance(decoded, _Valid)
        assert decoded.handler is None and decoded.batch_handler is on_delivered_time
        assert decoded.envelope == envelope


def test_events_become_commands_with_the_time_scheduling_recorded_them() -> None:
    envelope = events.recorded("123456", 90, date(2025, 10, 6), FundingStream.CORE)
    command = command_for(envelope)
    assert isinstance(command, RecordDeliveredTime)
    assert (command.recorded_at, command.tenant, command.minutes) == (
        envelope.time,
        "leicester-city",
        90,
    )
    assert command.funding_stream is FundingStream.CORE
    correction = events.corrected(envelope.data.delivery_id, 30)
    corrected = command_for(correction)
    assert isinstance(corrected, CorrectDeliveredTime)
    assert (corrected.change_id, corrected.at) == (correction.data.correction_id, correction.time)
    void = command_for(events.voided(envelope.data.delivery_id))
    assert isinstance(void, VoidDeliveredTime) and void.delivery_id == envelope.data.delivery_id
