"""Delivered-time events become commands; the consumer routes all three to one batch handler.
Cancellations become charge commands, unless they come from a producer too old to say enough."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from eps_billing.domain.commands import CorrectDeliveredTime, RecordDeliveredTime, VoidDeliveredTime
from eps_billing.entrypoints.events import (
    appointments,
    charge_for,
    command_for,
    delivered_time,
    on_appointment_cancelled,
    on_delivered_time,
)
from eps_chassis.decoding import Valid
from eps_contracts.scheduling import APPOINTMENTS, DELIVERED_TIME, CancellationParty, FundingStream
from structlog.testing import capture_logs

from tests.support.builders import billing as builders
from tests.support.builders.billing import LEICESTER
from tests.support.builders.billing import consumer_record as record
from tests.support.fakes.billing import FakeBillingUnitOfWork


def test_every_delivered_time_event_goes_to_the_batch_handler() -> None:
    delivery = uuid.uuid4()
    for envelope in (
        builders.recorded("123456", 90, date(2025, 10, 6), delivery_id=delivery),
        builders.corrected(delivery, 60),
        builders.voided(delivery),
    ):
        decoded = delivered_time.decode(record(builders.raw(envelope), DELIVERED_TIME))
        assert isinstance(decoded, Valid)
        assert decoded.handler is None and decoded.batch_handler is on_delivered_time
        assert decoded.envelope == envelope


def test_events_become_commands_with_the_time_scheduling_recorded_them() -> None:
    envelope = builders.recorded("123456", 90, date(2025, 10, 6), FundingStream.CORE)
    command = command_for(envelope)
    assert isinstance(command, RecordDeliveredTime)
    assert (command.recorded_at, command.event_id, command.minutes) == (
        envelope.time,
        envelope.id,
        90,
    )
    assert command.funding_stream is FundingStream.CORE
    correction = builders.corrected(envelope.data.delivery_id, 30)
    corrected = command_for(correction)
    assert isinstance(corrected, CorrectDeliveredTime)
    assert (corrected.change_id, corrected.at) == (correction.data.correction_id, correction.time)
    void = command_for(builders.voided(envelope.data.delivery_id))
    assert isinstance(void, VoidDeliveredTime) and void.delivery_id == envelope.data.delivery_id


def test_a_cancellation_becomes_a_charge_command_and_an_old_one_is_ignored_with_a_log_line() -> (
    None
):
    start = datetime(2025, 11, 18, 9, tzinfo=UTC)
    envelope = builders.cancelled(
        "123456", start, 120, start - timedelta(days=2), by=CancellationParty.SCHOOL
    )
    decoded = appointments.decode(record(builders.raw(envelope), APPOINTMENTS))
    assert isinstance(decoded, Valid) and decoded.handler is on_appointment_cancelled
    cmd = charge_for(decoded.envelope)
    assert cmd is not None
    assert (cmd.appointment_id, cmd.school_urn, cmd.funding_stream, cmd.event_id) == (
        envelope.data.appointment_id,
        "123456",
        FundingStream.TRADED,
        envelope.id,
    )
    assert (cmd.starts_at, cmd.ends_at, cmd.cancelled_at) == (
        start,
        start + timedelta(hours=2),
        start - timedelta(days=2),
    )
    assert cmd.cancelled_by is CancellationParty.SCHOOL

    old = builders.cancelled_by_an_old_producer(uuid.uuid4())
    decoded = appointments.decode(record(builders.raw(old), APPOINTMENTS))
    assert isinstance(decoded, Valid)  # valid, so never dead-lettered
    assert charge_for(decoded.envelope) is None
    with capture_logs() as logs:
        # no unit of work: a cancellation that is not charged never touches one
        asyncio.run(on_appointment_cancelled(decoded.envelope, None))  # type: ignore[arg-type]
    assert [entry["appointment_id"] for entry in logs] == [str(old.data.appointment_id)]
    assert "not charged" in logs[0]["event"]


async def test_a_batch_of_several_authorities_is_priced_in_each_ones_own_unit_of_work() -> None:
    leicester = FakeBillingUnitOfWork(tariffs=[LEICESTER])
    hour = builders.recorded("123456", 60, date(2025, 10, 6))
    elsewhere = builders.recorded("123456", 60, date(2025, 10, 6), tenant="knowsley")
    await on_delivered_time([elsewhere, hour], leicester)
    assert leicester.prices.charged(hour.data.delivery_id) == 15000
    assert list(leicester.deliveries.rows) == [hour.data.delivery_id]
    knowsley = leicester.by_tenant["knowsley"]  # no tariff there: held, not refused
    assert knowsley.deliveries.rows[elsewhere.data.delivery_id].held_reason == (
        "knowsley has no confirmed tariff in force on 2025-10-06"
    )
