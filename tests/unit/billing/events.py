"""Delivered-time, cancellation and school events as scheduling publishes them, for billing's
tests and benchmark."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from eps_contracts import Envelope, envelope_for
from eps_contracts.scheduling import (
    AppointmentCancelled,
    AppointmentKind,
    CancellationParty,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
    FundingStream,
    NamedEpAssigned,
)

from tests.support.clock import suite_now

TENANT = "leicester-city"


def _wrap(data: Any, at: datetime | None, tenant: str) -> Envelope[Any]:
    return envelope_for(
        data,
        source="/eps/scheduling",
        tenant=tenant,
        actor="service:scheduling",
        time=at or suite_now(),
    )


def recorded(
    school_urn: str,
    minutes: int,
    delivered_on: date,
    stream: FundingStream = FundingStream.TRADED,
    *,
    delivery_id: uuid.UUID | None = None,
    at: datetime | None = None,
    tenant: str = TENANT,
) -> Envelope[DeliveredTimeRecorded]:
    return _wrap(
        DeliveredTimeRecorded(
            delivery_id=delivery_id or uuid.uuid4(),
            school_urn=school_urn,
            ep_id="ep-1",
            activity=AppointmentKind.CONSULTATION,
            minutes=minutes,
            delivered_on=delivered_on,
            funding_stream=stream,
        ),
        at,
        tenant,
    )


def corrected(
    delivery_id: uuid.UUID,
    minutes: int,
    stream: FundingStream = FundingStream.TRADED,
    *,
    at: datetime | None = None,
    tenant: str = TENANT,
) -> Envelope[DeliveredTimeCorrected]:
    return _wrap(
        DeliveredTimeCorrected(
            delivery_id=delivery_id,
            correction_id=uuid.uuid4(),
            minutes=minutes,
            funding_stream=stream,
            reason="time sheet corrected",
        ),
        at,
        tenant,
    )


def voided(
    delivery_id: uuid.UUID, *, at: datetime | None = None, tenant: str = TENANT
) -> Envelope[DeliveredTimeVoided]:
    return _wrap(DeliveredTimeVoided(delivery_id=delivery_id, reason="recorded twice"), at, tenant)


def raw(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json().encode()


def cancelled(
    school_urn: str | None,
    starts_at: datetime | None,
    minutes: int,
    cancelled_at: datetime | None,
    stream: FundingStream | None = FundingStream.TRADED,
    *,
    appointment_id: uuid.UUID | None = None,
    by: CancellationParty | None = None,
    tenant: str = TENANT,
) -> Envelope[AppointmentCancelled]:
    """A cancellation as scheduling publishes it now; ``None``s leave out what older producers
    did not send."""
    return _wrap(
        AppointmentCancelled(
            appointment_id=appointment_id or uuid.uuid4(),
            reason="cancelled by the school",
            school_urn=school_urn,
            funding_stream=stream,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=minutes) if starts_at else None,
            cancelled_at=cancelled_at,
            cancelled_by=by,
        ),
        cancelled_at,
        tenant,
    )


def cancelled_by_an_old_producer(appointment_id: uuid.UUID) -> Envelope[AppointmentCancelled]:
    return _wrap(
        AppointmentCancelled(appointment_id=appointment_id, reason="consent withdrawn"),
        None,
        TENANT,
    )


def school_registered(
    school_urn: str, *, at: datetime | None = None, tenant: str = TENANT
) -> Envelope[NamedEpAssigned]:
    """Scheduling gives every school it registers a named EP: billing learns the school."""
    when = at or suite_now()
    return _wrap(
        NamedEpAssigned(school_urn=school_urn, ep_id="ep-1", effective_from=when.date()),
        when,
        tenant,
    )
