"""What the scheduling service shows over HTTP: read straight from its tables, as response
models (so the OpenAPI document describes what comes back)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from eps_chassis.london import academic_year_of, london_date
from eps_chassis.subject_access import HeldRecord, held_rows
from pydantic import BaseModel, Field

from eps_scheduling.service_layer.unit_of_work import PostgresSchedulingUnitOfWork

_APPOINTMENT = (
    "appointment_id, ep_id, kind, status, starts_at, ends_at, school_urn, referral_id,"
    " funding_stream, reason"
)


class AppointmentView(BaseModel):
    """An appointment as booked, moved, cancelled or completed."""

    appointment_id: uuid.UUID
    ep_id: str
    kind: str
    status: str = Field(description="booked, cancelled or completed.")
    starts_at: datetime
    ends_at: datetime
    school_urn: str | None
    referral_id: uuid.UUID | None
    funding_stream: str
    reason: str | None = Field(description="Why it was last moved or cancelled.")


class DiaryEntry(BaseModel):
    """An appointment in a diary or a school's list, with its London date and school year."""

    appointment_id: uuid.UUID
    ep_id: str
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    funding_stream: str
    school_urn: str | None
    referral_id: uuid.UUID | None
    case_ref: str | None
    reason: str | None
    local_date: date = Field(description="The London date it starts on.")
    academic_year: int = Field(description="The school year it falls in (by its start).")


class EpSummary(BaseModel):
    ep_id: str
    role: str
    on_rota: bool
    active: bool


class TradedTime(BaseModel):
    purchase_id: uuid.UUID
    source: str = Field(description="billing_sla: an SLA bought in billing; else bought outside.")
    minutes: int


class SchoolAllowanceView(BaseModel):
    """A school's core and traded time for a year, what is booked against it, and where the
    traded time comes from."""

    school_urn: str
    academic_year: int
    core_minutes: int
    core_booked_minutes: int
    traded_minutes: int
    traded_booked_minutes: int
    traded_time: list[TradedTime]


class DeliveryRecorded(BaseModel):
    delivery_id: uuid.UUID
    minutes: int
    delivered_on: date
    funding_stream: str


class DeliveryMinutes(BaseModel):
    delivery_id: uuid.UUID
    minutes: int


class DeliveryVoided(BaseModel):
    delivery_id: uuid.UUID
    voided: bool


async def appointments(
    uow: PostgresSchedulingUnitOfWork, appointment_ids: Sequence[uuid.UUID]
) -> list[AppointmentView]:
    """The appointments named, in the order named."""
    rows = await uow.conn.fetch(
        f"SELECT {_APPOINTMENT} FROM appointments WHERE tenant = $1"
        " AND appointment_id = ANY($2::uuid[])",
        uow.tenant,
        list(appointment_ids),
    )
    found = {r["appointment_id"]: AppointmentView(**r) for r in rows}
    return [found[i] for i in appointment_ids if i in found]


async def appointment(
    uow: PostgresSchedulingUnitOfWork, appointment_id: uuid.UUID
) -> AppointmentView | None:
    row = await uow.conn.fetchrow(
        f"SELECT {_APPOINTMENT} FROM appointments WHERE tenant = $1 AND appointment_id = $2",
        uow.tenant,
        appointment_id,
    )
    return AppointmentView(**row) if row else None


async def diary(
    uow: PostgresSchedulingUnitOfWork,
    *,
    ep_id: str | None,
    school_urn: str | None,
    start: datetime,
    end: datetime,
) -> list[DiaryEntry]:
    """The appointments of an EP or a school overlapping [start, end), by start."""
    rows = await uow.conn.fetch(
        "SELECT appointment_id, ep_id, kind, status, starts_at, ends_at, funding_stream,"
        " school_urn, referral_id, case_ref, reason FROM appointments WHERE tenant = $1"
        " AND ($2::text IS NULL OR ep_id = $2) AND ($3::text IS NULL OR school_urn = $3)"
        " AND starts_at < $5 AND ends_at > $4 ORDER BY starts_at",
        uow.tenant,
        ep_id,
        school_urn,
        start,
        end,
    )
    return [
        DiaryEntry(
            **r,
            local_date=london_date(r["starts_at"]),
            academic_year=academic_year_of(london_date(r["starts_at"])),
        )
        for r in rows
    ]


async def eps(uow: PostgresSchedulingUnitOfWork) -> list[EpSummary]:
    rows = await uow.conn.fetch(
        "SELECT ep_id, role, on_rota, active FROM eps WHERE tenant = $1 ORDER BY ep_id",
        uow.tenant,
    )
    return [EpSummary(**r) for r in rows]


async def school_allowance(
    uow: PostgresSchedulingUnitOfWork, school_urn: str, academic_year: int
) -> SchoolAllowanceView:
    row = await uow.conn.fetchrow(
        "SELECT (SELECT core_minutes FROM core_allocations WHERE tenant = $1"
        "   AND school_urn = $2 AND academic_year = $3) AS core,"
        " (SELECT sum(minutes) FROM traded_purchases WHERE tenant = $1 AND school_urn = $2"
        "   AND academic_year = $3) AS traded,"
        " (SELECT coalesce(sum(extract(epoch FROM ends_at - starts_at) / 60)"
        "   FILTER (WHERE funding_stream = 'core'), 0)::int FROM appointments WHERE tenant = $1"
        "   AND school_urn = $2 AND academic_year = $3 AND status <> 'cancelled') AS core_booked,"
        " (SELECT coalesce(sum(extract(epoch FROM ends_at - starts_at) / 60)"
        "   FILTER (WHERE funding_stream = 'traded'), 0)::int FROM appointments WHERE tenant = $1"
        "   AND school_urn = $2 AND academic_year = $3 AND status <> 'cancelled')"
        " AS traded_booked",
        uow.tenant,
        school_urn,
        academic_year,
    )
    assert row is not None
    purchases = await uow.conn.fetch(
        "SELECT purchase_id, source, minutes FROM traded_purchases WHERE tenant = $1"
        " AND school_urn = $2 AND academic_year = $3 ORDER BY source, purchase_id",
        uow.tenant,
        school_urn,
        academic_year,
    )
    return SchoolAllowanceView(
        school_urn=school_urn,
        academic_year=academic_year,
        core_minutes=int(row["core"] or 0),
        core_booked_minutes=int(row["core_booked"]),
        traded_minutes=int(row["traded"] or 0),
        traded_booked_minutes=int(row["traded_booked"]),
        traded_time=[TradedTime(**p) for p in purchases],
    )


async def delivery_recorded(
    uow: PostgresSchedulingUnitOfWork, delivery_id: uuid.UUID
) -> DeliveryRecorded | None:
    row = await uow.conn.fetchrow(
        "SELECT delivery_id, minutes, delivered_on, funding_stream FROM deliveries"
        " WHERE tenant = $1 AND delivery_id = $2",
        uow.tenant,
        delivery_id,
    )
    return DeliveryRecorded(**row) if row else None


async def delivery_minutes(
    uow: PostgresSchedulingUnitOfWork, delivery_id: uuid.UUID
) -> DeliveryMinutes | None:
    row = await uow.conn.fetchrow(
        "SELECT delivery_id, minutes FROM deliveries WHERE tenant = $1 AND delivery_id = $2",
        uow.tenant,
        delivery_id,
    )
    return DeliveryMinutes(**row) if row else None


async def delivery_voided(
    uow: PostgresSchedulingUnitOfWork, delivery_id: uuid.UUID
) -> DeliveryVoided | None:
    row = await uow.conn.fetchrow(
        "SELECT delivery_id, voided FROM deliveries WHERE tenant = $1 AND delivery_id = $2",
        uow.tenant,
        delivery_id,
    )
    return DeliveryVoided(**row) if row else None


async def held_about_child(
    uow: PostgresSchedulingUnitOfWork, child_id: uuid.UUID
) -> list[HeldRecord]:
    """The child's referrals and consent as scheduling knows them, and their appointments
    (an appointment for a referral is audited under it: referral/<id>/appointment/<id>)."""
    referrals = await held_rows(
        uow, "referral", "SELECT * FROM referrals WHERE tenant = $1 AND child_id = $2",
        uow.tenant, child_id, key="referral_id",
    )  # fmt: skip
    consent = await held_rows(
        uow, "consent status",
        "SELECT * FROM consent_status WHERE tenant = $1 AND child_id = $2",
        uow.tenant, child_id, key="referral_id", audited_as=("referral", "referral_id"),
    )  # fmt: skip
    appointments = await held_rows(
        uow, "appointment",
        "SELECT * FROM appointments WHERE tenant = $1 AND (child_id = $2 OR referral_id IN"
        " (SELECT referral_id FROM referrals WHERE tenant = $1 AND child_id = $2))"
        " ORDER BY starts_at",
        uow.tenant, child_id, key="appointment_id", third_party=("ep_id", "reason", "place"),
    )  # fmt: skip
    return referrals + consent + appointments
