"""Kafka entrypoints of the consent service."""

from __future__ import annotations

from datetime import date

from eps_chassis.consumer import EventConsumer
from eps_chassis.london import london_date
from eps_contracts import Envelope, topics
from eps_contracts.referrals import (
    ChildForConsent,
    ReferralClosed,
    ReferralDeclined,
    ReferralReceived,
    ReferralReceivedV1,
    ReferralRedirected,
)

from eps_consent.domain.commands import CloseConsentCase, OpenConsentCase
from eps_consent.service_layer import handlers
from eps_consent.service_layer.unit_of_work import ConsentUnitOfWork

referral_events = EventConsumer(
    name="referral-events",
    topics=[topics.REFERRALS],
    description=(
        "Referral lifecycle events: a received referral opens a consent case; a closed,"
        " declined or redirected one closes it."
    ),
)


@referral_events.on(ReferralReceived)
async def on_referral_received(event: Envelope[ReferralReceived], uow: ConsentUnitOfWork) -> None:
    child: ChildForConsent | None = await uow.sealer.open_field(event, "child")
    if child is None:  # the child was erased: consent holds nothing about them
        return
    await _open_case(event.data, child.date_of_birth, child.looked_after, uow)


@referral_events.on(ReferralReceivedV1)
async def on_referral_received_v1(
    event: Envelope[ReferralReceivedV1], uow: ConsentUnitOfWork
) -> None:
    """Records on the log from before the child's details were sealed."""
    data = event.data
    await _open_case(data, data.child_date_of_birth, data.looked_after, uow)


async def _open_case(
    data: ReferralReceived | ReferralReceivedV1,
    date_of_birth: date,
    looked_after: bool,
    uow: ConsentUnitOfWork,
) -> None:
    await handlers.open_consent_case(
        OpenConsentCase(
            referral_id=data.referral_id,
            child_id=data.child_id,
            child_date_of_birth=date_of_birth,
            received_on=data.received_on,
            looked_after=looked_after,
            parental_responsibility_holder_ids=data.parental_responsibility_holder_ids,
            social_worker_id=data.social_worker_id,
            school_urn=data.school_urn,
        ),
        uow,
    )


@referral_events.on(ReferralClosed)
async def on_referral_closed(event: Envelope[ReferralClosed], uow: ConsentUnitOfWork) -> None:
    await handlers.close_consent_case(
        CloseConsentCase(event.data.referral_id, event.data.closed_on, "referral closed"), uow
    )


@referral_events.on(ReferralDeclined)
async def on_referral_declined(event: Envelope[ReferralDeclined], uow: ConsentUnitOfWork) -> None:
    await handlers.close_consent_case(
        CloseConsentCase(event.data.referral_id, london_date(event.time), "referral declined"),
        uow,
    )


@referral_events.on(ReferralRedirected)
async def on_referral_redirected(
    event: Envelope[ReferralRedirected], uow: ConsentUnitOfWork
) -> None:
    data = event.data
    await handlers.close_consent_case(
        CloseConsentCase(
            data.referral_id, london_date(event.time), f"referral redirected to {data.destination}"
        ),
        uow,
    )
