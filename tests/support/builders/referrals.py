"""Valid referral payloads and commands, varied by keyword, for tests and benchmarks."""

from __future__ import annotations

import os
import uuid
from datetime import date
from typing import Any

from eps_chassis.sealing import seal_value
from eps_contracts import Envelope, envelope_for
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import (
    AgreedActions,
    ChildDetails,
    ChildForConsent,
    FeedbackRecipient,
    FeedbackRecipientKind,
    FeedbackRecord,
    GraduatedApproachEvidence,
    ParentalResponsibilityHolder,
    ReferralReceived,
    ReferralRequested,
    Requester,
)
from eps_referrals.domain.commands import RegisterReferral
from eps_referrals.entrypoints.events import register_referral_command

from tests.support.clock import suite_now

TENANT = "leicester-city"
SCHOOL = "123456"


def child(**overrides: Any) -> ChildDetails:
    values: dict[str, Any] = dict(
        given_name="Sam",
        family_name="Taylor",
        date_of_birth=date(2016, 5, 4),
        upn=None,
        school_urn=SCHOOL,
        year_group="5",
        home_language="English",
        looked_after=False,
        child_in_need=False,
        parental_responsibility=(
            ParentalResponsibilityHolder(
                person_id="p-1", name="Alex Taylor", relationship="mother"
            ),
        ),
    )
    values.update(overrides)
    return ChildDetails(**values)


def referral_requested(**overrides: Any) -> ReferralRequested:
    values: dict[str, Any] = dict(
        request_id=uuid.uuid4(),
        requested_on=date(2026, 11, 2),
        requester=Requester(
            kind=RequesterKind.SCHOOL_SENCO,
            person_id="senco-1",
            name="Jo Patel",
            organisation="Example Primary",
            school_urn=SCHOOL,
        ),
        child=child(),
        concerns="Struggles with reading and with regulating emotions at transitions.",
        graduated_approach=GraduatedApproachEvidence(
            sen_support_since=date(2025, 1, 6),
            review_cycles_completed=2,
            strategies_tried=("small-group phonics", "visual timetable"),
            attainment_summary="Working below age-related expectations in reading.",
            attendance_percent=94.5,
        ),
    )
    values.update(overrides)
    return ReferralRequested(**values)


def register(**overrides: Any) -> RegisterReferral:
    """The command a SENCO's request (``referral_requested(**overrides)``) becomes."""
    return register_referral_command(referral_requested(**overrides))


def feedback() -> FeedbackRecord:
    """The written feedback a referral closes with, sent to the school and both parents."""
    return FeedbackRecord(
        purpose="Understand reading and regulation needs.",
        child_views="Likes art; finds noisy rooms hard.",
        parents_views="Worried about mornings.",
        strengths="Kind, creative, good verbal reasoning.",
        difficulties="Phonological processing; transitions.",
        formulation="Literacy difficulty compounded by anxiety at transitions.",
        agreed_actions=AgreedActions(
            objectives=("Read CVC words fluently",),
            outcomes=("Reads a levelled book by summer",),
            strategies=("Visual timetable",),
            interventions=("Precision teaching 3x weekly",),
        ),
        review_arrangements="Review with SENCO and parents in March.",
        sent_to=(
            FeedbackRecipient(kind=FeedbackRecipientKind.SCHOOL, name="Example Primary"),
            FeedbackRecipient(kind=FeedbackRecipientKind.PARENTS, name="Alex Taylor"),
            FeedbackRecipient(kind=FeedbackRecipientKind.PARENTS, name="Chris Taylor"),
        ),
    )


def upstream_envelope(request: ReferralRequested | None = None) -> Envelope[ReferralRequested]:
    return envelope_for(
        request or referral_requested(),
        source="/la/leicester-city/sen-system",
        tenant=TENANT,
        actor="upstream:sen-system",
        time=suite_now(),
    )


def received_envelope(school_urn: str = SCHOOL) -> Envelope[ReferralReceived]:
    """Referrals announcing a referral received (a fresh one each call; the child's details
    sealed under a key of its own, which nobody opens)."""
    child_id = uuid.uuid4()
    child = seal_value(
        os.urandom(32),
        ChildForConsent(date_of_birth=date(2016, 5, 4), looked_after=False),
        tenant=TENANT,
        event_type=ReferralReceived.event_type,
        field="child",
        child_id=child_id,
    )
    return envelope_for(
        ReferralReceived(
            referral_id=uuid.uuid4(),
            request_id=uuid.uuid4(),
            received_on=date(2026, 11, 2),
            requester_kind=RequesterKind.SCHOOL_SENCO,
            school_urn=school_urn,
            child_id=child_id,
            child=child,
            parental_responsibility_holder_ids=("p-1",),
        ),
        source="/referrals",
        tenant=TENANT,
        actor="service:referrals",
        time=suite_now(),
    )
