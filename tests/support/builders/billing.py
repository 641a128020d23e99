"""Billing's test builders: scheduling's events as billing receives them, the authorities'
tariffs (the seed migration's rules), and the helpers billing's integration tests and benchmark
share to publish those events and read what billing made of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.domain.tariff import Tariff
from eps_chassis.london import LONDON
from eps_contracts import Envelope, Topic, envelope_for
from eps_contracts.billing import AGREEMENTS
from eps_contracts.scheduling import (
    APPOINTMENTS,
    DELIVERED_TIME,
    SCHOOLS,
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
from tests.support.db import query, scalar
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, publish_raw, read_topic, wait_until
from tests.support.services import Namespace

TENANT = "leicester-city"
SCHOOL = "123456"
OTHER_SCHOOL = "654321"


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


def consumer_record(value: bytes | None, topic: Topic) -> ConsumerRecord:
    """A record as a consumer polls it from ``topic``, carrying ``value`` (``raw(envelope)``)."""
    return ConsumerRecord(
        topic=topic.name,
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value or b""),
        headers=[],
    )


# --- commands, as the handlers get them -------------------------------------------------------


def delivered(
    school_urn: str,
    minutes: int,
    on: date,
    stream: FundingStream = FundingStream.TRADED,
    *,
    delivery_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> RecordDeliveredTime:
    """Time delivered on ``on``, recorded by scheduling that day at 09:00 unless ``at``."""
    return RecordDeliveredTime(
        event_id=uuid.uuid4(),
        delivery_id=delivery_id or uuid.uuid4(),
        school_urn=school_urn,
        delivered_on=on,
        minutes=minutes,
        funding_stream=stream,
        recorded_at=at or london(on.year, on.month, on.day),
    )


def correction(
    delivery_id: uuid.UUID,
    minutes: int,
    at: datetime,
    stream: FundingStream = FundingStream.TRADED,
) -> CorrectDeliveredTime:
    return CorrectDeliveredTime(
        event_id=uuid.uuid4(),
        delivery_id=delivery_id,
        change_id=uuid.uuid4(),
        at=at,
        minutes=minutes,
        funding_stream=stream,
        reason="time sheet corrected",
    )


def void(delivery_id: uuid.UUID, at: datetime) -> VoidDeliveredTime:
    return VoidDeliveredTime(
        event_id=uuid.uuid4(), delivery_id=delivery_id, at=at, reason="recorded twice"
    )


def cancellation(
    school_urn: str,
    starts_at: datetime,
    minutes: int,
    cancelled_at: datetime,
    stream: FundingStream = FundingStream.TRADED,
    *,
    appointment_id: uuid.UUID | None = None,
    by: CancellationParty | None = CancellationParty.SCHOOL,
) -> ChargeCancellation:
    """An appointment of ``minutes`` cancelled at ``cancelled_at`` (by the school unless
    ``by``)."""
    return ChargeCancellation(
        event_id=uuid.uuid4(),
        appointment_id=appointment_id or uuid.uuid4(),
        school_urn=school_urn,
        funding_stream=stream,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        cancelled_at=cancelled_at,
        cancelled_by=by,
    )


# --- tariffs ------------------------------------------------------------------------------------

LEICESTER_RULES: dict[str, Any] = {
    "spot_units": [
        {"name": "hour", "minutes": 60, "pence": 15000},
        {"name": "half day", "minutes": 180, "pence": 40000},
        {"name": "day", "minutes": 360, "pence": 70000},
    ],
    "sla": {
        "day_minutes": 360,
        "day_pence": 65000,
        "min_days": 5,
        "max_days": 30,
        "carry_over": True,
    },
    "critical_incident": "free",
    "cancellation_full_charge_days": 14,
    "billing_period_months": 1,
    "grace_days": 5,
}
NOTTINGHAM_RULES: dict[str, Any] = {
    "spot_units": [{"name": "session", "minutes": 180, "pence": 39300}],
    "sla": {
        "day_minutes": 360,
        "day_pence": 78600,
        "min_days": 3,
        "max_days": 40,
        "carry_over": False,
    },
    "critical_incident": "traded",
    "billing_period_months": 3,
    "grace_days": 10,
}

LEICESTER = Tariff.from_rules(
    "leicester-city", date(2025, 9, 1), date(2026, 8, 31), LEICESTER_RULES
)
NOTTINGHAM = Tariff.from_rules(
    "nottingham-city", date(2025, 9, 1), date(2026, 8, 31), NOTTINGHAM_RULES
)


# --- on the real broker and database (integration tests) ---------------------------------------


async def publish(infra: Infra, ns: Namespace, envelopes: Sequence[Any]) -> None:
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(DELIVERED_TIME.name),
        [raw(e) for e in envelopes],
        keys=[e.subject.encode() for e in envelopes],
    )


async def drained(infra: Infra, ns: Namespace) -> bool:
    group = ns.group("billing", "delivered-time")
    return await consumer_lag(infra.kafka_bootstrap, group, ns.topic(DELIVERED_TIME.name)) == 0


async def register_schools(
    infra: Infra, ns: Namespace, *schools: str, tenant: str = TENANT
) -> None:
    """Scheduling registers the schools (a named EP each): billing prices their SLAs."""
    envelopes = [school_registered(school, tenant=tenant) for school in schools]
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(SCHOOLS.name),
        [raw(e) for e in envelopes],
        keys=[e.subject.encode() for e in envelopes],
    )
    await wait_until(lambda: schools_drained(infra, ns), timeout_s=30, what="schools registered")


async def schools_drained(infra: Infra, ns: Namespace) -> bool:
    group = ns.group("billing", "schools")
    return await consumer_lag(infra.kafka_bootstrap, group, ns.topic(SCHOOLS.name)) == 0


async def publish_cancellations(infra: Infra, ns: Namespace, envelopes: Sequence[Any]) -> None:
    await publish_raw(
        infra.kafka_bootstrap,
        ns.topic(APPOINTMENTS.name),
        [raw(e) for e in envelopes],
        keys=[e.subject.encode() for e in envelopes],
    )


async def cancellations_drained(infra: Infra, ns: Namespace) -> bool:
    group = ns.group("billing", "appointments")
    return await consumer_lag(infra.kafka_bootstrap, group, ns.topic(APPOINTMENTS.name)) == 0


async def documents(infra: Infra, ns: Namespace) -> list[tuple[Any, ...]]:
    schema = ns.schema("billing")
    rows = await query(
        infra,
        f"SELECT d.number, d.kind, d.school_urn, d.period_start, d.total_pence, l.line_no,"
        f" l.delivery_id, l.delivered_on, l.description, l.sla_minutes, l.pence, l.adjustment"
        f" FROM {schema}.documents d JOIN {schema}.document_lines l USING (document_id)"
        f" ORDER BY d.number, l.line_no",
    )
    return [tuple(r) for r in rows]


async def documents_issued(infra: Infra, ns: Namespace, expected: int) -> None:
    sql = f"SELECT count(*) FROM {ns.schema('billing')}.documents"
    await wait_until(
        lambda: count_is(infra, sql, expected), timeout_s=15, what=f"{expected} documents"
    )


async def count_is(infra: Infra, sql: str, expected: int) -> bool:
    try:
        return int(await scalar(infra, sql)) == expected
    except asyncpg.UndefinedTableError:
        return False


def london(y: int, m: int, d: int) -> datetime:
    """09:00 in London on the day."""
    return datetime(y, m, d, 9, tzinfo=LONDON)


async def next_years_tariff(client: Any, headers: dict[str, str]) -> None:
    """The authority carries its 2025/26 tariff forward to 2026/27 and confirms it."""
    [current] = (await client.get("/billing/tariffs", headers=headers)).json()
    carried = await client.post(
        f"/billing/tariffs/{current['tariff_id']}/carry-forward", headers=headers
    )
    assert carried.status_code == 201, carried.text
    confirmed = await client.post(
        f"/billing/tariffs/{carried.json()['tariff_id']}/confirm", headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text


def tariff_body(first: date, last: date, **changes: Any) -> dict[str, Any]:
    """A tariff as finance sends it: Leicester's rules for the dates, with some changed."""
    return {
        "effective_from": first.isoformat(),
        "effective_to": last.isoformat(),
        **LEICESTER.rules(),
        **changes,
    }


async def agreement_events(
    infra: Infra, ns: Namespace, expected: int
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The SLA events published, once there are ``expected`` of them: per agreement, in order,
    (type without prefix and version, data)."""
    topic = ns.topic(AGREEMENTS.name)

    async def published() -> bool:
        return len(await read_topic(infra.kafka_bootstrap, topic)) >= expected

    await wait_until(published, timeout_s=15, what=f"{expected} SLA events")
    records = await read_topic(infra.kafka_bootstrap, topic)
    assert len(records) == expected, [json.loads(r.value)["type"] for r in records]
    by_agreement: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        envelope = json.loads(record.value)
        assert envelope["subject"] == envelope["data"]["agreement_id"]
        kind = envelope["type"].removeprefix("eps.billing.").removesuffix(".v1")
        by_agreement.setdefault(envelope["subject"], []).append((kind, envelope["data"]))
    return by_agreement
