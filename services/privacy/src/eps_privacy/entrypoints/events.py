"""Kafka entrypoints of the privacy service: the child's date of birth from the events that
carry it (retention is counted from it), and the holders' confirmations of an erasure."""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer
from eps_contracts import Envelope, topics
from eps_contracts.privacy import ERASURE_CONFIRMATIONS, ChildErasureConfirmed
from eps_contracts.referrals import ChildForConsent, ReferralReceived, ReferralReceivedV1
from eps_contracts.statutory import UPSTREAM_STATUTORY_REQUESTS, PsychologicalAdviceRequested

from eps_privacy.service_layer import handlers
from eps_privacy.service_layer.unit_of_work import PostgresPrivacyUnitOfWork

children = EventConsumer(
    name="children",
    topics=[topics.REFERRALS, UPSTREAM_STATUTORY_REQUESTS],
    description="Each child's date of birth, from which their records' retention is counted.",
)
confirmations = EventConsumer(
    name="erasure-confirmations",
    topics=[ERASURE_CONFIRMATIONS],
    batch_size=50,
    description="Each holder's confirmation that it erased a child's records.",
)


@children.on(ReferralReceived)
async def on_referral_received(
    event: Envelope[ReferralReceived], uow: PostgresPrivacyUnitOfWork
) -> None:
    child: ChildForConsent | None = await uow.sealer.open_field(event, "child")
    if child is not None:  # None: the child was erased
        await uow.records.learn_birth_date(event.data.child_id, child.date_of_birth, "referrals")


@children.on(ReferralReceivedV1)
async def on_referral_received_v1(
    event: Envelope[ReferralReceivedV1], uow: PostgresPrivacyUnitOfWork
) -> None:
    """Records on the log from before the child's details were sealed."""
    data = event.data
    await uow.records.learn_birth_date(data.child_id, data.child_date_of_birth, "referrals")


@children.on(PsychologicalAdviceRequested)
async def on_advice_requested(
    event: Envelope[PsychologicalAdviceRequested], uow: PostgresPrivacyUnitOfWork
) -> None:
    data = event.data
    await uow.records.learn_birth_date(data.child_id, data.child_date_of_birth, "statutory")


@confirmations.on(ChildErasureConfirmed)
async def on_erasure_confirmed(
    event: Envelope[ChildErasureConfirmed], uow: PostgresPrivacyUnitOfWork
) -> None:
    await handlers.record_confirmation(event.data, uow)
