"""Kafka entrypoints of the statutory service: translate each consumed event into a command.

A refusal by the domain is dead-lettered by the chassis; only news of a request not received yet
turns into something else here (it waits for the request)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from eps_chassis.consumer import EventConsumer
from eps_chassis.errors import NotFound, NotYetKnown, OwnedElsewhere
from eps_contracts import Envelope
from eps_contracts.scheduling import (
    APPOINTMENTS,
    SCHOOLS,
    AppointmentBooked,
    AppointmentBookingFailed,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentRescheduled,
    NamedEpAssigned,
)
from eps_contracts.statutory import (
    UPSTREAM_STATUTORY_REQUESTS,
    PsychologicalAdviceRequested,
    PsychologicalAdviceRequestWithdrawn,
    TribunalAppealRegistered,
)

from eps_statutory.domain.commands import (
    RecordAssessmentBooked,
    RecordAssessmentCancelled,
    RecordAssessmentCompleted,
    RecordAssessmentRescheduled,
    RecordBookingFailed,
    RecordNamedEp,
    RegisterAdviceRequest,
    RegisterTribunalAppeal,
    WithdrawAdviceRequest,
)
from eps_statutory.domain.model import advice_id_from_case_ref
from eps_statutory.service_layer import handlers
from eps_statutory.service_layer.unit_of_work import StatutoryUnitOfWork

upstream = EventConsumer(
    name="upstream-requests",
    topics=[UPSTREAM_STATUTORY_REQUESTS],
    description="Requests for advice and tribunal appeals from the LA's SEN assessment team.",
)
scheduling = EventConsumer(
    name="scheduling-events",
    topics=[SCHOOLS, APPOINTMENTS],
    description="Named EPs (for allocation) and the appointments booked for advice.",
)


@upstream.on(PsychologicalAdviceRequested)
async def on_advice_requested(
    event: Envelope[PsychologicalAdviceRequested], uow: StatutoryUnitOfWork
) -> None:
    request = event.data
    cmd = RegisterAdviceRequest(
        request_id=request.request_id,
        requested_at=request.requested_at,
        assessment_requested_on=request.assessment_requested_on,
        la_case_ref=request.la_case_ref,
        child_id=request.child_id,
        child_given_name=request.child_given_name,
        child_family_name=request.child_family_name,
        child_date_of_birth=request.child_date_of_birth,
        school_urn=request.school_urn,
        school_name=request.school_name,
        sent_at=event.time,
    )
    await handlers.register_advice_request(cmd, uow)


async def _about_request(
    uow: StatutoryUnitOfWork, request_id: uuid.UUID, work: Awaitable[None]
) -> None:
    """News of a request for advice (an appeal, a withdrawal): one that names a request not
    received yet waits for it, visibly, rather than being dead-lettered."""
    try:
        await work
    except NotFound as exc:
        if exc.field != "request_id" or isinstance(exc, OwnedElsewhere):
            raise
        awaiting = handlers.request_awaited(uow.tenant, request_id)
        raise NotYetKnown(str(exc), awaiting=awaiting, field="request_id") from exc


@upstream.on(TribunalAppealRegistered)
async def on_tribunal_appeal(
    event: Envelope[TribunalAppealRegistered], uow: StatutoryUnitOfWork
) -> None:
    appeal = event.data
    cmd = RegisterTribunalAppeal(
        appeal_id=appeal.appeal_id,
        request_id=appeal.request_id,
        registered_on=appeal.registered_on,
        hearing_on=appeal.hearing_on,
        evidence_due_on=appeal.evidence_due_on,
    )
    await _about_request(uow, appeal.request_id, handlers.register_tribunal_appeal(cmd, uow))


@upstream.on(PsychologicalAdviceRequestWithdrawn)
async def on_request_withdrawn(
    event: Envelope[PsychologicalAdviceRequestWithdrawn], uow: StatutoryUnitOfWork
) -> None:
    data = event.data
    cmd = WithdrawAdviceRequest(data.request_id, data.withdrawn_on, data.reason)
    await _about_request(uow, data.request_id, handlers.withdraw_advice_request(cmd, uow))


@scheduling.on(NamedEpAssigned)
async def on_named_ep_assigned(event: Envelope[NamedEpAssigned], uow: StatutoryUnitOfWork) -> None:
    data = event.data
    await handlers.record_named_ep(
        RecordNamedEp(
            school_urn=data.school_urn, ep_id=data.ep_id, effective_from=data.effective_from
        ),
        uow,
    )


# Appointment events about other cases (referrals, incidents) are none of this service's
# business: those whose case is not an advice are skipped.


@scheduling.on(AppointmentBooked)
async def on_appointment_booked(
    event: Envelope[AppointmentBooked], uow: StatutoryUnitOfWork
) -> None:
    data = event.data
    if (advice_id := advice_id_from_case_ref(data.case_ref)) is None:
        return
    await handlers.record_assessment_booked(
        RecordAssessmentBooked(
            advice_id, data.request_id, data.appointment_id, data.kind, data.ep_id, data.starts_at
        ),
        uow,
    )


@scheduling.on(AppointmentBookingFailed)
async def on_booking_failed(
    event: Envelope[AppointmentBookingFailed], uow: StatutoryUnitOfWork
) -> None:
    data = event.data
    if (advice_id := advice_id_from_case_ref(data.case_ref)) is None:
        return
    await handlers.record_booking_failed(
        RecordBookingFailed(advice_id, data.request_id, data.reason), uow
    )


@scheduling.on(AppointmentCancelled)
async def on_appointment_cancelled(
    event: Envelope[AppointmentCancelled], uow: StatutoryUnitOfWork
) -> None:
    data = event.data
    if (advice_id := advice_id_from_case_ref(data.case_ref)) is None:
        return
    await handlers.record_assessment_cancelled(
        RecordAssessmentCancelled(advice_id, data.appointment_id, data.reason, event.time), uow
    )


@scheduling.on(AppointmentRescheduled)
async def on_appointment_rescheduled(
    event: Envelope[AppointmentRescheduled], uow: StatutoryUnitOfWork
) -> None:
    data = event.data
    if (advice_id := advice_id_from_case_ref(data.case_ref)) is None:
        return
    await handlers.record_assessment_rescheduled(
        RecordAssessmentRescheduled(advice_id, data.appointment_id, data.ep_id, data.starts_at),
        uow,
    )


@scheduling.on(AppointmentCompleted)
async def on_appointment_completed(
    event: Envelope[AppointmentCompleted], uow: StatutoryUnitOfWork
) -> None:
    data = event.data
    if (advice_id := advice_id_from_case_ref(data.case_ref)) is None:
        return
    await handlers.record_assessment_completed(
        RecordAssessmentCompleted(advice_id, data.appointment_id, data.completed_at), uow
    )
