"""Kafka entrypoints: translate each consumed event into a command, nothing more."""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_chassis.errors import DomainError, EventRejected
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts import Envelope, topics
from eps_contracts.referrals import ReferralRequested

from eps_referrals.domain.commands import RegisterReferral
from eps_referrals.service_layer import handlers

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
async def on_referral_requested(event: Envelope[ReferralRequested], uow: UnitOfWork) -> None:
    try:
        await handlers.register_referral(register_referral_command(event.data), uow)
    except DomainError as exc:
        raise EventRejected(f"{exc.field}: {exc}" if exc.field else str(exc)) from exc
