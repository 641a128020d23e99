"""HTTP entrypoints: EP and school administration, booking, the diary, and delivered time."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from eps_chassis.audit import record_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.context import MessageContext
from eps_chassis.errors import DomainError, Forbidden
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.common import PersonId, SchoolUrn
from eps_contracts.scheduling import AppointmentKind, CancellationParty, FundingStream
from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from eps_scheduling.adapters.repository import (
    AppointmentRepository,
    PolicyRepository,
    StaffRepository,
)
from eps_scheduling.domain import commands
from eps_scheduling.domain.calendar import academic_year_of, london_date
from eps_scheduling.domain.model import (
    Appointment,
    Ep,
    EpRole,
    GeoPoint,
    Policy,
    WorkingHours,
    WorkingPattern,
)
from eps_scheduling.service_layer import handlers

router = APIRouter(prefix="/scheduling", tags=["scheduling"])

ADMINS = require_roles(Role.ADMIN, Role.PRINCIPAL_EP)
BOOKERS = require_roles(Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.COORDINATOR, Role.ADMIN)
SUPERVISORS = require_roles(Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)
DIARY_READERS = require_roles(
    Role.EP, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.COORDINATOR, Role.ADMIN
)
SCHOOL_READERS = require_roles(
    Role.EP,
    Role.SENIOR_EP,
    Role.PRINCIPAL_EP,
    Role.COORDINATOR,
    Role.ADMIN,
    Role.SENCO,
    Role.SCHOOL_BUSINESS_MANAGER,
)
MAX_VIEW_DAYS = 92

ClockTime = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class DayHours(Body):
    weekday: int = Field(ge=1, le=7, description="1 Monday .. 7 Sunday.")
    start: ClockTime
    end: ClockTime


class EpBody(Body):
    ep_id: PersonId
    role: EpRole
    working_pattern: tuple[DayHours, ...] = Field(min_length=1)
    weekly_capacity_minutes: int = Field(gt=0, le=7 * 24 * 60)
    base_latitude: float = Field(ge=-90, le=90)
    base_longitude: float = Field(ge=-180, le=180)
    on_rota: bool
    active: bool = True


class SchoolBody(Body):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    named_ep_id: PersonId
    effective_from: date


class CoreAllocationBody(Body):
    core_minutes: int = Field(ge=0, le=100_000)


class TradedTimeBody(Body):
    purchase_id: uuid.UUID
    academic_year: int = Field(ge=2000, le=2100)
    minutes: int = Field(gt=0, le=100_000)


class PlanningBody(Body):
    academic_year: int = Field(ge=2000, le=2100)


class PolicyBody(Body):
    travel_buffer_minutes: int = Field(ge=0, le=240)
    slot_step_minutes: int = Field(gt=0, le=120)
    fast_track_step_minutes: int = Field(gt=0, le=60)
    planning_meeting_minutes: int = Field(gt=0, le=480)
    planning_notice_days: int = Field(
        14, ge=0, le=120, description="Planning meetings are proposed at least this far ahead."
    )
    reschedule_horizon_days: int = Field(gt=0, le=365)
    autumn_term: tuple[tuple[int, int], tuple[int, int]]
    spring_term: tuple[tuple[int, int], tuple[int, int]]


class BookingBody(Body):
    kind: AppointmentKind
    funding_stream: FundingStream
    starts_at: AwareDatetime
    duration_minutes: int = Field(gt=0, le=8 * 60)
    ep_id: PersonId | None = None
    school_urn: SchoolUrn | None = None
    referral_id: uuid.UUID | None = None
    child_id: uuid.UUID | None = None
    case_ref: str | None = Field(None, min_length=1, max_length=100)
    advice_id: uuid.UUID | None = Field(
        None,
        description="The statutory advice request this work serves: its basis, in place of"
        " casework consent (funding must be statutory).",
    )


class ReasonBody(Body):
    reason: Reason


class CancelBody(ReasonBody):
    cancelled_by: CancellationParty | None = Field(
        None,
        description="Who called it off: the school (a late cancellation of traded time is then"
        " charged under the LA's tariff) or the service (never charged); empty when not known.",
    )


class RescheduleBody(Body):
    starts_at: AwareDatetime
    reason: Reason
    ep_id: PersonId | None = None


class CompleteBody(Body):
    delivered_minutes: int = Field(gt=0, le=24 * 60, description="Whole minutes delivered.")
    funding_stream: FundingStream | None = None


class CorrectionBody(Body):
    correction_id: uuid.UUID
    minutes: int = Field(gt=0, le=24 * 60)
    funding_stream: FundingStream
    reason: Reason


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def appointment_view(a: Appointment) -> dict[str, Any]:
    return {
        "appointment_id": str(a.appointment_id),
        "ep_id": a.ep_id,
        "kind": str(a.kind),
        "status": str(a.status),
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
        "school_urn": a.school_urn,
        "referral_id": str(a.referral_id) if a.referral_id else None,
        "funding_stream": str(a.funding_stream),
        "reason": a.reason,
    }


async def _audit_child(
    uow: UnitOfWork, principal: Principal, appointment: Appointment, action: str
) -> None:
    """Appointments for a child's referral are part of the child's record."""
    if appointment.referral_id is not None or appointment.child_id is not None:
        await record_access(
            uow.conn,
            principal,
            action=action,
            resource=f"referral/{appointment.referral_id}/appointment/{appointment.appointment_id}",
            correlation_id=uow.context.correlation_id,
        )


# --- reference data ---------------------------------------------------------------------


@router.put("/eps/{ep_id}")
async def register_ep(
    ep_id: Annotated[str, Path(min_length=1, max_length=100)],
    body: EpBody = json_body(EpBody),
    principal: Principal = ADMINS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, str]:
    if body.ep_id != ep_id:
        raise DomainError("must match the path", field="ep_id")
    pattern = WorkingPattern(
        {d.weekday: WorkingHours(_minutes(d.start), _minutes(d.end)) for d in body.working_pattern}
    )
    ep = Ep(
        ep_id=ep_id,
        role=body.role,
        pattern=pattern,
        weekly_capacity_minutes=body.weekly_capacity_minutes,
        base=GeoPoint(body.base_latitude, body.base_longitude),
        on_rota=body.on_rota,
        active=body.active,
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await handlers.register_ep(commands.RegisterEp(ep), uow)
    return {"ep_id": ep_id}


@router.get("/eps")
async def list_eps(
    principal: Principal = DIARY_READERS, runtime: ServiceRuntime = Depends(get_runtime)
) -> list[dict[str, Any]]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        eps = await StaffRepository(uow.conn).list_eps(principal.tenant)
    return [
        {"ep_id": e.ep_id, "role": str(e.role), "on_rota": e.on_rota, "active": e.active}
        for e in eps
    ]


@router.put("/schools/{school_urn}")
async def register_school(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    body: SchoolBody = json_body(SchoolBody),
    principal: Principal = ADMINS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """Register or update a school. A new named EP takes over the school's planning meetings
    from ``effective_from``; ``appointments`` lists those moved or (no room) cancelled."""
    cmd = commands.RegisterSchool(
        school_urn, body.latitude, body.longitude, body.named_ep_id, body.effective_from
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        changed = await handlers.register_school(cmd, uow, now=runtime.clock())
    return {
        "school_urn": school_urn,
        "named_ep_id": body.named_ep_id,
        "appointments": [appointment_view(a) for a in changed],
    }


@router.put("/schools/{school_urn}/core-allocations/{academic_year}")
async def set_core_allocation(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    academic_year: Annotated[int, Path(ge=2000, le=2100)],
    body: CoreAllocationBody = json_body(CoreAllocationBody),
    principal: Principal = ADMINS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, int]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await handlers.set_core_allocation(
            commands.SetCoreAllocation(school_urn, academic_year, body.core_minutes), uow
        )
    return {"core_minutes": body.core_minutes}


@router.post("/schools/{school_urn}/traded-time", status_code=201)
async def add_traded_time(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    body: TradedTimeBody = json_body(TradedTimeBody),
    principal: Principal = ADMINS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, bool]:
    """Traded time bought outside billing (e.g. hours agreed directly). An SLA bought in billing
    is never entered here: it arrives from billing's events, with billing's minutes."""
    cmd = commands.AddTradedTime(body.purchase_id, school_urn, body.academic_year, body.minutes)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        added = await handlers.add_traded_time(cmd, uow)
    return {"added": added}


@router.get("/schools/{school_urn}/allowances/{academic_year}")
async def school_allowance(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    academic_year: Annotated[int, Path(ge=2000, le=2100)],
    principal: Principal = SCHOOL_READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    """A school's core and traded time for a year, what is booked against it, and where the
    traded time comes from (an SLA bought in billing, or time bought outside it)."""
    if principal.is_school_staff and principal.school_urn != school_urn:
        raise Forbidden("school staff may see only their own school's time")
    async with runtime.uow(MessageContext.of(principal)) as uow:
        staff = StaffRepository(uow.conn)
        allowance = await staff.allowance(principal.tenant, school_urn, academic_year)
        used_core, used_traded = await AppointmentRepository(uow.conn).used_minutes(
            principal.tenant, school_urn, academic_year
        )
        purchases = await staff.traded_time(principal.tenant, school_urn, academic_year)
    return {
        "school_urn": school_urn,
        "academic_year": academic_year,
        "core_minutes": allowance.core_minutes,
        "core_booked_minutes": used_core,
        "traded_minutes": allowance.traded_minutes,
        "traded_booked_minutes": used_traded,
        "traded_time": [{**p, "purchase_id": str(p["purchase_id"])} for p in purchases],
    }


@router.post("/schools/{school_urn}/planning-meetings", status_code=201)
async def propose_planning_meetings(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    body: PlanningBody = json_body(PlanningBody),
    principal: Principal = ADMINS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    cmd = commands.ProposePlanningMeetings(school_urn, body.academic_year, runtime.clock())
    async with runtime.uow(MessageContext.of(principal)) as uow:
        proposed = await handlers.propose_planning_meetings(cmd, uow)
    return [appointment_view(a) for a in proposed]


@router.put("/policy")
async def set_policy(
    body: PolicyBody = json_body(PolicyBody),
    principal: Principal = ADMINS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, str]:
    policy = Policy(**body.model_dump())
    async with runtime.uow(MessageContext.of(principal)) as uow:
        await PolicyRepository(uow.conn).save(principal.tenant, policy)
    return {"tenant": principal.tenant}


# --- appointments ------------------------------------------------------------------------


@router.post("/appointments", status_code=201)
async def book_appointment(
    body: BookingBody = json_body(BookingBody),
    principal: Principal = BOOKERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.BookAppointment(
        kind=body.kind,
        funding_stream=body.funding_stream,
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
        ep_id=body.ep_id,
        school_urn=body.school_urn,
        referral_id=body.referral_id,
        child_id=body.child_id,
        case_ref=body.case_ref,
        advice_id=body.advice_id,
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        appointment = await handlers.book_appointment(cmd, uow)
        await _audit_child(uow, principal, appointment, "book")
    return appointment_view(appointment)


async def _change(
    runtime: ServiceRuntime, principal: Principal, action: str, change: Any
) -> dict[str, Any]:
    async with runtime.uow(MessageContext.of(principal)) as uow:
        appointment: Appointment = await change(uow)
        await _audit_child(uow, principal, appointment, action)
    return appointment_view(appointment)


@router.post("/appointments/{appointment_id}/cancel")
async def cancel_appointment(
    appointment_id: uuid.UUID,
    body: CancelBody = json_body(CancelBody),
    principal: Principal = BOOKERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.CancelAppointment(
        appointment_id, body.reason, runtime.clock(), body.cancelled_by
    )
    return await _change(
        runtime, principal, "cancel", lambda uow: handlers.cancel_appointment(cmd, uow)
    )


@router.post("/appointments/{appointment_id}/reschedule")
async def reschedule_appointment(
    appointment_id: uuid.UUID,
    body: RescheduleBody = json_body(RescheduleBody),
    principal: Principal = BOOKERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.RescheduleAppointment(appointment_id, body.starts_at, body.reason, body.ep_id)
    return await _change(
        runtime, principal, "reschedule", lambda uow: handlers.reschedule_appointment(cmd, uow)
    )


@router.post("/appointments/{appointment_id}/complete")
async def complete_appointment(
    appointment_id: uuid.UUID,
    body: CompleteBody = json_body(CompleteBody),
    principal: Principal = BOOKERS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.CompleteAppointment(
        appointment_id, runtime.clock(), body.delivered_minutes, body.funding_stream
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        delivery = await handlers.complete_appointment(cmd, uow)
        appointment = await handlers.load_appointment(uow, appointment_id)
        await _audit_child(uow, principal, appointment, "complete")
    return {
        "delivery_id": str(delivery.delivery_id),
        "minutes": delivery.minutes,
        "delivered_on": delivery.delivered_on.isoformat(),
        "funding_stream": str(delivery.funding_stream),
    }


@router.post("/deliveries/{delivery_id}/corrections")
async def correct_delivered_time(
    delivery_id: uuid.UUID,
    body: CorrectionBody = json_body(CorrectionBody),
    principal: Principal = SUPERVISORS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.CorrectDeliveredTime(
        delivery_id, body.correction_id, body.minutes, body.funding_stream, body.reason
    )
    async with runtime.uow(MessageContext.of(principal)) as uow:
        delivery = await handlers.correct_delivered_time(cmd, uow)
    return {"delivery_id": str(delivery_id), "minutes": delivery.minutes}


@router.post("/deliveries/{delivery_id}/void")
async def void_delivered_time(
    delivery_id: uuid.UUID,
    body: ReasonBody = json_body(ReasonBody),
    principal: Principal = SUPERVISORS,
    runtime: ServiceRuntime = Depends(get_runtime),
) -> dict[str, Any]:
    cmd = commands.VoidDeliveredTime(delivery_id, body.reason)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        delivery = await handlers.void_delivered_time(cmd, uow)
    return {"delivery_id": str(delivery_id), "voided": delivery.voided}


# --- diary views ---------------------------------------------------------------------------


def _view_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise DomainError("give times with a UTC offset", field="start")
    if not start < end <= start + timedelta(days=MAX_VIEW_DAYS):
        raise DomainError(f"end must be after start, within {MAX_VIEW_DAYS} days", field="end")


async def _view(
    runtime: ServiceRuntime,
    principal: Principal,
    *,
    ep_id: str | None,
    school_urn: str | None,
    start: datetime,
    end: datetime,
    purpose: str | None,
) -> list[dict[str, Any]]:
    _view_window(start, end)
    async with runtime.uow(MessageContext.of(principal)) as uow:
        rows = await AppointmentRepository(uow.conn).view(
            principal.tenant, ep_id=ep_id, school_urn=school_urn, start=start, end=end
        )
        for row in rows:
            if row["referral_id"] is not None:
                await record_access(
                    uow.conn,
                    principal,
                    action="read",
                    resource=f"referral/{row['referral_id']}/appointment/{row['appointment_id']}",
                    purpose=purpose,
                )
    return [
        {
            **row,
            "appointment_id": str(row["appointment_id"]),
            "referral_id": str(row["referral_id"]) if row["referral_id"] else None,
            "starts_at": row["starts_at"].isoformat(),
            "ends_at": row["ends_at"].isoformat(),
            "local_date": london_date(row["starts_at"]).isoformat(),
            "academic_year": academic_year_of(london_date(row["starts_at"])),
        }
        for row in rows
    ]


@router.get("/eps/{ep_id}/diary")
async def ep_diary(
    ep_id: str,
    start: Annotated[datetime, Query()],
    end: Annotated[datetime, Query()],
    principal: Principal = DIARY_READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> list[dict[str, Any]]:
    return await _view(
        runtime, principal, ep_id=ep_id, school_urn=None, start=start, end=end, purpose=x_purpose
    )


@router.get("/schools/{school_urn}/appointments")
async def school_appointments(
    school_urn: Annotated[str, Path(pattern=r"^[0-9]{6,7}$")],
    start: Annotated[datetime, Query()],
    end: Annotated[datetime, Query()],
    principal: Principal = SCHOOL_READERS,
    runtime: ServiceRuntime = Depends(get_runtime),
    x_purpose: str | None = Header(None),
) -> list[dict[str, Any]]:
    if principal.is_school_staff and principal.school_urn != school_urn:
        raise Forbidden("school staff may see only their own school's appointments")
    return await _view(
        runtime,
        principal,
        ep_id=None,
        school_urn=school_urn,
        start=start,
        end=end,
        purpose=x_purpose,
    )
