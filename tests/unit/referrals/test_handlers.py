"""The referrals service's handlers against a fake unit of work: no broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from eps_chassis.errors import Conflict, DomainError, Forbidden, NotFound
from eps_contracts.referrals import (
    CaseworkPaused,
    CaseworkResumed,
    CaseworkStage,
    CaseworkStageStarted,
    DuplicateReferralLinked,
    GraduatedApproachEvidence,
    RedirectDestination,
    ReferralAccepted,
    ReferralAwaitingTriage,
    ReferralClosed,
    ReferralDeclined,
    ReferralReceived,
    ReferralRedirected,
    ReferralRouted,
)
from eps_referrals.domain.commands import (
    AcceptReferral,
    CloseReferral,
    DeclineReferral,
    RecordConsentStatus,
    RecordNamedEp,
    RedirectReferral,
    RegisterSchool,
    SetGraduatedApproachMinimum,
    StartCaseworkStage,
)
from eps_referrals.domain.evidence import GraduatedApproachMinimum, UnknownSchool
from eps_referrals.domain.model import ReferralStatus, referral_id_for
from eps_referrals.service_layer import handlers

from tests.support.builders import referrals as builders
from tests.support.clock import FakeClock
from tests.support.fakes import TENANT
from tests.support.fakes.referrals import FakeReferralsUnitOfWork

MORNING = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NAMED_EP = "ep-7"


def uow_at(moment: datetime = MORNING) -> FakeReferralsUnitOfWork:
    return FakeReferralsUnitOfWork(clock=FakeClock(moment))


def granted(referral_id: uuid.UUID) -> RecordConsentStatus:
    return RecordConsentStatus(referral_id, "granted", True, "granted by all")


def withdrawn(referral_id: uuid.UUID) -> RecordConsentStatus:
    return RecordConsentStatus(referral_id, "withdrawn", False, "withdrawn (p-1)")


async def received(uow: FakeReferralsUnitOfWork, *, named_ep: str | None = NAMED_EP) -> uuid.UUID:
    """A referral from the school, whose named EP is ``named_ep``, told apart from what follows."""
    if named_ep is not None:
        await handlers.record_named_ep(
            RecordNamedEp(builders.SCHOOL, named_ep, date(2026, 9, 1)), uow
        )
    referral_id = await handlers.register_referral(builders.register(), uow)
    uow.commit()
    return referral_id


async def accepted(uow: FakeReferralsUnitOfWork) -> uuid.UUID:
    referral_id = await received(uow)
    await handlers.record_consent_status(granted(referral_id), uow)
    await handlers.accept_referral(AcceptReferral(referral_id, NAMED_EP), uow)
    uow.commit()
    return referral_id


async def test_a_request_becomes_one_referral_however_often_it_is_told() -> None:
    uow, request = uow_at(), builders.register()
    first = await handlers.register_referral(request, uow)
    again = await handlers.register_referral(request, uow)
    assert first == again == referral_id_for(TENANT, request.request_id)
    [receipt] = uow.events_of(ReferralReceived)
    assert isinstance(receipt, ReferralReceived) and receipt.referral_id == first
    [routed] = uow.events_of(ReferralRouted)
    assert isinstance(routed, ReferralRouted) and routed.named_ep_id is None  # none yet
    assert uow.referrals.referrals[first].status is ReferralStatus.AWAITING_CONSENT
    assert [type(e) for e in uow.referrals.history[first]] == [ReferralReceived, ReferralRouted]


async def test_another_request_about_the_same_child_is_linked_not_doubled() -> None:
    uow = uow_at()
    first = await handlers.register_referral(builders.register(), uow)
    second = await handlers.register_referral(builders.register(), uow)  # new request id
    [linked] = uow.events_of(DuplicateReferralLinked)
    assert isinstance(linked, DuplicateReferralLinked)
    assert (linked.referral_id, linked.duplicate_of) == (second, first)
    assert len(uow.events_of(ReferralReceived)) == 1
    assert uow.referrals.referrals[second].status is ReferralStatus.DUPLICATE


async def test_consent_known_before_the_request_applies_when_it_arrives() -> None:
    uow, request = uow_at(), builders.register()
    referral_id = referral_id_for(TENANT, request.request_id)
    await handlers.record_consent_status(granted(referral_id), uow)  # no referral yet: kept
    assert uow.events_of(ReferralAwaitingTriage) == []
    await handlers.register_referral(request, uow)
    [triage] = uow.events_of(ReferralAwaitingTriage)
    assert isinstance(triage, ReferralAwaitingTriage) and triage.referral_id == referral_id


async def test_a_request_below_the_las_minimum_evidence_is_refused_naming_the_field() -> None:
    uow = uow_at()
    stricter = SetGraduatedApproachMinimum(review_cycles=3, strategies=1, months_on_sen_support=0)
    minimum = await handlers.set_graduated_approach_minimum(stricter, uow)
    assert minimum == GraduatedApproachMinimum(3, 1, 0)
    assert await uow.configuration.graduated_approach_minimum() == minimum
    with pytest.raises(DomainError) as refused:
        await handlers.register_referral(builders.register(), uow)  # two cycles recorded
    assert refused.value.field == "graduated_approach.review_cycles_completed"
    evidence = GraduatedApproachEvidence(
        sen_support_since=date(2025, 1, 6),
        review_cycles_completed=3,
        strategies_tried=("visual timetable",),
        attainment_summary="Below age-related expectations in reading.",
        attendance_percent=95.0,
    )
    await handlers.register_referral(builders.register(graduated_approach=evidence), uow)
    assert len(uow.events_of(ReferralReceived)) == 1
    assert not uow.events_of(DuplicateReferralLinked)


async def test_a_school_missing_from_the_register_is_refused_until_it_is_registered() -> None:
    uow, elsewhere = uow_at(), "654321"
    await handlers.register_school(RegisterSchool(builders.SCHOOL, "Example Primary"), uow)
    assert uow.released == {handlers.school_awaited(TENANT, builders.SCHOOL)}
    assert uow.schools.schools[builders.SCHOOL].name == "Example Primary"
    requester = builders.referral_requested().requester.model_copy(update={"school_urn": elsewhere})
    request = builders.register(requester=requester, child=builders.child(school_urn=elsewhere))
    with pytest.raises(UnknownSchool) as refused:
        await handlers.register_referral(request, uow)
    assert refused.value.school_urn == elsewhere and refused.value.field == "child.school_urn"
    await handlers.register_school(RegisterSchool(elsewhere, "Other Academy"), uow)
    assert handlers.school_awaited(TENANT, elsewhere) in uow.released
    await handlers.register_referral(request, uow)
    [receipt] = uow.events_of(ReferralReceived)
    assert isinstance(receipt, ReferralReceived) and receipt.school_urn == elsewhere


async def test_a_named_ep_makes_the_school_known_and_routes_its_untriaged_referrals() -> None:
    uow = uow_at()
    referral_id = await received(uow, named_ep=None)
    await handlers.record_named_ep(RecordNamedEp(builders.SCHOOL, "ep-9", date(2026, 9, 1)), uow)
    assert handlers.school_awaited(TENANT, builders.SCHOOL) in uow.released
    assert uow.schools.schools[builders.SCHOOL].known_from == "named_ep"
    [unrouted, routed] = uow.events_of(ReferralRouted)  # on receipt, then to the named EP
    assert isinstance(routed, ReferralRouted)
    assert (routed.referral_id, routed.named_ep_id) == (referral_id, "ep-9")
    # an assignment older than the one known changes nothing
    await handlers.record_named_ep(RecordNamedEp(builders.SCHOOL, "ep-1", date(2026, 1, 1)), uow)
    assert uow.events_of(ReferralRouted) == [unrouted, routed]
    assert await uow.schools.named_ep(builders.SCHOOL) == "ep-9"
    assert uow.referrals.referrals[referral_id].named_ep_id == "ep-9"


async def test_the_named_ep_accepts_once_consent_is_valid() -> None:
    uow = uow_at()
    referral_id = await received(uow)
    with pytest.raises(Conflict):
        await handlers.accept_referral(AcceptReferral(referral_id, NAMED_EP), uow)
    await handlers.record_consent_status(granted(referral_id), uow)
    with pytest.raises(Forbidden):
        await handlers.accept_referral(AcceptReferral(referral_id, "ep-other"), uow)
    await handlers.accept_referral(AcceptReferral(referral_id, NAMED_EP), uow)
    [accepted] = uow.events_of(ReferralAccepted)
    assert isinstance(accepted, ReferralAccepted) and accepted.ep_id == NAMED_EP
    assert uow.referrals.referrals[referral_id].status is ReferralStatus.ACCEPTED


async def test_a_senior_ep_declines_a_referral_of_a_school_without_a_named_ep() -> None:
    uow = uow_at()
    referral_id = await received(uow, named_ep=None)
    decline = DeclineReferral(referral_id, "Met by the school's own provision.", "ep-1")
    with pytest.raises(Forbidden):
        await handlers.decline_referral(decline, uow)
    senior = DeclineReferral(referral_id, decline.reason, "sep-1", senior=True)
    await handlers.decline_referral(senior, uow)
    [declined] = uow.events_of(ReferralDeclined)
    assert isinstance(declined, ReferralDeclined) and declined.reason == decline.reason
    assert uow.referrals.referrals[referral_id].status is ReferralStatus.DECLINED


async def test_a_referral_is_redirected_to_another_service_named() -> None:
    uow = uow_at()
    referral_id = await received(uow)
    await handlers.record_consent_status(granted(referral_id), uow)
    unnamed = RedirectReferral(
        referral_id, RedirectDestination.ANOTHER_SERVICE, "Speech and language", NAMED_EP
    )
    with pytest.raises(Conflict):
        await handlers.redirect_referral(unnamed, uow)
    named = RedirectReferral(
        referral_id,
        RedirectDestination.ANOTHER_SERVICE,
        "Speech and language",
        NAMED_EP,
        service_name="SALT",
    )
    await handlers.redirect_referral(named, uow)
    [redirected] = uow.events_of(ReferralRedirected)
    assert isinstance(redirected, ReferralRedirected) and redirected.service_name == "SALT"


async def test_casework_moves_on_skipping_a_stage_only_with_a_reason() -> None:
    uow = uow_at()
    referral_id = await accepted(uow)
    to_plan = StartCaseworkStage(referral_id, CaseworkStage.JOINT_PLAN)
    with pytest.raises(DomainError) as refused:
        await handlers.start_casework_stage(to_plan, uow)
    assert refused.value.field == "skip_reason"
    why = "the school's own assessment is recent"
    await handlers.start_casework_stage(
        StartCaseworkStage(referral_id, CaseworkStage.JOINT_PLAN, why), uow
    )
    [started] = uow.events_of(CaseworkStageStarted)
    assert isinstance(started, CaseworkStageStarted)
    assert started.skipped == (CaseworkStage.CONSULTATION, CaseworkStage.ASSESSMENT)
    assert started.skip_reason == why


async def test_withdrawn_consent_pauses_casework_and_valid_consent_resumes_it() -> None:
    uow = uow_at()
    referral_id = await accepted(uow)
    await handlers.start_casework_stage(
        StartCaseworkStage(referral_id, CaseworkStage.CONSULTATION), uow
    )
    await handlers.record_consent_status(withdrawn(referral_id), uow)
    [paused] = uow.events_of(CaseworkPaused)
    assert isinstance(paused, CaseworkPaused) and paused.stage is CaseworkStage.CONSULTATION
    assert uow.consent.statuses[referral_id].involvement == "withdrawn"
    await handlers.record_consent_status(granted(referral_id), uow)
    [resumed] = uow.events_of(CaseworkResumed)
    assert isinstance(resumed, CaseworkResumed)
    assert uow.referrals.referrals[referral_id].status is ReferralStatus.CONSULTATION


async def test_a_referral_closes_on_todays_london_date_by_the_units_clock() -> None:
    uow = uow_at(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))  # 00:30 BST on 1 July
    referral_id = await accepted(uow)
    await handlers.start_casework_stage(
        StartCaseworkStage(referral_id, CaseworkStage.CONSULTATION), uow
    )
    await handlers.close_referral(CloseReferral(referral_id, builders.feedback()), uow)
    [closed] = uow.events_of(ReferralClosed)
    assert isinstance(closed, ReferralClosed) and closed.closed_on == date(2026, 7, 1)
    referral = uow.referrals.referrals[referral_id]
    assert referral.status is ReferralStatus.CLOSED and referral.feedback == builders.feedback()
    assert type(uow.referrals.history[referral_id][-1]) is ReferralClosed


async def test_acting_on_a_referral_that_does_not_exist_is_not_found() -> None:
    uow, missing = uow_at(), uuid.uuid4()
    with pytest.raises(NotFound):
        await handlers.accept_referral(AcceptReferral(missing, NAMED_EP), uow)
    with pytest.raises(NotFound):
        await handlers.close_referral(CloseReferral(missing, builders.feedback()), uow)
    await handlers.record_consent_status(granted(missing), uow)  # kept for when it arrives
    assert uow.events_of(ReferralAwaitingTriage) == [] and missing in uow.consent.statuses
