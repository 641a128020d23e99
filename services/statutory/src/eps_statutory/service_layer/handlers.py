"""Service-layer handlers of the statutory service: each takes a command and the unit of work,
loads through its repositories, asks the domain, and saves. The unit of work publishes what the
advice recorded when it commits."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from eps_chassis.errors import NotFound, reference
from eps_chassis.london import london_date
from eps_contracts.statutory import TribunalTasksCreated

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
    SetStatutoryPolicy,
    SubmitAdvice,
    WithdrawAdvice,
    WithdrawAdviceRequest,
)
from eps_statutory.domain.model import Advice
from eps_statutory.domain.policy import LaPolicy
from eps_statutory.domain.tribunal import tribunal_tasks
from eps_statutory.service_layer.unit_of_work import StatutoryUnitOfWork


def request_awaited(tenant: str, request_id: uuid.UUID) -> str:
    """What news of a request for advice not received yet (an appeal, a withdrawal) waits for."""
    return reference("advice-request", tenant, request_id)


def _today(uow: StatutoryUnitOfWork) -> date:
    return london_date(uow.clock())


async def _load(uow: StatutoryUnitOfWork, advice_id: uuid.UUID) -> Advice:
    advice = await uow.advice.get(advice_id)
    if advice is None:
        raise NotFound(f"no advice {advice_id}", field="advice_id")
    return advice


async def _advice_for_request(uow: StatutoryUnitOfWork, request_id: uuid.UUID) -> uuid.UUID:
    advice_id = await uow.advice.id_for_request(request_id)
    if advice_id is None:
        raise NotFound("no advice was requested under this request id", field="request_id")
    return advice_id


async def register_advice_request(
    cmd: RegisterAdviceRequest, uow: StatutoryUnitOfWork
) -> uuid.UUID:
    """Record the LA's request, start the clock, allocate it and ask scheduling for a visit.

    A request already registered is not doubled (the SEN team may send it again)."""
    await uow.advice.lock_request(cmd.request_id)
    existing = await uow.advice.id_for_request(cmd.request_id)
    if existing is not None:
        return existing
    policy = await uow.policies.get()
    advice = Advice.receive(uow.tenant, cmd, policy, uuid.uuid4())
    if cmd.school_urn and cmd.school_name:
        await uow.schools.remember(cmd.school_urn, cmd.school_name)
    named_ep = (
        await uow.schools.named_ep_on(cmd.school_urn, advice.received_on)
        if cmd.school_urn
        else None
    )
    advice.allocate(policy, named_ep)
    advice.request_booking(policy, cmd.sent_at)
    await uow.advice.add(advice)
    await uow.release(request_awaited(uow.tenant, cmd.request_id))
    return advice.advice_id


async def record_named_ep(cmd: RecordNamedEp, uow: StatutoryUnitOfWork) -> None:
    await uow.schools.record_named_ep(cmd.school_urn, cmd.ep_id, cmd.effective_from)


async def record_assessment_booked(cmd: RecordAssessmentBooked, uow: StatutoryUnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_booked(cmd.appointment_id, cmd.ep_id, cmd.starts_at, cmd.request_id)
    await uow.advice.save(advice)


async def record_assessment_rescheduled(
    cmd: RecordAssessmentRescheduled, uow: StatutoryUnitOfWork
) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_rescheduled(cmd.appointment_id, cmd.ep_id, cmd.starts_at)
    await uow.advice.save(advice)


async def record_booking_failed(cmd: RecordBookingFailed, uow: StatutoryUnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_booking_failed(cmd.request_id, cmd.reason)
    await uow.advice.save(advice)


async def record_assessment_cancelled(
    cmd: RecordAssessmentCancelled, uow: StatutoryUnitOfWork
) -> None:
    """A cancelled booking is booked again at once (for the same purpose), unless the advice no
    longer needs one."""
    advice = await _load(uow, cmd.advice_id)
    purpose = advice.record_cancelled(cmd.appointment_id)
    if purpose is not None:
        advice.request_booking(await uow.policies.get(), cmd.cancelled_at, purpose)
    await uow.advice.save(advice)


async def record_assessment_completed(
    cmd: RecordAssessmentCompleted, uow: StatutoryUnitOfWork
) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.record_completed(cmd.appointment_id, cmd.completed_at)
    await uow.advice.save(advice)


async def request_assessment_booking(
    cmd: RequestAssessmentBooking, uow: StatutoryUnitOfWork
) -> uuid.UUID:
    """Ask scheduling for one purpose's booking, from now; the booking request's id."""
    advice = await _load(uow, cmd.advice_id)
    request = advice.request_booking(await uow.policies.get(), uow.clock(), cmd.purpose)
    await uow.advice.save(advice)
    return request.request_id


async def record_exception(cmd: RecordException, uow: StatutoryUnitOfWork) -> None:
    advice, today = await _load(uow, cmd.advice_id), _today(uow)
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
            recorded_by=cmd.recorded_by,
        ),
        today,
    )
    await uow.advice.save(advice)


async def save_draft(cmd: SaveDraft, uow: StatutoryUnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.save_draft(cmd.document, cmd.author)
    await uow.advice.save(advice)


async def approve_advice(cmd: ApproveAdvice, uow: StatutoryUnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.approve(cmd.approver, await uow.schools.known())
    await uow.advice.save(advice)


async def submit_advice(cmd: SubmitAdvice, uow: StatutoryUnitOfWork) -> None:
    """Send the approved advice to the SEN team, today."""
    advice = await _load(uow, cmd.advice_id)
    advice.submit(_today(uow), await uow.schools.known())
    await uow.advice.save(advice)


async def withdraw_advice_request(cmd: WithdrawAdviceRequest, uow: StatutoryUnitOfWork) -> None:
    """The LA withdrew its request: the advice closes, and scheduling cancels its
    appointments on the event."""
    advice_id = await _advice_for_request(uow, cmd.request_id)
    await withdraw_advice(WithdrawAdvice(advice_id, cmd.withdrawn_on, cmd.reason), uow)


async def withdraw_advice(cmd: WithdrawAdvice, uow: StatutoryUnitOfWork) -> None:
    advice = await _load(uow, cmd.advice_id)
    advice.withdraw(cmd.withdrawn_on, cmd.reason)
    await uow.advice.save(advice)


async def register_tribunal_appeal(cmd: RegisterTribunalAppeal, uow: StatutoryUnitOfWork) -> None:
    """Give the advice's EP the appeal's tasks (once per appeal, however often it arrives)."""
    advice = await _load(uow, await _advice_for_request(uow, cmd.request_id))
    tasks = tribunal_tasks(cmd, advice.ep_id, await uow.policies.get())
    if await uow.tribunal_tasks.add(cmd.appeal_id, advice.advice_id, tasks):
        # the tasks are the appeal's, not a change of the advice: no aggregate records them
        uow.publish(
            TribunalTasksCreated(advice_id=advice.advice_id, appeal_id=cmd.appeal_id, tasks=tasks)
        )


async def watch_deadlines(uow: StatutoryUnitOfWork) -> int:
    """The deadline watch, for one local authority: the at-risk and breach events due today.
    Returns how many were raised."""
    today, policy = _today(uow), await uow.policies.get()
    raised = 0
    for advice in await uow.advice.open_due_by(today + timedelta(days=policy.at_risk_days)):
        advice.watch(today, policy)
        if advice.events:
            raised += len(advice.events)
            await uow.advice.save(advice)
    return raised


async def set_statutory_policy(cmd: SetStatutoryPolicy, uow: StatutoryUnitOfWork) -> LaPolicy:
    """Configuration, not code: advice already received keeps its clock's rules."""
    await uow.policies.set(cmd.policy, cmd.updated_by)
    return cmd.policy
