"""Kafka entrypoints: translate each consumed event into a command, nothing more.

The fast track has its own consumer (own group, small batches) on its own topic, so no backlog
of routine booking requests or case events can ever sit in front of a critical incident.
"""

from __future__ import annotations

from datetime import timedelta

from eps_chassis.consumer import EventConsumer
from eps_chassis.errors import NotFound, NotYetKnown, OwnedElsewhere
from eps_contracts import Envelope, topics
from eps_contracts.billing import (
    AGREEMENTS,
    ServiceLevelAgreementBought,
    ServiceLevelAgreementCancelled,
    ServiceLevelAgreementChanged,
)
from eps_contracts.consent import ConsentStatusChanged
from eps_contracts.incidents import FAST_TRACK_REQUESTS, FastTrackAllocationRequested
from eps_contracts.referrals import ReferralReceived, ReferralReceivedV1
from eps_contracts.scheduling import BOOKING_REQUESTS, AppointmentBookingRequested
from eps_contracts.statutory import (
    ADVICE,
    AdviceRequestReceived,
    AdviceSubmitted,
    AdviceSubmittedV1,
    AdviceWithdrawn,
)

from eps_scheduling.domain import commands
from eps_scheduling.service_layer import handlers
from eps_scheduling.service_layer.unit_of_work import SchedulingUnitOfWork

fast_track = EventConsumer(
    name="fast-track",
    topics=[FAST_TRACK_REQUESTS],
    batch_size=5,
    batch_timeout_ms=100,  # a poll returns as soon as a record arrives (priority: no idle sleep)
    description="Critical-incident requests for EPs; read by nothing else, answered at once.",
)
booking_requests = EventConsumer(
    name="booking-requests",
    topics=[BOOKING_REQUESTS],
    batch_size=20,  # short transactions: EP rows are locked only briefly
    description="Other services' requests for EP time (e.g. statutory assessment visits).",
)
case_events = EventConsumer(
    name="case-events",
    topics=[topics.REFERRALS, topics.CONSENT],
    batch_size=100,
    description="Referrals (read model) and consent changes (withdrawal cancels appointments).",
)
advice_requests = EventConsumer(
    name="advice-requests",
    topics=[ADVICE],
    batch_size=100,
    description="Statutory advice requests: the basis of their bookings, which are cancelled"
    " when the request is withdrawn or the advice submitted.",
)
agreements = EventConsumer(
    name="agreements",
    topics=[AGREEMENTS],
    batch_size=100,
    description="SLAs bought in billing: each school's traded time for a year.",
)


@fast_track.on(FastTrackAllocationRequested)
async def on_fast_track_requested(
    event: Envelope[FastTrackAllocationRequested], uow: SchedulingUnitOfWork
) -> None:
    data = event.data
    cmd = commands.AllocateFastTrack(
        incident_id=data.incident_id,
        school_urn=data.school_urn,
        level=data.level,
        eps_needed=data.eps_needed,
        needed_by=data.needed_by,
        duration_minutes=data.duration_minutes,
        senior_lead_required=data.senior_lead_required,
        requested_at=event.time,
        attempt=data.attempt,
        exclude_ep_ids=data.exclude_ep_ids,
    )
    await handlers.allocate_fast_track(cmd, uow)


@booking_requests.on(AppointmentBookingRequested)
async def on_booking_requested(
    event: Envelope[AppointmentBookingRequested], uow: SchedulingUnitOfWork
) -> None:
    data = event.data
    await handlers.answer_booking_request(
        commands.BookAppointment(
            kind=data.kind,
            funding_stream=data.funding_stream,
            starts_at=data.earliest,
            duration_minutes=data.duration_minutes,
            ep_id=data.ep_id,
            school_urn=data.school_urn,
            referral_id=data.referral_id,
            child_id=data.child_id,
            case_ref=data.case_ref,
            request_id=data.request_id,
            window_end=max(data.earliest, data.latest - timedelta(minutes=data.duration_minutes)),
            advice_id=data.advice_id,
        ),
        uow,
    )


@case_events.on(ReferralReceived)
@case_events.on(ReferralReceivedV1)  # records on the log from before the child was sealed
async def on_referral_received(
    event: Envelope[ReferralReceived] | Envelope[ReferralReceivedV1], uow: SchedulingUnitOfWork
) -> None:
    data = event.data
    await handlers.record_referral(
        commands.RecordReferral(data.referral_id, data.child_id, data.school_urn), uow
    )


@case_events.on(ConsentStatusChanged)
async def on_consent_status_changed(
    event: Envelope[ConsentStatusChanged], uow: SchedulingUnitOfWork
) -> None:
    data = event.data
    await handlers.record_consent_status(
        commands.RecordConsentStatus(
            referral_id=data.referral_id,
            child_id=data.child_id,
            involvement_valid=data.involvement_valid,
            reason=data.reason,
            changed_at=event.time,
        ),
        uow,
    )


@advice_requests.on(AdviceRequestReceived)
async def on_advice_request_received(
    event: Envelope[AdviceRequestReceived], uow: SchedulingUnitOfWork
) -> None:
    await handlers.record_advice_request(
        commands.RecordAdviceRequest(event.data.advice_id, "open", event.time), uow
    )


@advice_requests.on(AdviceSubmitted)
@advice_requests.on(AdviceSubmittedV1)  # records on the log from before the document was sealed
async def on_advice_submitted(
    event: Envelope[AdviceSubmitted] | Envelope[AdviceSubmittedV1], uow: SchedulingUnitOfWork
) -> None:
    await handlers.record_advice_request(
        commands.RecordAdviceRequest(
            event.data.advice_id, "submitted", event.time, "the advice has been submitted"
        ),
        uow,
    )


@advice_requests.on(AdviceWithdrawn)
async def on_advice_withdrawn(event: Envelope[AdviceWithdrawn], uow: SchedulingUnitOfWork) -> None:
    data = event.data
    await handlers.record_advice_request(
        commands.RecordAdviceRequest(data.advice_id, "withdrawn", event.time, data.reason), uow
    )


@agreements.on(ServiceLevelAgreementBought)
async def on_sla_bought(
    event: Envelope[ServiceLevelAgreementBought], uow: SchedulingUnitOfWork
) -> None:
    await _record_agreement(event.data, uow)


@agreements.on(ServiceLevelAgreementChanged)
async def on_sla_changed(
    event: Envelope[ServiceLevelAgreementChanged], uow: SchedulingUnitOfWork
) -> None:
    await _record_agreement(event.data, uow)


async def _record_agreement(
    data: ServiceLevelAgreementBought | ServiceLevelAgreementChanged, uow: SchedulingUnitOfWork
) -> None:
    """An SLA for a school scheduling does not know yet waits for the school, visibly."""
    cmd = commands.RecordAgreement(
        data.agreement_id, data.school_urn, data.academic_year, data.minutes
    )
    try:
        await handlers.record_agreement(cmd, uow)
    except NotFound as exc:
        if exc.field != "school_urn" or isinstance(exc, OwnedElsewhere):
            raise
        awaiting = handlers.school_awaited(uow.tenant, data.school_urn)
        raise NotYetKnown(str(exc), awaiting=awaiting, field="school_urn") from exc


@agreements.on(ServiceLevelAgreementCancelled)
async def on_sla_cancelled(
    event: Envelope[ServiceLevelAgreementCancelled], uow: SchedulingUnitOfWork
) -> None:
    await handlers.cancel_agreement(commands.CancelAgreement(event.data.agreement_id), uow)
