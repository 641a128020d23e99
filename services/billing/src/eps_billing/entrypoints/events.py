"""Kafka entrypoints: delivered-time events into commands, a polled batch at a time; cancelled
appointments into cancellation charges, and schools scheduling registers, one event at a time.

Nothing is dead-lettered for want of billing's own data: time with no tariff to price it is
held unpriced (see ``service_layer.repricing``). The dead-letter topic is for events that are
not valid (and, by the chassis, for any the domain refuses).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import asyncpg
from eps_chassis.consumer import BatchEventRejected, EventConsumer
from eps_chassis.errors import OwnedElsewhere
from eps_chassis.logging import get_logger
from eps_chassis.shards import Shards
from eps_contracts import Envelope
from eps_contracts.scheduling import (
    APPOINTMENTS,
    DELIVERED_TIME,
    SCHOOLS,
    AppointmentCancelled,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
    NamedEpAssigned,
)

from eps_billing.adapters.repository import schools_of_deliveries
from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    DeliveredTimeCommand,
    RecordDeliveredTime,
    RecordSchool,
    VoidDeliveredTime,
)
from eps_billing.service_layer import handlers
from eps_billing.service_layer.unit_of_work import BillingUnitOfWork, PostgresBillingUnitOfWork

log = get_logger()


async def same_sla(conn: asyncpg.Connection, envelopes: Sequence[Envelope[Any]]) -> list[Hashable]:
    """Each event's school: the deliveries of a school draw on its SLA one after another, so
    they are priced in one transaction; other schools' in another, side by side. A delivery's
    school is that of its first recording in the batch, else the one stored; a correction or
    void of a delivery not seen yet is keyed by the delivery (it waits for its recording)."""
    school: dict[Any, str] = {}
    for envelope in envelopes:
        if isinstance(envelope.data, DeliveredTimeRecorded):
            school.setdefault(envelope.data.delivery_id, envelope.data.school_urn)
    unseen = {e.data.delivery_id for e in envelopes} - school.keys()
    if unseen:
        school.update(await schools_of_deliveries(conn, list(unseen)))
    return [school.get(e.data.delivery_id, e.data.delivery_id) for e in envelopes]


delivered_time = EventConsumer(
    name="delivered-time",
    topics=[DELIVERED_TIME],
    # a backlog is priced six thousand at a time, in two transactions side by side (split by
    # school): one prices while the other waits on PostgreSQL. In alternated runs of
    # bench/billing.py, two shards of about three thousand ran 1.19x and 1.30x (medians of two
    # sets) as fast as one transaction of three thousand; one of six thousand ran no faster
    # than one of three, and two shards of fifteen hundred spent in Python what the overlap
    # saved (each shard's statements cost the same as a whole batch's)
    batch_size=6000,
    shards=Shards(count=2, key=same_sla, at_least=2000),
    description="Delivered EP time, priced once per delivery; corrections and voids adjust it.",
)


def command_for(envelope: Envelope[Any]) -> DeliveredTimeCommand:
    data = envelope.data
    if isinstance(data, DeliveredTimeRecorded):
        return RecordDeliveredTime(
            event_id=envelope.id,
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
        delivery_id=data.delivery_id,
        at=envelope.time,
        reason=data.reason,
    )


@delivered_time.on_batch(DeliveredTimeRecorded, DeliveredTimeCorrected, DeliveredTimeVoided)
async def on_delivered_time(
    envelopes: Sequence[Envelope[Any]], uow: PostgresBillingUnitOfWork
) -> None:
    """A polled batch may hold several local authorities: each one's events are priced in a
    unit of work of its own on the batch's transaction, bound to that authority."""
    by_tenant: dict[str, list[Envelope[Any]]] = {}
    for envelope in envelopes:
        by_tenant.setdefault(envelope.tenant, []).append(envelope)
    for tenant in sorted(by_tenant):  # one lock order across authorities
        group = by_tenant[tenant]
        # what pricing announces carries the authority, correlation and cause of its events
        try:
            await handlers.price_delivered_time(
                [command_for(e) for e in group], uow.caused_by(group[0])
            )
        except OwnedElsewhere as exc:  # the event naming it is refused, the others priced
            raise BatchEventRejected(naming(group, exc.key).id, exc.describe()) from exc


def naming(envelopes: Sequence[Envelope[Any]], key: object) -> Envelope[Any]:
    """The first event naming a delivery or a school (by its id); else the first."""
    wanted = str(key)
    return next(
        (
            e
            for e in envelopes
            if wanted in (str(e.data.delivery_id), getattr(e.data, "school_urn", None))
        ),
        envelopes[0],
    )


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
    envelope: Envelope[AppointmentCancelled], uow: BillingUnitOfWork
) -> None:
    cmd = charge_for(envelope)
    if cmd is None:
        log.info(
            "cancellation not charged: the event lacks its school, funding or times",
            appointment_id=str(envelope.data.appointment_id),
            event_id=str(envelope.id),
        )
        return
    outcome = await handlers.charge_cancellation(cmd, uow)
    if outcome.charge is None:
        log.info(
            "cancellation held unjudged",
            appointment_id=str(cmd.appointment_id),
            reason=outcome.held,
            first=outcome.first,
        )
        return
    log.info(
        "cancellation judged",
        appointment_id=str(cmd.appointment_id),
        charged_minutes=outcome.charge.minutes,
        decision=outcome.charge.reason,
        first=outcome.first,
    )


schools = EventConsumer(
    name="schools",
    topics=[SCHOOLS],
    batch_size=100,
    description="Schools scheduling registers (each gets a named EP): SLAs bought for a school"
    " billing had not heard of are priced.",
)


@schools.on(NamedEpAssigned)
async def on_named_ep_assigned(envelope: Envelope[NamedEpAssigned], uow: BillingUnitOfWork) -> None:
    priced = await handlers.record_school(
        RecordSchool(school_urn=envelope.data.school_urn, known_since=envelope.time), uow
    )
    if priced:
        log.info("SLAs priced for a school now known", school_urn=envelope.data.school_urn)
