"""Kafka entrypoints of the consent service."""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts import Envelope, topics
from eps_contracts.referrals import ReferralReceived

from eps_consent.domain.commands import OpenConsentCase
from eps_consent.service_layer import handlers

referral_events = EventConsumer(
    name="referral-events",
    topics=[topics.REFERRALS],
    description="Referral lifecycle events: a received referral opens a consent case.",
)


@referral_events.on(ReferralReceived)
async def on_referral_received(event: Envelope[ReferralReceived], uow: UnitOfWork) -> None:
    data = event.data
    await handlers.open_consent_case(
        OpenConsentCase(
            referral_id=data.referral_id,
            child_id=data.child_id,
            child_date_of_birth=data.child_date_of_birth,
            received_on=data.received_on,
            looked_after=data.looked_after,
            parental_responsibility_holder_ids=data.parental_responsibility_holder_ids,
            social_worker_id=data.social_worker_id,
            school_urn=data.school_urn,
        ),
        uow,
    )
