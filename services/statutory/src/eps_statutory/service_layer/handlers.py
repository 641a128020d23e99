"""Service-layer handlers: load, call the domain, save, publish, all in one unit of work."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from eps_chassis.errors import NotFound, reference
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.statutory import TribunalTasksCreated

from eps_statutory.adapters.repository import (
    AdviceRepository,
    PolicyRepository,
    SchoolRepository,
    TribunalTaskRepository,
)
from eps_statutory.domain import clock
from eps_statutory.domain.clock import ClockException
from eps_statutory.domain.commands import (
    ApproveAdvice,
    RecordAssessmentBooked,
    RecordAssessmentCancelled,
    RecordAssessmentCompleted,
    RecordAssessmentRescheduled,
    RecordBookingFailed,
    RecordException,
    RecordNamedEp,
    RegisterAdviceRequest,
    RegisterTribunalAppeal,
    RequestAssessmentBooking,
    SaveDraft,
    SubmitAdvice,
    WithdrawAdvice,
    WithdrawAdviceRequest,
)
from eps_statutory.domain.model import Advice, Person
from eps_statutory.domain.policy import LaPolicy
from eps_statutory.domain.tribunal import tribunal_tasks


def request_awaited(tenant: str, request_id: uuid.UUID) -> str:
    """What news of a request for advice not received yet (an appeal, a withdrawal) waits for."""
    return reference("advice-request", tenant, request_id)


async def _load(uow: UnitOfWork, advice_id: uuid.UUID) -> Advice:
    advice = await AdviceRepository(uow.conn).get(uow.tenant, advice_id)
    if advice is None:
        raise NotFound(f"no advice {advice_id}", field="advice_id")
    return advice


async def _save(uow: UnitOfWork, advice: Advice) -> None:
    await AdviceRepository(uow.conn).save(advice)
    _publish(uow, advice)


def _publish(uow: UnitOfWork, advice: Advice) -> None:
    for event in advice.events:
        uow.publish(event)
    advice.events.clear()


async def register_advice_request(
    cmd: RegisterAdviceRequest, uow: UnitOfWork, now: datetime
) -> uuid.UUID:
    """Record the LA's request, start the clock, allocate it and ask scheduling for a visit.

    A request already registered is not doubled (the SEN team may send it again)."""
    advices, schools = AdviceRepository(uow.conn), SchoolRepository(uow.conn)
    await advices.lock_request(uow.tenant, cmd.request_id)
    existing = await advices.id_for_request(uow.tenant, cmd.request_id)
    if existing is not None:
        return existing
    policy = await PolicyRepository(uow.conn).get(uow.tenant)
    advice = Advice.receive(uow.tenant, cmd, policy, uuid.uuid4())
    if cmd.school_urn and cmd.school_name:
        await schools.remember_school(uow.tenant, cmd.school_urn, cmd.school_name)
    named_ep = (
        await schools.named_ep_on(uow.tenant, cmd.school_urn, advice.received_on)
        if cmd.school_urn
        else None
    )
    advice.allocate(policy, named_ep)
    advice.request_booking(policy, now)
    await advices.add(advice)
    _publish(uow, advice)
    await uow.release(request_awaited(uow.tenant, cmd.request_id))
    return advice.advice_id


async def record_named_ep(cmd: RecordNamedEp, uow: UnitOfWork) -> None:
    await SchoolRepository(uow.conn).record_named_ep(
        uow.tenant, cmd.school_urn, cmd.ep_id, cmd.effective_from
    )


async def record_assessment_booked(cmd: RecordAssessmentBooked, uow: UnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_booked(cmd.appointment_id, cmd.ep_id, cmd.starts_at, cmd.request_id)
    await _save(uow, advice)


async def record_assessment_rescheduled(cmd: RecordAssessmentRescheduled, uow: UnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_rescheduled(cmd.appointment_id, cmd.ep_id, cmd.starts_at)
    await _save(uow, advice)


async def record_booking_failed(cmd: RecordBookingFailed, uow: UnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_booking_failed(cmd.request_id, cmd.reason)
    await _save(uow, advice)


async def record_assessment_cancelled(
    cmd: RecordAssessmentCancelled, uow: UnitOfWork, now: datetime
) -> None:
    """A cancelled booking is booked again at once (for the same purpose), unless the advice no
    longer needs one."""
    advice = await _load(uow, cmd.advice_id)
    purpose = advice.record_cancelled(cmd.appointment_id)
    if purpose is not None:
        advice.request_booking(await PolicyRepository(uow.conn).get(uow.tenant), now, purpose)
    await _save(uow, advice)


async def record_assessment_completed(cmd: RecordAssessmentCompleted, uow: UnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_completed(cmd.appointment_id, cmd.completed_at)
    await _save(uow, advice)


async def request_assessment_booking(
    cmd: RequestAssessmentBooking, uow: UnitOfWork, now: datetime
) -> uuid.UUID:
    advice = await _load(uow, cmd.advice_id)
    policy = await PolicyRepository(uow.conn).get(uow.tenant)
    request = advice.request_booking(policy, now, cmd.purpose)
    await _save(uow, advice)
    return request.request_id


async def record_exception(
    cmd: RecordException, by: Person, uow: UnitOfWork, today: date
) -> Advice:
    advice = await _load(uow, cmd.advice_id)
    advice.record_exception(
        ClockException(
            exception_id=uuid.uuid4(),
            kind=clock.parse_exception_kind(cmd.kind),
            starts_on=cmd.starts_on,
            ends_on=cmd.ends_on,
            reason=cmd.reason,
            evidence=cmd.evidence,
            parents_notified_on=cmd.parents_notified_on,
            recorded_on=today,
            recorded_by=by.person_id,
        ),
        today,
    )
    await _save(uow, advice)
    return advice


async def save_draft(cmd: SaveDraft, by: Person, uow: UnitOfWork) -> Advice:
    advice = await _load(uow, cmd.advice_id)
    advice.save_draft(cmd.document, by)
    await _save(uow, advice)
    return advice


async def approve_advice(cmd: ApproveAdvice, by: Person, uow: UnitOfWork) -> Advice:
    advice = await _load(uow, cmd.advice_id)
    advice.approve(by, await SchoolRepository(uow.conn).known_schools(uow.tenant))
    await _save(uow, advice)
    return advice


async def submit_advice(cmd: SubmitAdvice, uow: UnitOfWork, today: date) -> Advice:
    advice = await _load(uow, cmd.advice_id)
    advice.submit(today, await SchoolRepository(uow.conn).known_schools(uow.tenant))
    await _save(uow, advice)
    return advice


async def _advice_for_request(uow: UnitOfWork, request_id: uuid.UUID) -> uuid.UUID:
    advice_id = await AdviceRepository(uow.conn).id_for_request(uow.tenant, request_id)
    if advice_id is None:
        raise NotFound("no advice was requested under this request id", field="request_id")
    return advice_id


async def withdraw_advice_request(cmd: WithdrawAdviceRequest, uow: UnitOfWork) -> Advice:
    """The LA withdrew its request: the advice closes, and scheduling cancels its
    appointments on the event."""
    advice_id = await _advice_for_request(uow, cmd.request_id)
    return await withdraw_advice(WithdrawAdvice(advice_id, cmd.withdrawn_on, cmd.reason), uow)


async def withdraw_advice(cmd: WithdrawAdvice, uow: UnitOfWork) -> Advice:
    advice = await _load(uow, cmd.advice_id)
    advice.withdraw(cmd.withdrawn_on, cmd.reason)
    await _save(uow, advice)
    return advice


async def register_tribunal_appeal(cmd: RegisterTribunalAppeal, uow: UnitOfWork) -> None:
    """Give the advice's EP the appeal's tasks (once per appeal, however often it arrives)."""
    advice_id = await _advice_for_request(uow, cmd.request_id)
    advice = await _load(uow, advice_id)
    policy = await PolicyRepository(uow.conn).get(uow.tenant)
    tasks = tribunal_tasks(cmd, advice.ep_id, policy)
    if await TribunalTaskRepository(uow.conn).add(uow.tenant, cmd.appeal_id, advice_id, tasks):
        uow.publish(TribunalTasksCreated(advice_id=advice_id, appeal_id=cmd.appeal_id, tasks=tasks))


async def watch_deadlines(uow: UnitOfWork, today: date) -> int:
    """Raise the at-risk and breach events due today for one LA; returns how many were raised."""
    policy = await PolicyRepository(uow.conn).get(uow.tenant)
    advices = AdviceRepository(uow.conn)
    raised = 0
    horizon = today + timedelta(days=policy.at_risk_days)
    for advice in await advices.open_advice_due_by(uow.tenant, horizon):
        advice.watch(today, policy)
        if advice.events:
            raised += len(advice.events)
            await _save(uow, advice)
    return raised


async def set_policy(policy: LaPolicy, uow: UnitOfWork, updated_by: str) -> None:
    await PolicyRepository(uow.conn).put(uow.tenant, policy, updated_by)
