"""Service-layer handlers of the scheduling service: each takes a command and the unit of work,
loads through its repositories, asks the domain, and saves. The unit of work publishes what the
appointments and deliveries recorded when it commits; a handler publishes only what no
aggregate records (an answer, a notice).

Every change to an EP's diary first locks that EP's row (``staff.lock_eps``), so the
availability check and the insert see the same diary; the exclusion constraint on
``appointments`` is the last guard against double booking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from eps_chassis.errors import (
    Conflict,
    DomainError,
    NotFound,
    NotYetKnown,
    OwnedElsewhere,
    reference,
)
from eps_chassis.london import academic_year_of, london_date
from eps_contracts.scheduling import (
    AllocatedEp,
    AppointmentBookingFailed,
    AppointmentKind,
    CancellationParty,
    FastTrackEpsAllocated,
    FundingStream,
    NamedEpAssigned,
    PlanningMeetingNotPlaced,
)

from eps_scheduling.domain import commands
from eps_scheduling.domain.allocation import (
    FastTrackNeed,
    allocate,
    plan_displacement,
    response_appointment,
    unknown_school,
)
from eps_scheduling.domain.availability import refusal
from eps_scheduling.domain.booking_policy import candidate_order, refusal_for, replan, slot_for
from eps_scheduling.domain.calendar import Interval
from eps_scheduling.domain.delivery import Delivery
from eps_scheduling.domain.model import Appointment, BookingRule, Ep, GeoPoint, Policy, School
from eps_scheduling.domain.named_ep import FOLLOWS_NAMED_EP, hand_over, handover_start
from eps_scheduling.domain.planning import (
    Term,
    planning_year,
    propose_planning_meeting,
    term_over,
    term_window,
)
from eps_scheduling.service_layer.unit_of_work import SchedulingUnitOfWork

DIARY_MARGIN = timedelta(days=8)  # a whole ISO week either side, for capacity and buffers
RESPONSE_WINDOW_MARGIN = timedelta(days=1)  # wider than any travel buffer (at most 4 hours)


def school_awaited(tenant: str, school_urn: str) -> str:
    """What news naming a school scheduling does not know yet waits for."""
    return reference("school", tenant, school_urn)


def advice_awaited(tenant: str, advice_id: uuid.UUID) -> str:
    """What a statutory booking request for an advice request not known yet waits for."""
    return reference("advice", tenant, advice_id)


class UnknownAdvice(DomainError):
    """A statutory booking names an advice request scheduling has not heard of (yet)."""

    def __init__(self, advice_id: uuid.UUID) -> None:
        super().__init__(
            f"no statutory advice request {advice_id} is known to scheduling", field="advice_id"
        )
        self.advice_id = advice_id


# --- reference data ---------------------------------------------------------------------


async def register_ep(cmd: commands.RegisterEp, uow: SchedulingUnitOfWork) -> None:
    await uow.staff.save_ep(cmd.ep)


async def register_school(
    cmd: commands.RegisterSchool, uow: SchedulingUnitOfWork
) -> list[Appointment]:
    """Create or update a school; a new named EP is announced (referrals routes by it).

    When the named EP changes, the school's appointments that belong to the named EP (its
    planning meetings, see ``domain.named_ep``) from ``effective_from`` on move to the new EP,
    or are cancelled when the new EP has no room; returns those changed. Locks: the school's
    row first (a second change of the same school waits here), then both EPs' rows in one
    ``lock_eps`` (id order), then the appointments, as the fast track does.
    """
    if await uow.staff.get_ep(cmd.named_ep_id) is None:
        raise DomainError(f"no EP {cmd.named_ep_id}", field="named_ep_id")
    previous = await uow.staff.lock_school(cmd.school_urn)
    handing_over = previous is not None and previous != cmd.named_ep_id
    eps: dict[str, Ep] = {}
    if handing_over:
        assert previous is not None
        eps = {ep.ep_id: ep for ep in await uow.staff.lock_eps([previous, cmd.named_ep_id])}
    school = School(cmd.school_urn, GeoPoint(cmd.latitude, cmd.longitude), cmd.named_ep_id)
    await uow.staff.save_school(school, cmd.effective_from)
    await uow.release(school_awaited(uow.tenant, cmd.school_urn))
    if previous == cmd.named_ep_id:
        return []
    uow.publish(
        NamedEpAssigned(
            school_urn=cmd.school_urn, ep_id=cmd.named_ep_id, effective_from=cmd.effective_from
        )
    )
    if not handing_over or cmd.named_ep_id not in eps:
        return []
    assert previous is not None
    return await _hand_over_to_named_ep(
        uow, eps[cmd.named_ep_id], previous, cmd.school_urn, cmd.effective_from
    )


async def _hand_over_to_named_ep(
    uow: SchedulingUnitOfWork,
    new_ep: Ep,
    previous_ep_id: str,
    school_urn: str,
    effective_from: date,
) -> list[Appointment]:
    now = uow.clock()
    start = handover_start(effective_from, now)
    candidates = await uow.appointments.school_appointments_from(
        school_urn, FOLLOWS_NAMED_EP, start
    )
    if not candidates:
        return []
    policy = await uow.policies.get()
    last_end = max(a.ends_at for a in candidates)
    horizon = timedelta(days=policy.reschedule_horizon_days)
    diary = (
        await uow.appointments.diaries(
            [new_ep.ep_id],
            min(a.starts_at for a in candidates) - DIARY_MARGIN,
            last_end + horizon + DIARY_MARGIN,
        )
    )[new_ep.ep_id]
    changed = hand_over(
        new_ep, previous_ep_id, candidates, diary, school_urn, effective_from, now, policy
    )
    for appointment in changed:
        await uow.appointments.update(appointment)
    return changed


async def _school(uow: SchedulingUnitOfWork, school_urn: str) -> School:
    school = await uow.staff.get_school(school_urn)
    if school is None:
        raise NotFound(f"no school {school_urn}", field="school_urn")
    return school


async def set_core_allocation(cmd: commands.SetCoreAllocation, uow: SchedulingUnitOfWork) -> None:
    await _school(uow, cmd.school_urn)
    if cmd.core_minutes < 0:
        raise DomainError("must not be negative", field="core_minutes")
    await uow.staff.set_core_allocation(cmd.school_urn, cmd.academic_year, cmd.core_minutes)


async def add_traded_time(cmd: commands.AddTradedTime, uow: SchedulingUnitOfWork) -> bool:
    """Traded time bought outside billing (an SLA bought in billing arrives by its events)."""
    await _school(uow, cmd.school_urn)
    if cmd.minutes <= 0:
        raise DomainError("must be positive", field="minutes")
    return await uow.staff.add_traded_time(
        cmd.purchase_id, cmd.school_urn, cmd.academic_year, cmd.minutes
    )


async def record_agreement(cmd: commands.RecordAgreement, uow: SchedulingUnitOfWork) -> None:
    """An SLA bought or changed in billing is the school's traded time: one record of it."""
    await _school(uow, cmd.school_urn)
    await uow.staff.set_agreement(cmd.agreement_id, cmd.school_urn, cmd.academic_year, cmd.minutes)


async def cancel_agreement(cmd: commands.CancelAgreement, uow: SchedulingUnitOfWork) -> None:
    await uow.staff.remove_agreement(cmd.agreement_id)


async def set_policy(cmd: commands.SetPolicy, uow: SchedulingUnitOfWork) -> Policy:
    """Configuration, not code: applies to what is scheduled from now on."""
    await uow.policies.set(cmd.policy)
    return cmd.policy


# --- booking ------------------------------------------------------------------------------


async def _check_basis(
    uow: SchedulingUnitOfWork, cmd: commands.BookAppointment, child_id: uuid.UUID | None
) -> None:
    """The lawful basis of work for a child: statutory work serves an open advice request
    (the LA's request under the SEND Regulations); other work needs valid consent."""
    if cmd.advice_id is None:
        await _check_consent(uow, cmd.referral_id, child_id)
        return
    if cmd.funding_stream is not FundingStream.STATUTORY:
        raise DomainError("work for an advice request is statutory", field="funding_stream")
    status = await uow.read_models.advice_status(cmd.advice_id)
    if status is None:
        raise UnknownAdvice(cmd.advice_id)
    if status != "open":
        raise DomainError(
            f"the advice request is {status}: nothing more is booked for it", field="advice_id"
        )


async def _check_consent(
    uow: SchedulingUnitOfWork, referral_id: uuid.UUID | None, child_id: uuid.UUID | None
) -> None:
    if referral_id is None and child_id is None:
        return
    if not await uow.read_models.consent_valid(referral_id, child_id):
        raise DomainError(
            "no valid consent to involvement for this child's referral",
            field="referral_id" if referral_id else "child_id",
        )


async def _check_allowance(
    uow: SchedulingUnitOfWork, school_urn: str | None, funding: FundingStream, slot: Interval
) -> None:
    if school_urn is None or funding not in (FundingStream.CORE, FundingStream.TRADED):
        return
    year = academic_year_of(london_date(slot.start))
    await uow.staff.lock_school_year(school_urn, year)
    allowance = await uow.staff.allowance(school_urn, year)
    used_core, used_traded = await uow.appointments.used_minutes(school_urn, year)
    reason = allowance.refusal(funding, slot.minutes, used_core, used_traded)
    if reason:
        raise DomainError(reason, field="funding_stream")


async def _candidate_eps(
    uow: SchedulingUnitOfWork, cmd: commands.BookAppointment, school: School | None
) -> list[str]:
    if cmd.ep_id is not None:
        return [cmd.ep_id]
    if school is None:
        raise DomainError("name an EP or a school", field="ep_id")
    if cmd.window_end is None:
        return [school.named_ep_id]
    return candidate_order(school, await uow.staff.list_eps())


async def book_appointment(cmd: commands.BookAppointment, uow: SchedulingUnitOfWork) -> Appointment:
    """Book the slot asked for, or the first one in the window the LA's booking rule allows
    (named EP first; ``domain.booking_policy``). Statutory work with no free slot in its window
    is re-planned under the deadline-aware rule: routine work in the way is moved or cancelled."""
    if cmd.request_id is not None:
        existing = await uow.appointments.for_request(cmd.request_id)
        if existing is not None:
            return existing
    school_urn, child_id = cmd.school_urn, cmd.child_id
    if cmd.referral_id is not None:
        known = await uow.read_models.referral(cmd.referral_id)
        if known is not None:
            child_id = child_id or known[0]
            school_urn = school_urn or known[1]
    await _check_basis(uow, cmd, child_id)
    school = await _school(uow, school_urn) if school_urn else None
    candidates = await _candidate_eps(uow, cmd, school)
    eps = {ep.ep_id: ep for ep in await uow.staff.lock_eps(candidates)}
    if cmd.ep_id is not None and cmd.ep_id not in eps:
        raise DomainError(f"no EP {cmd.ep_id}", field="ep_id")
    policy = await uow.policies.get()
    length = timedelta(minutes=cmd.duration_minutes)
    window = Interval(cmd.starts_at, max(cmd.window_end or cmd.starts_at, cmd.starts_at) + length)
    chosen: tuple[Ep, Interval] | None = None
    reason = "no EP is free in the window"
    for ep_id in candidates:
        ep = eps.get(ep_id)
        if ep is None:
            continue
        # one diary at a time: the named EP usually has room, and a diary is weeks of rows
        diaries = await uow.appointments.diaries(
            [ep_id], window.start - DIARY_MARGIN, window.end + DIARY_MARGIN
        )
        if cmd.window_end is None:
            slot = Interval(cmd.starts_at, cmd.starts_at + length)
            refused = refusal_for(
                ep, diaries[ep_id], slot, school_urn, cmd.kind, cmd.funding_stream, policy
            )
            if refused is None:
                chosen = (ep, slot)
                break
            reason = refused
        else:
            found = slot_for(
                ep,
                diaries[ep_id],
                window,
                cmd.duration_minutes,
                school_urn,
                cmd.kind,
                cmd.funding_stream,
                policy,
            )
            if found is not None:
                chosen = (ep, found)
                break
    deadline_aware = policy.booking_rule is BookingRule.DEADLINE_AWARE
    statutory = cmd.funding_stream is FundingStream.STATUTORY and cmd.window_end is not None
    if chosen is None and deadline_aware and statutory:
        in_order = [eps[e] for e in candidates if e in eps]
        return await _replan_statutory(uow, cmd, in_order, window, school_urn, child_id)
    if chosen is None:
        raise Conflict(reason, field="starts_at")
    ep, slot = chosen
    await _check_allowance(uow, school_urn, cmd.funding_stream, slot)
    appointment = _booked(cmd, ep, slot, school_urn, child_id)
    await uow.appointments.add(appointment)
    return appointment


def _booked(
    cmd: commands.BookAppointment,
    ep: Ep,
    slot: Interval,
    school_urn: str | None,
    child_id: uuid.UUID | None,
) -> Appointment:
    return Appointment.book(
        ep_id=ep.ep_id,
        kind=cmd.kind,
        starts_at=slot.start,
        ends_at=slot.end,
        funding_stream=cmd.funding_stream,
        place=school_urn,
        school_urn=school_urn,
        referral_id=cmd.referral_id,
        child_id=cmd.child_id if child_id is None else child_id,
        case_ref=cmd.case_ref,
        request_id=cmd.request_id,
        advice_id=cmd.advice_id,
    )


async def _replan_statutory(
    uow: SchedulingUnitOfWork,
    cmd: commands.BookAppointment,
    eps: Sequence[Ep],
    window: Interval,
    school_urn: str | None,
    child_id: uuid.UUID | None,
) -> Appointment:
    """No EP is free for statutory work before its deadline: under the deadline-aware rule the
    first candidate whose routine work can make room takes it, and that work is moved to the
    EP's next free slot within the LA's horizon (or cancelled), each told why."""
    policy = await uow.policies.get()
    now = uow.clock()
    horizon = timedelta(days=policy.reschedule_horizon_days)
    for ep in eps:
        diary = (
            await uow.appointments.diaries(
                [ep.ep_id], window.start - DIARY_MARGIN, window.end + horizon + DIARY_MARGIN
            )
        )[ep.ep_id]
        found = replan(ep, diary, window, cmd.duration_minutes, school_urn, now, policy)
        if found is None:
            continue
        slot, displaced = found
        appointment = _booked(cmd, ep, slot, school_urn, child_id)
        why = f"displaced by statutory work due soon: {cmd.case_ref or appointment.appointment_id}"
        await _displace(uow, ep, displaced, diary, appointment, policy, why)
        await uow.appointments.add(appointment)
        return appointment
    raise Conflict("no EP is free in the window, even displacing routine work", field="starts_at")


async def answer_booking_request(cmd: commands.BookAppointment, uow: SchedulingUnitOfWork) -> None:
    """Another service's request: booked, or told why not (a business outcome, not an error).
    A request for an advice request not known yet waits for it (statutory's event may come
    after its booking request: they travel on different topics)."""
    try:
        await book_appointment(cmd, uow)
    except UnknownAdvice as exc:
        awaiting = advice_awaited(uow.tenant, exc.advice_id)
        raise NotYetKnown(str(exc), awaiting=awaiting, field=exc.field) from exc
    except OwnedElsewhere:
        raise  # not an answer to give another local authority: the request is refused
    except DomainError as exc:
        assert cmd.request_id is not None and cmd.case_ref is not None
        uow.publish(
            AppointmentBookingFailed(
                request_id=cmd.request_id, case_ref=cmd.case_ref, reason=exc.describe()[:500]
            )
        )


async def _appointment(uow: SchedulingUnitOfWork, appointment_id: uuid.UUID) -> Appointment:
    appointment = await uow.appointments.get(appointment_id)
    if appointment is None:
        raise NotFound("no such appointment")
    return appointment


async def cancel_appointment(
    cmd: commands.CancelAppointment, uow: SchedulingUnitOfWork
) -> Appointment:
    appointment = await _appointment(uow, cmd.appointment_id)
    appointment.cancel(cmd.reason, cancelled_at=uow.clock(), cancelled_by=cmd.cancelled_by)
    await uow.appointments.update(appointment)
    return appointment


async def reschedule_appointment(
    cmd: commands.RescheduleAppointment, uow: SchedulingUnitOfWork
) -> Appointment:
    appointment = await _appointment(uow, cmd.appointment_id)
    ep_id = cmd.ep_id or appointment.ep_id
    eps = {ep.ep_id: ep for ep in await uow.staff.lock_eps([ep_id])}
    if ep_id not in eps:
        raise DomainError(f"no EP {ep_id}", field="ep_id")
    slot = Interval(cmd.starts_at, cmd.starts_at + (appointment.ends_at - appointment.starts_at))
    diary = (
        await uow.appointments.diaries([ep_id], slot.start - DIARY_MARGIN, slot.end + DIARY_MARGIN)
    )[ep_id]
    others = [a for a in diary if a.appointment_id != appointment.appointment_id]
    policy = await uow.policies.get()
    refused = refusal(eps[ep_id], others, slot, appointment.place, policy)
    if refused:
        raise Conflict(refused, field="starts_at")
    appointment.reschedule(ep_id, slot.start, slot.end, cmd.reason)
    await uow.appointments.update(appointment)
    return appointment


# --- delivered time -------------------------------------------------------------------------


async def complete_appointment(
    cmd: commands.CompleteAppointment, uow: SchedulingUnitOfWork
) -> Delivery:
    """The appointment took place: log the minutes delivered (published exactly once)."""
    appointment = await _appointment(uow, cmd.appointment_id)
    appointment.complete(uow.clock())
    delivery = Delivery.record(appointment, cmd.delivered_minutes, cmd.funding_stream)
    await uow.appointments.update(appointment)
    await uow.deliveries.add(delivery)
    return delivery


async def _delivery(uow: SchedulingUnitOfWork, delivery_id: uuid.UUID) -> Delivery:
    delivery = await uow.deliveries.get(delivery_id)
    if delivery is None:
        raise NotFound("no such delivery")
    return delivery


async def correct_delivered_time(
    cmd: commands.CorrectDeliveredTime, uow: SchedulingUnitOfWork
) -> Delivery:
    delivery = await _delivery(uow, cmd.delivery_id)
    if not await uow.deliveries.add_correction(
        cmd.delivery_id, cmd.correction_id, cmd.minutes, cmd.funding_stream, cmd.reason
    ):
        return delivery  # the same correction again: already applied and published
    delivery.correct(cmd.correction_id, cmd.minutes, cmd.funding_stream, cmd.reason)
    await uow.deliveries.update(delivery)
    return delivery


async def void_delivered_time(
    cmd: commands.VoidDeliveredTime, uow: SchedulingUnitOfWork
) -> Delivery:
    delivery = await _delivery(uow, cmd.delivery_id)
    delivery.void(cmd.reason)
    await uow.deliveries.update(delivery)
    return delivery


# --- other contexts' events -----------------------------------------------------------------


async def record_referral(cmd: commands.RecordReferral, uow: SchedulingUnitOfWork) -> None:
    await uow.read_models.record_referral(cmd.referral_id, cmd.child_id, cmd.school_urn)


async def record_consent_status(
    cmd: commands.RecordConsentStatus, uow: SchedulingUnitOfWork
) -> int:
    """Keep the consent read model; consent no longer valid cancels future appointments
    (returns how many)."""
    await uow.read_models.record_consent(
        cmd.referral_id, cmd.child_id, cmd.involvement_valid, cmd.changed_at
    )
    if cmd.involvement_valid:
        return 0
    cancelled = await uow.appointments.future_for_consent(
        cmd.referral_id, cmd.child_id, cmd.changed_at
    )
    reason = "consent to involvement is no longer valid" + (f": {cmd.reason}" if cmd.reason else "")
    for appointment in cancelled:
        appointment.cancel(
            reason[:500], cancelled_at=cmd.changed_at, cancelled_by=CancellationParty.SERVICE
        )
        await uow.appointments.update(appointment)
    return len(cancelled)


async def record_advice_request(
    cmd: commands.RecordAdviceRequest, uow: SchedulingUnitOfWork
) -> int:
    """Keep the advice read model; an advice request submitted or withdrawn cancels its future
    appointments (returns how many), an opened one releases the bookings waiting for it."""
    await uow.read_models.record_advice(cmd.advice_id, cmd.status, cmd.at)
    if cmd.status == "open":
        await uow.release(advice_awaited(uow.tenant, cmd.advice_id))
        return 0
    cancelled = await uow.appointments.future_for_advice(cmd.advice_id, cmd.at)
    reason = f"statutory advice request {cmd.status}" + (f": {cmd.reason}" if cmd.reason else "")
    for appointment in cancelled:
        appointment.cancel(
            reason[:500], cancelled_at=cmd.at, cancelled_by=CancellationParty.SERVICE
        )
        await uow.appointments.update(appointment)
    return len(cancelled)


# --- fast track --------------------------------------------------------------------------


async def allocate_fast_track(
    cmd: commands.AllocateFastTrack, uow: SchedulingUnitOfWork
) -> FastTrackEpsAllocated:
    """Allocate EPs to a critical incident now, displacing routine work if need be.

    Every request is answered, even one for a school scheduling does not know (nobody, with
    the reason), so the coordinator is never left waiting for an answer that will not come.
    Each attempt is answered once: the same attempt again gets the same answer, while a later
    attempt (the coordinator asking for EPs still missing) is allocated afresh, leaving out
    every EP already going, whether the request names them or an earlier answer sent them.
    """
    previous = await uow.fast_track.answer(cmd.incident_id, cmd.attempt)
    if previous is not None:  # asked again: the same answer again
        answer = FastTrackEpsAllocated.model_validate_json(previous)
        uow.publish(answer)
        return answer
    school = await uow.staff.get_school(cmd.school_urn)
    if school is None:
        nobody = unknown_school(cmd.school_urn, cmd.eps_needed)
        return await _answer(uow, cmd, [], nobody.shortfall, nobody.reason)
    now = max(cmd.requested_at, uow.clock())  # from the request, or now if it was held up
    going = set(cmd.exclude_ep_ids)
    if cmd.attempt > 1:  # the first request has no earlier answer (one query less on the fast path)
        going |= await uow.fast_track.allocated_ep_ids(cmd.incident_id)
    need = FastTrackNeed(
        incident_id=cmd.incident_id,
        school=school,
        eps_needed=cmd.eps_needed,
        needed_by=cmd.needed_by,
        duration_minutes=cmd.duration_minutes,
        senior_lead_required=cmd.senior_lead_required,
        on_site=cmd.level > 1,
        excluded_ep_ids=frozenset(going),
    )
    candidates = [
        ep.ep_id
        for ep in await uow.staff.list_eps()
        if ep.active
        and ep.role.is_qualified_ep
        and (ep.on_rota or ep.ep_id == school.named_ep_id or ep.role.is_senior)
        and (ep.ep_id not in going or ep.role.is_senior)  # a senior going already leads
    ]
    eps = await uow.staff.lock_eps(candidates)
    policy = await uow.policies.get()
    # Choosing needs only the response window (widened past any travel buffer); the weeks up
    # to the rescheduling horizon are read below for the EPs whose work is displaced, so the
    # time to allocate does not grow with how full the diaries are further ahead.
    window = await uow.appointments.diaries(
        [ep.ep_id for ep in eps],
        now - RESPONSE_WINDOW_MARGIN,
        cmd.needed_by + timedelta(minutes=cmd.duration_minutes) + RESPONSE_WINDOW_MARGIN,
    )
    allocation = allocate(need, eps, window, now, policy)
    horizon = cmd.needed_by + timedelta(days=policy.reschedule_horizon_days)
    allocated: list[AllocatedEp] = []
    booked: list[Appointment] = []
    for option in allocation.chosen:
        incident_appointment = response_appointment(need, option)
        if option.displaced:
            diary = await uow.appointments.diaries(
                [option.ep.ep_id], now - DIARY_MARGIN, horizon + DIARY_MARGIN
            )
            await _displace(
                uow,
                option.ep,
                option.displaced,
                diary[option.ep.ep_id],
                incident_appointment,
                policy,
                f"displaced by critical incident: {incident_appointment.case_ref}",
            )
        booked.append(incident_appointment)
        allocated.append(
            AllocatedEp(
                ep_id=option.ep.ep_id,
                appointment_id=incident_appointment.appointment_id,
                starts_at=option.slot.start,
                is_named_ep=option.is_named_ep,
                displaced_appointment_ids=tuple(a.appointment_id for a in option.displaced),
            )
        )
    # after every move, in one round trip; a conflict fails the whole allocation, so no savepoint
    await uow.appointments.add_all(booked)
    return await _answer(uow, cmd, allocated, allocation.shortfall, allocation.reason)


async def _answer(
    uow: SchedulingUnitOfWork,
    cmd: commands.AllocateFastTrack,
    allocated: Sequence[AllocatedEp],
    shortfall: int,
    reason: str | None,
) -> FastTrackEpsAllocated:
    """Keep the answer (the same attempt again gets it again) and publish it on the fast track."""
    answer = FastTrackEpsAllocated(
        incident_id=cmd.incident_id,
        eps=tuple(allocated),
        shortfall=shortfall,
        reason=reason[:500] if reason else None,
        attempt=cmd.attempt,
    )
    await uow.fast_track.save_answer(cmd.incident_id, cmd.attempt, answer.model_dump_json())
    uow.publish(answer)
    return answer


async def _displace(
    uow: SchedulingUnitOfWork,
    ep: Ep,
    displaced: Sequence[Appointment],
    diary: list[Appointment],
    incident: Appointment,
    policy: Policy,
    reason: str,
) -> None:
    """Move each appointment ``incident`` displaces (a critical incident, or statutory work
    re-planned) to the EP's next free slot, or cancel it; say why."""
    moving = {a.appointment_id for a in displaced}
    kept = [a for a in diary if a.appointment_id not in moving] + [incident]
    for appointment, slot in plan_displacement(ep, displaced, diary, incident, policy):
        if slot is None:
            appointment.cancel(
                f"{reason}; no free slot within {policy.reschedule_horizon_days} days",
                cancelled_at=uow.clock(),
                cancelled_by=CancellationParty.SERVICE,
            )
        else:
            appointment.reschedule(ep.ep_id, slot.start, slot.end, reason)
            kept.append(appointment)
        await uow.appointments.update(appointment)
    diary[:] = kept


# --- planning meetings ----------------------------------------------------------------------


async def propose_planning_meetings(
    cmd: commands.ProposePlanningMeetings, uow: SchedulingUnitOfWork
) -> list[Appointment]:
    """Put the autumn and spring planning meetings in the named EP's diary (once per term)."""
    now = uow.clock()
    school = await _school(uow, cmd.school_urn)
    [ep] = await uow.staff.lock_eps([school.named_ep_id])
    done = await uow.planning.proposed(school.school_urn, cmd.academic_year)
    policy = await uow.policies.get()
    proposed: list[Appointment] = []
    for term in Term:
        if term in done:
            continue
        if term_over(cmd.academic_year, term, policy, now):
            # too late for this term (e.g. a school registered mid-year): settled, not retried
            await uow.planning.add(school.school_urn, cmd.academic_year, str(term), None)
            continue
        window_start = max(now, datetime(cmd.academic_year, 8, 1, tzinfo=now.tzinfo))
        diary = (
            await uow.appointments.diaries(
                [ep.ep_id], window_start - DIARY_MARGIN, window_start + timedelta(days=366)
            )
        )[ep.ep_id]
        slot = propose_planning_meeting(ep, diary, school, cmd.academic_year, term, policy, now)
        if slot is None:  # tried again by the next run; told once, so someone can make room
            year, term_name = cmd.academic_year, str(term)
            if await uow.planning.not_placed(school.school_urn, year, term_name, now):
                window = term_window(cmd.academic_year, term, policy)
                uow.publish(
                    PlanningMeetingNotPlaced(
                        school_urn=school.school_urn,
                        academic_year=year,
                        term=term_name,
                        ep_id=ep.ep_id,
                        window_start=london_date(window.start),
                        window_end=london_date(window.end) - timedelta(days=1),
                    )
                )
            continue
        meeting = Appointment.book(
            ep_id=ep.ep_id,
            kind=AppointmentKind.PLANNING_MEETING,
            starts_at=slot.start,
            ends_at=slot.end,
            funding_stream=FundingStream.CORE,
            place=school.school_urn,
            school_urn=school.school_urn,
            case_ref=f"planning:{school.school_urn}:{cmd.academic_year}:{term}",
        )
        await uow.appointments.add(meeting)
        await uow.planning.add(
            school.school_urn, cmd.academic_year, str(term), meeting.appointment_id
        )
        proposed.append(meeting)
    return proposed


async def planning_due(uow: SchedulingUnitOfWork) -> list[commands.ProposePlanningMeetings]:
    """What the planning job does in one local authority: a command for each school still
    missing a term of the school year being planned now (each is proposed in a unit of work of
    its own, so one school's refusal or locks hold back no other)."""
    year = planning_year(uow.clock(), await uow.policies.get())
    return [
        commands.ProposePlanningMeetings(school_urn, year)
        for school_urn in await uow.planning.schools_due(year)
    ]
