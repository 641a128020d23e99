"""Kafka entrypoints: translate each consumed event into a command, nothing more.

A request the domain refuses is dead-lettered by the chassis with the field and the rule; only
an unknown school is turned into something else: the request waits for it (held).
"""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_chassis.errors import NotYetKnown
from eps_contracts import Envelope, topics
from eps_contracts.consent import ConsentStatusChanged
from eps_contracts.referrals import ReferralRequested
from eps_contracts.scheduling import SCHOOLS, NamedEpAssigned

from eps_referrals.domain.commands import RecordConsentStatus, RecordNamedEp, RegisterReferral
from eps_referrals.domain.evidence import UnknownSchool
from eps_referrals.service_layer import handlers
from eps_referrals.service_layer.unit_of_work import ReferralsUnitOfWork

upstream = EventConsumer(
    name="upstream-requests",
    topics=[topics.UPSTREAM_REFERRAL_REQUESTS],
    description="Requests for involvement published by upstream local authority systems.",
)


def register_referral_command(request: ReferralRequested) -> RegisterReferral:
    return RegisterReferral(
        request_id=request.request_id,
        requested_on=request.requested_on,
        requester=request.requester,
        child=request.child,
        concerns=request.concerns,
        priority_groups=request.priority_groups,
        exclusion_tier=request.exclusion_tier,
        graduated_approach=request.graduated_approach,
    )


@upstream.on(ReferralRequested)
async def on_referral_requested(
    event: Envelope[ReferralRequested], uow: ReferralsUnitOfWork
) -> None:
    try:
        await handlers.register_referral(register_referral_command(event.data), uow)
    except UnknownSchool as exc:
        # the school may reach the register after the request: it waits for it, visibly
        awaiting = handlers.school_awaited(uow.tenant, exc.school_urn)
        raise NotYetKnown(str(exc), awaiting=awaiting, field=exc.field) from exc


consent = EventConsumer(
    name="consent-status",
    topics=[topics.CONSENT],
    description="Consent's current state per referral: work goes ahead only while it is valid.",
)


@consent.on(ConsentStatusChanged)
async def on_consent_status_changed(
    event: Envelope[ConsentStatusChanged], uow: ReferralsUnitOfWork
) -> None:
    data = event.data
    await handlers.record_consent_status(
        RecordConsentStatus(
            referral_id=data.referral_id,
            involvement=str(data.involvement),
            involvement_valid=data.involvement_valid,
            reason=data.reason,
        ),
        uow,
    )


schools = EventConsumer(
    name="named-eps",
    topics=[SCHOOLS],
    description="Each school's named EP, to whom its referrals are routed.",
)


@schools.on(NamedEpAssigned)
async def on_named_ep_assigned(event: Envelope[NamedEpAssigned], uow: ReferralsUnitOfWork) -> None:
    data = event.data
    await handlers.record_named_ep(
        RecordNamedEp(
            school_urn=data.school_urn, ep_id=data.ep_id, effective_from=data.effective_from
        ),
        uow,
    )
