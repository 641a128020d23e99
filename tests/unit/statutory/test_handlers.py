"""The statutory service's handlers against a fake unit of work: no broker, no database."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict, DomainError, Forbidden, NotFound
from eps_chassis.london import LONDON, end_of_day
from eps_contracts.scheduling import AppointmentBookingRequested, AppointmentKind
from eps_contracts.statutory import (
    AdviceAllocated,
    AdviceApproved,
    AdviceAssessmentBooked,
    AdviceAssessmentRescheduled,
    AdviceAtRisk,
    AdviceDeadlineBreached,
    AdviceDrafted,
    AdviceExceptionRecorded,
    AdviceRequestReceived,
    AdviceSubmitted,
    AdviceWithdrawn,
    AllocationRoute,
    AssessmentPurpose,
    TribunalTaskKind,
    TribunalTasksCreated,
)
from eps_statutory.domain.commands import (
    ApproveAdvice,
    RecordAssessmentBooked,
    RecordAssessmentCancelled,
    RecordAssessmentCompleted,
    RecordAssessmentRescheduled,
    RecordBookingFailed,
    RecordException,
    RecordNamedEp,
    RegisterTribunalAppeal,
    RequestAssessmentBooking,
    SaveDraft,
    SetStatutoryPolicy,
    SubmitAdvice,
    WithdrawAdvice,
    WithdrawAdviceRequest,
)
from eps_statutory.domain.document import KnownSchool
from eps_statutory.domain.model import Advice, AdviceStatus
from eps_statutory.domain.policy import AllocationRule, LaPolicy
from eps_statutory.service_layer import handlers

from tests.support.builders.statutory import (
    EP,
    OTHER_EP,
    RECEIVED_AT,
    SENIOR,
    document,
    request,
)
from tests.support.clock import FakeClock
from tests.support.fakes.statutory import FakeStatutoryUnitOfWork

SCHOOL = "123456"
DUE = date(2026, 12, 14)  # six weeks after RECEIVED_AT
VISIT = datetime(2026, 11, 16, 9, 0, tzinfo=LONDON)
APPROVER = SENIOR


def uow_at(moment: datetime = RECEIVED_AT) -> FakeStatutoryUnitOfWork:
    return FakeStatutoryUnitOfWork(clock=FakeClock(moment))


def stored(uow: FakeStatutoryUnitOfWork, advice_id: uuid.UUID) -> Advice:
    return uow.advice.advice[advice_id]


async def received(uow: FakeStatutoryUnitOfWork, **overrides: object) -> uuid.UUID:
    """An advice requested for the school, whose named EP is ``ep-named``."""
    await handlers.record_named_ep(RecordNamedEp(SCHOOL, "ep-named", date(2025, 9, 1)), uow)
    return await handlers.register_advice_request(request(**overrides), uow)


async def booked(uow: FakeStatutoryUnitOfWork, **overrides: object) -> uuid.UUID:
    """An advice whose assessment visit scheduling booked; what it published is collected."""
    advice_id = await received(uow, **overrides)
    [asked] = uow.events_of(AppointmentBookingRequested)
    assert isinstance(asked, AppointmentBookingRequested)
    await handlers.record_assessment_booked(
        RecordAssessmentBooked(
            advice_id,
            asked.request_id,
            uuid.uuid4(),
            AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
            "ep-named",
            VISIT,
        ),
        uow,
    )
    uow.commit()
    return advice_id


async def approved(uow: FakeStatutoryUnitOfWork) -> uuid.UUID:
    advice_id = await booked(uow)
    await handlers.save_draft(SaveDraft(advice_id, document(), author=EP), uow)
    await handlers.approve_advice(ApproveAdvice(advice_id, approver=APPROVER), uow)
    return advice_id


async def test_a_request_is_received_allocated_to_the_named_ep_and_its_visit_asked_for() -> None:
    uow = uow_at()
    sent_at = RECEIVED_AT + timedelta(minutes=5)
    cmd = request(school_urn=SCHOOL, sent_at=sent_at)
    await handlers.record_named_ep(RecordNamedEp(SCHOOL, "ep-named", date(2025, 9, 1)), uow)
    advice_id = await handlers.register_advice_request(cmd, uow)
    assert await handlers.register_advice_request(cmd, uow) == advice_id  # sent twice

    [receipt] = uow.events_of(AdviceRequestReceived)
    assert isinstance(receipt, AdviceRequestReceived)
    assert (receipt.advice_id, receipt.due_on) == (advice_id, DUE)
    [allocated] = uow.events_of(AdviceAllocated)
    assert allocated == AdviceAllocated(
        advice_id=advice_id, route=AllocationRoute.NAMED_EP, ep_id="ep-named"
    )
    [asked] = uow.events_of(AppointmentBookingRequested)
    assert isinstance(asked, AppointmentBookingRequested)
    assert (asked.advice_id, asked.ep_id) == (advice_id, "ep-named")
    assert asked.earliest == sent_at  # from when the SEN team sent it
    assert asked.latest == end_of_day(DUE - timedelta(days=14))
    assert list(uow.advice.advice) == [advice_id]
    assert uow.advice.locked == [cmd.request_id, cmd.request_id]
    # its school's name, so that advice naming it is refused
    assert await uow.schools.known() == [KnownSchool(SCHOOL, "Greenfield Primary School")]
    assert uow.released == {f"advice-request:leicester-city:{cmd.request_id}"}


async def test_a_request_for_a_child_without_a_named_ep_goes_to_the_statutory_team() -> None:
    uow = uow_at()
    advice_id = await handlers.register_advice_request(request(school_urn=None), uow)
    [allocated] = uow.events_of(AdviceAllocated)
    assert isinstance(allocated, AdviceAllocated)
    assert (allocated.route, allocated.ep_id) == (AllocationRoute.STATUTORY_TEAM, None)
    assert stored(uow, advice_id).status is AdviceStatus.ALLOCATED


async def test_a_named_ep_counts_from_the_day_it_takes_effect() -> None:
    uow = uow_at()
    await handlers.record_named_ep(RecordNamedEp(SCHOOL, "ep-old", date(2025, 9, 1)), uow)
    await handlers.record_named_ep(RecordNamedEp(SCHOOL, "ep-new", date(2026, 11, 3)), uow)
    await handlers.register_advice_request(request(school_urn=SCHOOL), uow)
    [allocated] = uow.events_of(AdviceAllocated)
    assert isinstance(allocated, AdviceAllocated) and allocated.ep_id == "ep-old"
    assert await uow.schools.named_ep_on(SCHOOL, date(2026, 11, 3)) == "ep-new"


async def test_a_booked_visit_is_recorded_and_a_booking_failure_kept() -> None:
    uow = uow_at()
    advice_id = await received(uow)
    [asked] = uow.events_of(AppointmentBookingRequested)
    assert isinstance(asked, AppointmentBookingRequested)
    await handlers.record_booking_failed(
        RecordBookingFailed(advice_id, asked.request_id, "no EP free in the window"), uow
    )
    assert stored(uow, advice_id).booking_failure == "no EP free in the window"

    again = await handlers.request_assessment_booking(RequestAssessmentBooking(advice_id), uow)
    appointment_id = uuid.uuid4()
    await handlers.record_assessment_booked(
        RecordAssessmentBooked(
            advice_id,
            again,
            appointment_id,
            AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
            "ep-named",
            VISIT,
        ),
        uow,
    )
    [visit] = uow.events_of(AdviceAssessmentBooked)
    assert isinstance(visit, AdviceAssessmentBooked)
    assert visit.appointment_id == appointment_id
    assert visit.purpose is AssessmentPurpose.ASSESSMENT_VISIT
    advice = stored(uow, advice_id)
    assert advice.status is AdviceStatus.ASSESSMENT_BOOKED
    assert (advice.appointment_id, advice.booking_request_id) == (appointment_id, again)
    assert advice.booking_failure is None


async def test_another_purpose_is_booked_from_the_units_clock() -> None:
    clock = FakeClock(RECEIVED_AT)
    uow = FakeStatutoryUnitOfWork(clock=clock)
    advice_id = await booked(uow)
    clock.advance(days=3)
    request_id = await handlers.request_assessment_booking(
        RequestAssessmentBooking(advice_id, AssessmentPurpose.PARENTS_VIEWS), uow
    )
    [_, asked] = uow.events_of(AppointmentBookingRequested)
    assert isinstance(asked, AppointmentBookingRequested)
    assert (asked.request_id, asked.earliest) == (request_id, RECEIVED_AT + timedelta(days=3))
    purposes = [b.purpose for b in stored(uow, advice_id).bookings]
    assert purposes == [AssessmentPurpose.ASSESSMENT_VISIT, AssessmentPurpose.PARENTS_VIEWS]
    with pytest.raises(Conflict):  # scheduling has not answered yet
        await handlers.request_assessment_booking(
            RequestAssessmentBooking(advice_id, AssessmentPurpose.PARENTS_VIEWS), uow
        )


async def test_a_moved_visit_is_followed_and_flagged_when_past_the_last_day() -> None:
    uow = uow_at()
    advice_id = await booked(uow)
    appointment_id = stored(uow, advice_id).bookings[0].appointment_id
    assert appointment_id is not None
    too_late = end_of_day(DUE) + timedelta(hours=9)
    await handlers.record_assessment_rescheduled(
        RecordAssessmentRescheduled(advice_id, appointment_id, "ep-named", too_late), uow
    )
    [moved] = uow.events_of(AdviceAssessmentRescheduled)
    assert isinstance(moved, AdviceAssessmentRescheduled)
    assert moved.starts_after_last_day is True
    assert stored(uow, advice_id).appointment_starts_at == too_late


async def test_a_cancelled_visit_is_asked_for_again_from_when_it_was_cancelled() -> None:
    uow = uow_at()
    advice_id = await booked(uow)
    appointment_id = stored(uow, advice_id).bookings[0].appointment_id
    assert appointment_id is not None
    cancelled_at = RECEIVED_AT + timedelta(days=4)
    await handlers.record_assessment_cancelled(
        RecordAssessmentCancelled(advice_id, appointment_id, "EP ill", cancelled_at), uow
    )
    [_, again] = uow.events_of(AppointmentBookingRequested)
    assert isinstance(again, AppointmentBookingRequested)
    assert again.earliest == cancelled_at
    advice = stored(uow, advice_id)
    assert advice.status is AdviceStatus.ALLOCATED and advice.booking_request_id == again.request_id


async def test_a_completed_visit_is_kept() -> None:
    uow = uow_at()
    advice_id = await booked(uow)
    appointment_id = stored(uow, advice_id).bookings[0].appointment_id
    assert appointment_id is not None
    done = VISIT + timedelta(hours=3)
    await handlers.record_assessment_completed(
        RecordAssessmentCompleted(advice_id, appointment_id, done), uow
    )
    advice = stored(uow, advice_id)
    assert advice.assessment_completed_at == done and advice.bookings[0].completed_at == done


async def test_an_exception_is_recorded_by_whom_and_on_the_units_day() -> None:
    uow = uow_at(datetime(2026, 11, 9, 23, 30, tzinfo=UTC))  # 23:30 on Monday 9 November
    advice_id = await received(uow)
    cmd = RecordException(
        advice_id=advice_id,
        kind="exceptional_personal_circumstances",
        starts_on=date(2026, 11, 9),
        ends_on=date(2026, 11, 15),
        reason="Bereavement in the family.",
        evidence=("letter from parent",),
        parents_notified_on=date(2026, 11, 9),
        recorded_by="ep-named",
    )
    await handlers.record_exception(cmd, uow)
    [recorded] = uow.events_of(AdviceExceptionRecorded)
    assert isinstance(recorded, AdviceExceptionRecorded)
    assert recorded.due_on == DUE + timedelta(days=7)
    [kept] = stored(uow, advice_id).exceptions
    assert (kept.recorded_by, kept.recorded_on) == ("ep-named", date(2026, 11, 9))

    holiday = dataclasses.replace(cmd, kind="half_term")
    with pytest.raises(DomainError) as refused:
        await handlers.record_exception(holiday, uow)
    assert refused.value.field == "kind"


async def test_drafting_by_the_allocated_ep_only_then_approval_by_a_senior_not_the_author() -> None:
    uow = uow_at()
    advice_id = await booked(uow)
    with pytest.raises(Forbidden):
        await handlers.save_draft(SaveDraft(advice_id, document(), author=OTHER_EP), uow)
    await handlers.save_draft(SaveDraft(advice_id, document(), author=EP), uow)
    [drafted] = uow.events_of(AdviceDrafted)
    assert isinstance(drafted, AdviceDrafted)
    assert (drafted.ep_id, drafted.version) == ("ep-named", 1)

    with pytest.raises(Forbidden):
        await handlers.approve_advice(ApproveAdvice(advice_id, approver=EP), uow)
    await handlers.approve_advice(ApproveAdvice(advice_id, approver=APPROVER), uow)
    [approval] = uow.events_of(AdviceApproved)
    assert isinstance(approval, AdviceApproved) and approval.approved_by == APPROVER.person_id
    assert stored(uow, advice_id).status is AdviceStatus.APPROVED


async def test_approval_refuses_advice_naming_a_school_the_service_knows() -> None:
    uow = uow_at()
    advice_id = await booked(uow, school_name="Brook House")
    naming = document(provision="Small-group phonics every morning at Brook House.")
    await handlers.save_draft(SaveDraft(advice_id, naming, author=EP), uow)
    with pytest.raises(DomainError) as refused:
        await handlers.approve_advice(ApproveAdvice(advice_id, approver=APPROVER), uow)
    assert refused.value.field == "document.provision"
    assert uow.events_of(AdviceApproved) == []
    assert stored(uow, advice_id).status is AdviceStatus.DRAFTED


async def test_submission_is_dated_by_the_units_clock_in_london() -> None:
    clock = FakeClock(RECEIVED_AT)
    uow = FakeStatutoryUnitOfWork(clock=clock)
    advice_id = await approved(uow)
    clock.now = datetime(2026, 12, 14, 23, 30, tzinfo=UTC)  # 23:30 on the last day
    await handlers.submit_advice(SubmitAdvice(advice_id), uow)
    [submitted] = uow.events_of(AdviceSubmitted)
    assert isinstance(submitted, AdviceSubmitted)
    assert (submitted.submitted_on, submitted.within_six_weeks) == (DUE, True)
    assert (submitted.author_ep_id, submitted.approved_by) == ("ep-named", "ep-senior")
    assert stored(uow, advice_id).status is AdviceStatus.SUBMITTED


async def test_the_las_withdrawal_closes_the_advice_by_request_or_by_advice() -> None:
    uow = uow_at()
    by_system = await received(uow)
    request_id = stored(uow, by_system).request_id
    await handlers.withdraw_advice_request(
        WithdrawAdviceRequest(request_id, date(2026, 11, 5), "No assessment after all."), uow
    )
    by_phone = await handlers.register_advice_request(request(), uow)
    await handlers.withdraw_advice(WithdrawAdvice(by_phone, date(2026, 11, 6), "Moved."), uow)
    withdrawals = uow.events_of(AdviceWithdrawn)
    assert [(w.advice_id, w.reason) for w in withdrawals if isinstance(w, AdviceWithdrawn)] == [
        (by_system, "No assessment after all."),
        (by_phone, "Moved."),
    ]
    assert {stored(uow, a).status for a in (by_system, by_phone)} == {AdviceStatus.WITHDRAWN}
    with pytest.raises(Conflict):
        await handlers.save_draft(SaveDraft(by_phone, document(), author=EP), uow)


async def test_news_of_a_request_not_received_or_an_advice_unknown_is_refused_naming_it() -> None:
    uow = uow_at()
    with pytest.raises(NotFound) as no_request:
        await handlers.withdraw_advice_request(
            WithdrawAdviceRequest(uuid.uuid4(), date(2026, 11, 5), "Withdrawn."), uow
        )
    assert no_request.value.field == "request_id"
    with pytest.raises(NotFound) as no_advice:
        await handlers.record_assessment_completed(
            RecordAssessmentCompleted(uuid.uuid4(), uuid.uuid4(), VISIT), uow
        )
    assert no_advice.value.field == "advice_id"
    assert uow.events_of(AdviceWithdrawn) == []


async def test_an_appeal_gives_the_advices_ep_its_tasks_once() -> None:
    uow = uow_at()
    advice_id = await received(uow)
    appeal = RegisterTribunalAppeal(
        appeal_id=uuid.uuid4(),
        request_id=stored(uow, advice_id).request_id,
        registered_on=date(2027, 1, 4),
        hearing_on=date(2027, 5, 3),
        evidence_due_on=None,
    )
    await handlers.register_tribunal_appeal(appeal, uow)
    await handlers.register_tribunal_appeal(appeal, uow)  # told twice
    [created] = uow.events_of(TribunalTasksCreated)
    assert isinstance(created, TribunalTasksCreated) and created.advice_id == advice_id
    due = {(t.kind, t.ep_id, t.due_on) for t in created.tasks}
    assert due == {
        (TribunalTaskKind.EVIDENCE, "ep-named", date(2027, 4, 12)),  # the LA's 21 days before
        (TribunalTaskKind.ATTENDANCE, "ep-named", date(2027, 5, 3)),
    }
    assert len(uow.tribunal_tasks.tasks) == 2


async def test_the_watch_raises_at_risk_then_a_breach_once_each_by_the_units_clock() -> None:
    clock = FakeClock(RECEIVED_AT)
    uow = FakeStatutoryUnitOfWork(clock=clock)
    advice_id = await received(uow)
    uow.commit()
    assert await handlers.watch_deadlines(uow) == 0  # six weeks to go
    clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a week before the last day
    assert await handlers.watch_deadlines(uow) == 1
    assert await handlers.watch_deadlines(uow) == 0  # once per last day
    clock.now = datetime(2026, 12, 15, 0, 30, tzinfo=UTC)  # the day after the last day
    assert await handlers.watch_deadlines(uow) == 1
    clock.advance(days=1)
    assert await handlers.watch_deadlines(uow) == 0
    [at_risk] = uow.events_of(AdviceAtRisk)
    assert isinstance(at_risk, AdviceAtRisk) and at_risk.days_remaining == 7
    [breach] = uow.events_of(AdviceDeadlineBreached)
    assert isinstance(breach, AdviceDeadlineBreached)
    assert (breach.advice_id, breach.due_on, breach.detected_on) == (
        advice_id,
        DUE,
        date(2026, 12, 15),
    )


async def test_the_las_policy_applies_to_advice_received_from_then_on() -> None:
    uow = uow_at()
    before = await received(uow)
    policy = LaPolicy(advice_weeks=5, allocation_rule=AllocationRule.STATUTORY_TEAM)
    kept = await handlers.set_statutory_policy(SetStatutoryPolicy(policy, "user:principal"), uow)
    assert kept == policy == await uow.policies.get()
    assert uow.policies.updated_by == "user:principal"
    after = await received(uow)
    assert stored(uow, before).six_week_due_on == DUE  # its clock's rules kept
    assert stored(uow, after).six_week_due_on == DUE - timedelta(weeks=1)
    assert stored(uow, after).route is AllocationRoute.STATUTORY_TEAM
