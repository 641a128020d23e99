"""HTTP entrypoints: EP and school administration, booking, the diary, and delivered time."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated

from eps_chassis.access import OneRecord, audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.errors import DomainError
from eps_chassis.http import NOT_CONTROL, Purpose, json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel, within_years
from eps_contracts.common import PersonId, SchoolUrn
from eps_contracts.scheduling import AppointmentKind, CancellationParty, FundingStream
from fastapi import APIRouter, Depends, Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from eps_scheduling import views
from eps_scheduling.domain import commands
from eps_scheduling.domain.model import (
    BookingRule,
    Ep,
    EpRole,
    GeoPoint,
    Policy,
    WorkingHours,
    WorkingPattern,
)
from eps_scheduling.service_layer import handlers
from eps_scheduling.service_layer.unit_of_work import (
    PostgresSchedulingUnitOfWork,
    SchedulingUnitOfWork,
)
from eps_scheduling.views import (
    AppointmentView,
    DeliveryMinutes,
    DeliveryRecorded,
    DeliveryVoided,
    DiaryEntry,
    EpSummary,
    SchoolAllowanceView,
)

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
MonthDay = tuple[Annotated[int, Field(ge=1, le=12)], Annotated[int, Field(ge=1, le=31)]]


class Body(ContractModel):
    """A request body: strict, and no field the route does not know."""

    model_config = ConfigDict(extra="forbid")


class DayHours(Body):
    weekday: int = Field(ge=1, le=7, description="1 Monday .. 7 Sunday.")
    start: ClockTime
    end: ClockTime


class EpBody(Body):
    ep_id: PersonId
    role: EpRole
    working_pattern: tuple[DayHours, ...] = Field(min_length=1, max_length=7)
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
    autumn_term: tuple[MonthDay, MonthDay] = Field(description="First and last day (month, day).")
    spring_term: tuple[MonthDay, MonthDay] = Field(description="First and last day (month, day).")
    booking_rule: BookingRule = Field(
        BookingRule.DEADLINE_AWARE,
        description="first_free: every request takes the first free slot in its window;"
        " deadline_aware: routine work leaves the statutory share of each EP's week free, and a"
        " statutory request with no free slot before its deadline displaces routine work.",
    )
    statutory_share_percent: int = Field(
        40, ge=0, le=100, description="Share of each EP's weekly capacity kept for statutory work."
    )


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


class EpRegistered(BaseModel):
    ep_id: str


class SchoolRegistered(BaseModel):
    school_urn: str
    named_ep_id: str
    appointments: list[AppointmentView] = Field(
        description="Planning meetings moved to the new named EP or (no room) cancelled."
    )


class CoreAllocation(BaseModel):
    core_minutes: int


class TradedTimeAdded(BaseModel):
    added: bool = Field(description="False when this purchase was already recorded.")


Runtime = ServiceRuntime[PostgresSchedulingUnitOfWork]
SchoolUrnPath = Annotated[str, Path(pattern=r"^[0-9]{6,7}$")]
EpIdPath = Annotated[str, Path(min_length=1, max_length=100, pattern=NOT_CONTROL)]
Moment = Annotated[datetime, Query(), AfterValidator(within_years)]
AcademicYearPath = Annotated[int, Path(ge=2000, le=2100)]


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _appointment_resource(appointment_id: uuid.UUID, referral_id: uuid.UUID | None) -> str:
    """Appointments for a child's referral are part of the child's record: audited as such."""
    if referral_id is None:
        return f"appointment/{appointment_id}"
    return f"referral/{referral_id}/appointment/{appointment_id}"


APPOINTMENT = OneRecord(
    "appointment",
    views.appointment,
    audited_as=lambda appointment_id, shown: _appointment_resource(
        appointment_id, shown.referral_id
    ),
)


# --- configuration ---------------------------------------------------------------------


async def _read_policy(uow: SchedulingUnitOfWork) -> PolicyBody:
    return PolicyBody(**asdict(await uow.policies.get()))


async def _set_policy(body: PolicyBody, uow: SchedulingUnitOfWork) -> PolicyBody:
    policy = await handlers.set_policy(commands.SetPolicy(Policy(**body.model_dump())), uow)
    return PolicyBody(**asdict(policy))


configuration_routes(
    router,
    "policy",
    PolicyBody,
    read=_read_policy,
    write=_set_policy,
    readers=DIARY_READERS,
    writers=ADMINS,
    description="This LA's scheduling figures: travel buffer, slot steps, planning meetings"
    " (length, notice, term windows) and how far ahead displaced work may be moved.",
)


# --- reference data ---------------------------------------------------------------------


@router.put("/eps/{ep_id}", response_model=EpRegistered)
async def register_ep(
    ep_id: EpIdPath,
    principal: Principal = ADMINS,
    body: EpBody = json_body(EpBody),
    runtime: Runtime = Depends(get_runtime),
) -> EpRegistered:
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
    async with audited_access(
        runtime.uow, principal, action="register_ep", resource=f"ep/{ep_id}"
    ) as access:
        await handlers.register_ep(commands.RegisterEp(ep), access.uow)
    return EpRegistered(ep_id=ep_id)


@router.get("/eps", response_model=list[EpSummary])
async def list_eps(
    principal: Principal = DIARY_READERS, runtime: Runtime = Depends(get_runtime)
) -> list[EpSummary]:
    async with audited_access(runtime.uow, principal, action="read", resource="eps") as access:
        return await views.eps(access.uow)


@router.put("/schools/{school_urn}", response_model=SchoolRegistered)
async def register_school(
    school_urn: SchoolUrnPath,
    principal: Principal = ADMINS,
    body: SchoolBody = json_body(SchoolBody),
    runtime: Runtime = Depends(get_runtime),
) -> SchoolRegistered:
    """Register or update a school. A new named EP takes over the school's planning meetings
    from ``effective_from``; ``appointments`` lists those moved or (no room) cancelled."""
    cmd = commands.RegisterSchool(
        school_urn, body.latitude, body.longitude, body.named_ep_id, body.effective_from
    )
    async with audited_access(
        runtime.uow, principal, action="register_school", resource=f"school/{school_urn}"
    ) as access:
        changed = await handlers.register_school(cmd, access.uow)
        moved = await views.appointments(access.uow, [a.appointment_id for a in changed])
    return SchoolRegistered(school_urn=school_urn, named_ep_id=body.named_ep_id, appointments=moved)


@router.put("/schools/{school_urn}/core-allocations/{academic_year}", response_model=CoreAllocation)
async def set_core_allocation(
    school_urn: SchoolUrnPath,
    academic_year: AcademicYearPath,
    principal: Principal = ADMINS,
    body: CoreAllocationBody = json_body(CoreAllocationBody),
    runtime: Runtime = Depends(get_runtime),
) -> CoreAllocation:
    cmd = commands.SetCoreAllocation(school_urn, academic_year, body.core_minutes)
    async with audited_access(
        runtime.uow,
        principal,
        action="set_core_allocation",
        resource=f"school/{school_urn}/core-allocation/{academic_year}",
    ) as access:
        await handlers.set_core_allocation(cmd, access.uow)
    return CoreAllocation(core_minutes=body.core_minutes)


@router.post("/schools/{school_urn}/traded-time", status_code=201, response_model=TradedTimeAdded)
async def add_traded_time(
    school_urn: SchoolUrnPath,
    principal: Principal = ADMINS,
    body: TradedTimeBody = json_body(TradedTimeBody),
    runtime: Runtime = Depends(get_runtime),
) -> TradedTimeAdded:
    """Traded time bought outside billing (e.g. hours agreed directly). An SLA bought in billing
    is never entered here: it arrives from billing's events, with billing's minutes."""
    cmd = commands.AddTradedTime(body.purchase_id, school_urn, body.academic_year, body.minutes)
    async with audited_access(
        runtime.uow,
        principal,
        action="add_traded_time",
        resource=f"school/{school_urn}/traded-time/{body.purchase_id}",
    ) as access:
        added = await handlers.add_traded_time(cmd, access.uow)
    return TradedTimeAdded(added=added)


@router.get("/schools/{school_urn}/allowances/{academic_year}", response_model=SchoolAllowanceView)
async def school_allowance(
    school_urn: SchoolUrnPath,
    academic_year: AcademicYearPath,
    principal: Principal = SCHOOL_READERS,
    runtime: Runtime = Depends(get_runtime),
) -> SchoolAllowanceView:
    """A school's core and traded time for a year, what is booked against it, and where the
    traded time comes from (an SLA bought in billing, or time bought outside it)."""
    async with audited_access(
        runtime.uow,
        principal,
        action="read",
        resource=f"school/{school_urn}/allowance/{academic_year}",
    ) as access:
        access.check_school(school_urn)
        return await views.school_allowance(access.uow, school_urn, academic_year)


@router.post(
    "/schools/{school_urn}/planning-meetings",
    status_code=201,
    response_model=list[AppointmentView],
)
async def propose_planning_meetings(
    school_urn: SchoolUrnPath,
    principal: Principal = ADMINS,
    body: PlanningBody = json_body(PlanningBody),
    runtime: Runtime = Depends(get_runtime),
) -> list[AppointmentView]:
    cmd = commands.ProposePlanningMeetings(school_urn, body.academic_year)
    async with audited_access(
        runtime.uow,
        principal,
        action="propose_planning_meetings",
        resource=f"school/{school_urn}/planning-meetings/{body.academic_year}",
    ) as access:
        proposed = await handlers.propose_planning_meetings(cmd, access.uow)
        return await views.appointments(access.uow, [a.appointment_id for a in proposed])


# --- appointments ------------------------------------------------------------------------


@router.post("/appointments", status_code=201, response_model=AppointmentView)
async def book_appointment(
    principal: Principal = BOOKERS,
    body: BookingBody = json_body(BookingBody),
    runtime: Runtime = Depends(get_runtime),
) -> AppointmentView:
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
    # named as the appointment (the child's record, when for a referral) once it is booked
    async with audited_access(
        runtime.uow, principal, action="book", resource="appointments"
    ) as access:
        appointment = await handlers.book_appointment(cmd, access.uow)
        return await APPOINTMENT.show(access, appointment.appointment_id)


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentView)
async def cancel_appointment(
    appointment_id: uuid.UUID,
    principal: Principal = BOOKERS,
    body: CancelBody = json_body(CancelBody),
    runtime: Runtime = Depends(get_runtime),
) -> AppointmentView:
    cmd = commands.CancelAppointment(appointment_id, body.reason, body.cancelled_by)
    return await APPOINTMENT.act(
        runtime.uow,
        principal,
        appointment_id,
        action="cancel",
        work=lambda uow: handlers.cancel_appointment(cmd, uow),
    )


@router.post("/appointments/{appointment_id}/reschedule", response_model=AppointmentView)
async def reschedule_appointment(
    appointment_id: uuid.UUID,
    principal: Principal = BOOKERS,
    body: RescheduleBody = json_body(RescheduleBody),
    runtime: Runtime = Depends(get_runtime),
) -> AppointmentView:
    cmd = commands.RescheduleAppointment(appointment_id, body.starts_at, body.reason, body.ep_id)
    return await APPOINTMENT.act(
        runtime.uow,
        principal,
        appointment_id,
        action="reschedule",
        work=lambda uow: handlers.reschedule_appointment(cmd, uow),
    )


@router.post("/appointments/{appointment_id}/complete", response_model=DeliveryRecorded)
async def complete_appointment(
    appointment_id: uuid.UUID,
    principal: Principal = BOOKERS,
    body: CompleteBody = json_body(CompleteBody),
    runtime: Runtime = Depends(get_runtime),
) -> DeliveryRecorded:
    cmd = commands.CompleteAppointment(appointment_id, body.delivered_minutes, body.funding_stream)
    async with audited_access(
        runtime.uow, principal, action="complete", resource=f"appointment/{appointment_id}"
    ) as access:
        delivery = await handlers.complete_appointment(cmd, access.uow)
        access.resource = _appointment_resource(appointment_id, delivery.referral_id)
        recorded = await views.delivery_recorded(access.uow, delivery.delivery_id)
    assert recorded is not None
    return recorded


@router.post("/deliveries/{delivery_id}/corrections", response_model=DeliveryMinutes)
async def correct_delivered_time(
    delivery_id: uuid.UUID,
    principal: Principal = SUPERVISORS,
    body: CorrectionBody = json_body(CorrectionBody),
    runtime: Runtime = Depends(get_runtime),
) -> DeliveryMinutes:
    cmd = commands.CorrectDeliveredTime(
        delivery_id, body.correction_id, body.minutes, body.funding_stream, body.reason
    )
    async with audited_access(
        runtime.uow, principal, action="correct_delivered_time", resource=f"delivery/{delivery_id}"
    ) as access:
        await handlers.correct_delivered_time(cmd, access.uow)
        corrected = await views.delivery_minutes(access.uow, delivery_id)
    assert corrected is not None
    return corrected


@router.post("/deliveries/{delivery_id}/void", response_model=DeliveryVoided)
async def void_delivered_time(
    delivery_id: uuid.UUID,
    principal: Principal = SUPERVISORS,
    body: ReasonBody = json_body(ReasonBody),
    runtime: Runtime = Depends(get_runtime),
) -> DeliveryVoided:
    cmd = commands.VoidDeliveredTime(delivery_id, body.reason)
    async with audited_access(
        runtime.uow, principal, action="void_delivered_time", resource=f"delivery/{delivery_id}"
    ) as access:
        await handlers.void_delivered_time(cmd, access.uow)
        voided = await views.delivery_voided(access.uow, delivery_id)
    assert voided is not None
    return voided


# --- diary views ---------------------------------------------------------------------------


def _view_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise DomainError("give times with a UTC offset", field="start")
    if not start < end <= start + timedelta(days=MAX_VIEW_DAYS):
        raise DomainError(f"end must be after start, within {MAX_VIEW_DAYS} days", field="end")


@router.get("/eps/{ep_id}/diary", response_model=list[DiaryEntry])
async def ep_diary(
    ep_id: EpIdPath,
    start: Moment,
    end: Moment,
    principal: Principal = DIARY_READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> list[DiaryEntry]:
    """An EP's appointments overlapping [start, end), children's among them (one audited read
    of the diary)."""
    _view_window(start, end)
    async with audited_access(
        runtime.uow, principal, action="read", resource=f"ep/{ep_id}/diary", purpose=x_purpose
    ) as access:
        return await views.diary(access.uow, ep_id=ep_id, school_urn=None, start=start, end=end)


@router.get("/schools/{school_urn}/appointments", response_model=list[DiaryEntry])
async def school_appointments(
    school_urn: SchoolUrnPath,
    start: Moment,
    end: Moment,
    principal: Principal = SCHOOL_READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: Purpose = None,
) -> list[DiaryEntry]:
    """A school's appointments overlapping [start, end) (school staff: their own school's)."""
    _view_window(start, end)
    async with audited_access(
        runtime.uow,
        principal,
        action="read",
        resource=f"school/{school_urn}/appointments",
        purpose=x_purpose,
    ) as access:
        access.check_school(school_urn)
        return await views.diary(
            access.uow, ep_id=None, school_urn=school_urn, start=start, end=end
        )
