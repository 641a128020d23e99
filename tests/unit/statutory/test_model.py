"""The advice state machine, booking through scheduling, exceptions and the deadline watch."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_chassis.london import LONDON, end_of_day, london_date
from eps_contracts.scheduling import AppointmentBookingRequested, AppointmentKind, FundingStream
from eps_contracts.sealed import Unsealed
from eps_contracts.statutory import (
    AdviceAllocated,
    AdviceAssessmentBooked,
    AdviceAssessmentRescheduled,
    AdviceAtRisk,
    AdviceDeadlineBreached,
    AdviceExceptionRecorded,
    AdviceRequestReceived,
    AdviceSubmitted,
    AdviceWithdrawn,
    AllocationRoute,
    AssessmentPurpose,
    AtRiskReason,
)
from eps_statutory.domain.document import KnownSchool
from eps_statutory.domain.model import (
    Advice,
    AdviceStatus,
    Person,
    advice_id_from_case_ref,
    case_ref,
)
from eps_statutory.domain.policy import AllocationRule, ExceptionRule, LaPolicy

from tests.support.builders.statutory import (
    EP,
    OTHER_EP,
    RECEIVED_AT,
    SENIOR,
    advice,
    document,
    exception,
    request,
)

DUE = date(2026, 12, 14)
APPROVER = Person("ep-approver", is_senior=True)


def kinds(subject: Advice) -> list[type]:
    return [type(e) for e in subject.events]


def test_receiving_a_request_starts_the_clock_on_the_london_date() -> None:
    late_friday = datetime(2026, 11, 6, 23, 45, tzinfo=LONDON)
    subject = Advice.receive(
        "leicester-city", request(requested_at=late_friday), LaPolicy(), uuid.uuid4()
    )
    [received] = subject.events
    assert isinstance(received, AdviceRequestReceived)
    assert received.received_on == date(2026, 11, 6)
    assert received.due_on == date(2026, 12, 18)
    assert received.assessment_requested_on == date(2026, 9, 21)
    assert received.plan_due_on == date(2027, 2, 8) == subject.plan_due_on  # reg 13, 20 weeks
    assert subject.status is AdviceStatus.REQUESTED


def test_a_request_late_on_a_summer_friday_in_utc_is_saturdays() -> None:
    at = datetime(2026, 7, 10, 23, 30, tzinfo=UTC)  # 00:30 BST on Saturday 11 July
    cmd = request(requested_at=at, assessment_requested_on=date(2026, 6, 1))
    subject = Advice.receive("la", cmd, LaPolicy(), uuid.uuid4())
    assert (subject.received_on, subject.due_on) == (date(2026, 7, 11), date(2026, 8, 22))


def test_an_assessment_request_after_the_advice_request_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        Advice.receive(
            "la", request(assessment_requested_on=date(2026, 11, 3)), LaPolicy(), uuid.uuid4()
        )
    assert refused.value.field == "assessment_requested_on"


def test_allocation_goes_to_the_named_ep_by_default() -> None:
    subject = advice(AdviceStatus.REQUESTED)
    subject.allocate(LaPolicy(), "ep-named")
    assert (subject.route, subject.ep_id) == (AllocationRoute.NAMED_EP, "ep-named")
    assert subject.events[-1] == AdviceAllocated(
        advice_id=subject.advice_id, route=AllocationRoute.NAMED_EP, ep_id="ep-named"
    )


@pytest.mark.parametrize(
    ("rule", "named_ep"),
    [(AllocationRule.STATUTORY_TEAM, "ep-named"), (AllocationRule.NAMED_EP, None)],
)
def test_allocation_to_the_statutory_team(rule: AllocationRule, named_ep: str | None) -> None:
    subject = advice(AdviceStatus.REQUESTED)
    subject.allocate(LaPolicy(allocation_rule=rule), named_ep)
    assert (subject.route, subject.ep_id) == (AllocationRoute.STATUTORY_TEAM, None)
    with pytest.raises(Conflict):
        subject.allocate(LaPolicy(), named_ep)


def test_the_booking_request_ends_before_the_deadline_leaving_time_to_write() -> None:
    subject = advice()
    booking = subject.request_booking(LaPolicy(booking_margin_days=14), RECEIVED_AT)
    assert isinstance(booking, AppointmentBookingRequested)
    assert booking.case_ref == case_ref(subject.advice_id)
    assert advice_id_from_case_ref(booking.case_ref) == subject.advice_id
    assert booking.kind is AppointmentKind.STATUTORY_ASSESSMENT_VISIT
    assert booking.funding_stream is FundingStream.STATUTORY
    assert booking.ep_id == "ep-named"
    assert booking.earliest == RECEIVED_AT
    assert booking.latest == end_of_day(date(2026, 11, 30))
    assert booking.latest < end_of_day(DUE)
    with pytest.raises(Conflict, match="has not answered"):
        subject.request_booking(LaPolicy(), RECEIVED_AT)


def test_a_late_booking_still_ends_before_the_last_day_when_it_can() -> None:
    subject = advice()
    now = datetime(2026, 12, 8, 10, 0, tzinfo=LONDON)  # past the margin, before the last day
    earliest, latest = subject.booking_window(LaPolicy(booking_margin_days=14), now)
    assert (earliest, latest) == (now, end_of_day(date(2026, 12, 13)))
    overdue = datetime(2026, 12, 20, 10, 0, tzinfo=LONDON)
    assert subject.booking_window(LaPolicy(), overdue) == (overdue, overdue + timedelta(days=2))


def test_booking_failure_allows_a_new_request() -> None:
    subject = advice()
    first = subject.request_booking(LaPolicy(), RECEIVED_AT)
    subject.record_booking_failed(uuid.uuid4(), "someone else's request")
    assert subject.booking_failure is None
    subject.record_booking_failed(first.request_id, "no EP free in the window")
    assert subject.booking_failure == "no EP free in the window"
    second = subject.request_booking(LaPolicy(), RECEIVED_AT)
    assert second.request_id != first.request_id and subject.booking_failure is None


def test_a_booked_visit_moves_the_advice_on_once() -> None:
    subject = advice(named_ep=None)  # the statutory team
    subject.request_booking(LaPolicy(), RECEIVED_AT)
    appointment = uuid.uuid4()
    starts = datetime(2026, 11, 16, 9, 0, tzinfo=LONDON)
    subject.record_booked(appointment, "ep-team-3", starts)
    subject.record_booked(appointment, "ep-team-3", starts)  # redelivered news
    assert subject.status is AdviceStatus.ASSESSMENT_BOOKED
    assert subject.ep_id == "ep-team-3"  # the team's EP who took the visit
    assert len([e for e in subject.events if type(e).__name__ == "AdviceAssessmentBooked"]) == 1


def test_a_cancelled_visit_returns_the_advice_to_allocated() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    assert subject.record_cancelled(uuid.uuid4()) is None  # another appointment
    assert subject.appointment_id is not None
    assert subject.record_cancelled(subject.appointment_id) is AssessmentPurpose.ASSESSMENT_VISIT
    assert subject.status is AdviceStatus.ALLOCATED and subject.appointment_id is None
    subject.request_booking(LaPolicy(), RECEIVED_AT)  # a new booking may be asked for


def test_a_rescheduled_visit_keeps_its_place_with_its_new_time() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    appointment = subject.appointment_id
    assert appointment is not None
    subject.events.clear()
    later = datetime(2026, 11, 23, 14, 0, tzinfo=LONDON)
    subject.record_rescheduled(uuid.uuid4(), "ep-named", later)  # another appointment
    assert subject.events == []
    subject.record_rescheduled(appointment, "ep-cover", later)
    subject.record_rescheduled(appointment, "ep-cover", later)  # a repeat
    [moved] = subject.events
    assert moved == AdviceAssessmentRescheduled(
        advice_id=subject.advice_id,
        appointment_id=appointment,
        ep_id="ep-cover",
        starts_at=later,
        starts_after_last_day=False,
    )
    assert subject.status is AdviceStatus.ASSESSMENT_BOOKED
    assert (subject.appointment_starts_at, subject.ep_id) == (later, "ep-named")  # still named EP
    assert subject.at_risk_reasons() == (AtRiskReason.NO_DRAFT,)


def test_a_visit_moved_past_the_last_day_says_so() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    assert subject.appointment_id is not None
    last_evening = datetime(2026, 12, 14, 23, 59, tzinfo=LONDON)
    subject.record_rescheduled(subject.appointment_id, "ep-named", last_evening)
    next_morning = datetime(2026, 12, 15, 0, 0, tzinfo=LONDON)
    subject.record_rescheduled(subject.appointment_id, "ep-named", next_morning)
    in_time, too_late = subject.events[-2:]
    assert isinstance(in_time, AdviceAssessmentRescheduled)
    assert isinstance(too_late, AdviceAssessmentRescheduled)
    assert not in_time.starts_after_last_day and too_late.starts_after_last_day


def test_a_visit_moved_past_the_last_day_puts_the_advice_at_risk_at_once() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    assert subject.appointment_id is not None
    subject.events.clear()
    subject.watch(date(2026, 11, 20), LaPolicy(at_risk_days=10))  # 24 days left, not yet
    assert subject.events == []
    after_due = datetime(2026, 12, 15, 9, 0, tzinfo=LONDON)
    subject.record_rescheduled(subject.appointment_id, "ep-named", after_due)
    subject.events.clear()
    subject.watch(date(2026, 11, 21), LaPolicy(at_risk_days=10))
    subject.watch(date(2026, 11, 22), LaPolicy(at_risk_days=10))
    [at_risk] = subject.events
    assert isinstance(at_risk, AdviceAtRisk) and at_risk.days_remaining == 23
    assert at_risk.reasons == (AtRiskReason.ASSESSMENT_AFTER_LAST_DAY, AtRiskReason.NO_DRAFT)
    subject.record_rescheduled(subject.appointment_id, "ep-named", after_due - timedelta(days=7))
    assert subject.at_risk_reasons() == (AtRiskReason.NO_DRAFT,)
    assert not subject.is_at_risk(date(2026, 11, 22), 10)  # 23 days left: not yet


def test_a_rescheduled_team_visit_goes_to_the_ep_who_now_makes_it_until_drafting() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED, named_ep=None)
    assert subject.ep_id == "ep-team" and subject.appointment_id is not None
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
    subject.record_rescheduled(subject.appointment_id, "ep-team-2", monday)
    assert subject.ep_id == "ep-team-2"
    subject.save_draft(document(), Person("ep-team-2", is_senior=False))
    subject.record_rescheduled(subject.appointment_id, "ep-team-3", monday + timedelta(days=1))
    assert subject.ep_id == "ep-team-2"  # the author keeps the advice


# --- several bookings, one per purpose ---------------------------------------------------------

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=LONDON)


def two_bookings() -> tuple[Advice, uuid.UUID, uuid.UUID]:
    """An advice with its assessment visit and the parents' views booked (in reverse order)."""
    subject = advice()
    visit = subject.request_booking(LaPolicy(), RECEIVED_AT)
    parents = subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.PARENTS_VIEWS)
    with pytest.raises(Conflict, match="has not answered"):
        subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.PARENTS_VIEWS)
    parents_appointment, visit_appointment = uuid.uuid4(), uuid.uuid4()
    subject.record_booked(parents_appointment, "ep-named", MONDAY, request_id=parents.request_id)
    subject.record_booked(
        visit_appointment, "ep-named", MONDAY + timedelta(days=1), request_id=visit.request_id
    )
    return subject, visit_appointment, parents_appointment


def test_each_purpose_is_booked_by_its_own_request() -> None:
    subject, visit, parents = two_bookings()
    assert subject.status is AdviceStatus.ASSESSMENT_BOOKED
    assert [(b.purpose, b.appointment_id) for b in subject.bookings] == [
        (AssessmentPurpose.ASSESSMENT_VISIT, visit),
        (AssessmentPurpose.PARENTS_VIEWS, parents),
    ]
    booked = [e for e in subject.events if isinstance(e, AdviceAssessmentBooked)]
    assert [(e.appointment_id, e.purpose) for e in booked] == [
        (parents, AssessmentPurpose.PARENTS_VIEWS),
        (visit, AssessmentPurpose.ASSESSMENT_VISIT),
    ]
    with pytest.raises(Conflict, match="already booked"):
        subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.PARENTS_VIEWS)
    subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.CHILD_VIEWS)  # another


def test_a_failed_booking_of_one_purpose_leaves_the_others_alone() -> None:
    subject = advice()
    visit = subject.request_booking(LaPolicy(), RECEIVED_AT)
    child = subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.CHILD_VIEWS)
    subject.record_booking_failed(child.request_id, "no EP free in the window")
    assert [b.failure for b in subject.bookings] == [None, "no EP free in the window"]
    with pytest.raises(Conflict, match="has not answered"):
        subject.request_booking(LaPolicy(), RECEIVED_AT)  # the visit still waits
    again = subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.CHILD_VIEWS)
    assert again.request_id not in (visit.request_id, child.request_id)
    assert [b.failure for b in subject.bookings] == [None, None]


def test_one_of_two_bookings_cancelled_leaves_the_assessment_booked() -> None:
    subject, visit, parents = two_bookings()
    assert subject.record_cancelled(parents) is AssessmentPurpose.PARENTS_VIEWS  # book again
    assert subject.status is AdviceStatus.ASSESSMENT_BOOKED
    assert [b.appointment_id for b in subject.bookings] == [visit]
    assert subject.at_risk_reasons() == (AtRiskReason.NO_DRAFT,)
    subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.PARENTS_VIEWS)


def test_every_booking_cancelled_puts_the_advice_at_risk() -> None:
    subject, visit, parents = two_bookings()
    subject.record_cancelled(visit)
    subject.record_cancelled(parents)
    assert subject.status is AdviceStatus.ALLOCATED and subject.bookings == []
    assert subject.at_risk_reasons() == (AtRiskReason.NO_ASSESSMENT_BOOKED, AtRiskReason.NO_DRAFT)
    assert subject.is_at_risk(date(2026, 12, 4), 10)
    # booked again, but not yet answered: still nothing booked
    subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.PARENTS_VIEWS)
    assert AtRiskReason.NO_ASSESSMENT_BOOKED in subject.at_risk_reasons()


def test_one_booking_moved_past_the_last_day_puts_the_advice_at_risk() -> None:
    subject, visit, parents = two_bookings()
    subject.events.clear()
    subject.record_rescheduled(parents, "ep-named", datetime(2026, 12, 15, 9, 0, tzinfo=LONDON))
    [moved] = subject.events
    assert isinstance(moved, AdviceAssessmentRescheduled)
    assert moved.purpose is AssessmentPurpose.PARENTS_VIEWS and moved.starts_after_last_day
    assert subject.visit_after_last_day and subject.is_at_risk(date(2026, 11, 20), 10)
    assert subject.at_risk_reasons() == (
        AtRiskReason.ASSESSMENT_AFTER_LAST_DAY,
        AtRiskReason.NO_DRAFT,
    )
    subject.record_completed(parents, datetime(2026, 12, 15, 11, 0, tzinfo=LONDON))
    assert not subject.visit_after_last_day  # done (the diary was wrong): no longer late
    subject.record_cancelled(visit)
    assert subject.status is AdviceStatus.ASSESSMENT_BOOKED  # the parents' views still count


def test_a_booking_without_a_known_request_answers_the_oldest_waiting() -> None:
    subject = advice()
    subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.MEETING_THE_CHILD)
    subject.record_booked(uuid.uuid4(), "ep-named", MONDAY, request_id=uuid.uuid4())
    assert [b.purpose for b in subject.bookings if b.is_booked] == [
        AssessmentPurpose.MEETING_THE_CHILD
    ]
    subject.record_booked(uuid.uuid4(), "ep-named", MONDAY)  # booked in the diary directly
    assert [b.purpose for b in subject.bookings] == [
        AssessmentPurpose.MEETING_THE_CHILD,
        AssessmentPurpose.ASSESSMENT_VISIT,
    ]


def test_no_booking_once_drafting_has_started() -> None:
    subject, visit, _ = two_bookings()
    subject.save_draft(document(), EP)
    with pytest.raises(Conflict, match="no booking needed"):
        subject.request_booking(LaPolicy(), RECEIVED_AT, AssessmentPurpose.CHILD_VIEWS)
    assert subject.record_cancelled(visit) is None  # the work is done: not booked again
    assert subject.status is AdviceStatus.DRAFTED


def test_a_draft_needs_a_booked_assessment() -> None:
    with pytest.raises(Conflict, match="book the assessment"):
        advice().save_draft(document(), EP)


def test_only_the_allocated_ep_or_a_senior_ep_drafts() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    with pytest.raises(Forbidden):
        subject.save_draft(document(), OTHER_EP)
    subject.save_draft(document(), EP)
    subject.save_draft(document(summary="Revised summary."), SENIOR)
    assert subject.status is AdviceStatus.DRAFTED and subject.version == 2


def test_approval_by_a_senior_ep_who_is_not_the_author() -> None:
    subject = advice(AdviceStatus.DRAFTED)
    with pytest.raises(Forbidden, match="senior EP"):
        subject.approve(OTHER_EP, [])
    subject.drafted_by = "ep-approver"
    with pytest.raises(Forbidden, match="own advice"):
        subject.approve(APPROVER, [])
    subject.drafted_by = "ep-named"
    subject.approve(APPROVER, [])
    assert (subject.status, subject.approved_by) == (AdviceStatus.APPROVED, "ep-approver")


def test_approval_refuses_an_incomplete_document_or_one_naming_a_school() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    subject.save_draft(document(needs=""), EP)
    with pytest.raises(DomainError) as incomplete:
        subject.approve(APPROVER, [])
    assert incomplete.value.field == "document.needs"
    subject.save_draft(document(background="Sam joined Greenfield Primary School in 2022."), EP)
    with pytest.raises(DomainError) as names_school:
        subject.approve(APPROVER, [KnownSchool("123456", "Greenfield Primary School")])
    assert names_school.value.field == "document.background"
    assert subject.status is AdviceStatus.DRAFTED


def test_a_new_draft_withdraws_the_approval() -> None:
    subject = advice(AdviceStatus.APPROVED)
    subject.save_draft(document(summary="Changed after approval."), EP)
    assert subject.status is AdviceStatus.DRAFTED and subject.approved_by is None
    with pytest.raises(Conflict, match="approve"):
        subject.submit(date(2026, 12, 1), [])


def test_submission_publishes_the_document_for_the_sen_team() -> None:
    subject = advice(AdviceStatus.APPROVED)
    subject.submit(date(2026, 12, 14), [])
    submitted = subject.events[-1]
    assert isinstance(submitted, AdviceSubmitted)
    assert isinstance(submitted.document, Unsealed)  # sealed for the child on its way out
    assert submitted.document.content == document()
    assert submitted.la_case_ref == "EHC-2026-0042"
    assert (submitted.author_ep_id, submitted.approved_by) == ("ep-named", "ep-approver")
    assert submitted.within_six_weeks and submitted.within_time_limit
    assert not submitted.exception_applied
    assert subject.status is AdviceStatus.SUBMITTED


def test_submission_checks_the_school_rule_again() -> None:
    subject = advice(AdviceStatus.APPROVED)
    with pytest.raises(DomainError):
        subject.submit(date(2026, 12, 1), [KnownSchool("123456", "Sam")])  # a known name
    assert subject.status is AdviceStatus.APPROVED


def test_nothing_changes_a_submitted_advice() -> None:
    subject = advice(AdviceStatus.SUBMITTED)
    with pytest.raises(Conflict):
        subject.save_draft(document(), EP)
    with pytest.raises(Conflict):
        subject.submit(date(2026, 12, 2), [])
    with pytest.raises(Conflict):
        subject.record_exception(exception(date(2026, 11, 10), date(2026, 11, 12)), DUE)
    subject.record_booked(uuid.uuid4(), "ep-named", RECEIVED_AT)  # late news: ignored
    assert subject.status is AdviceStatus.SUBMITTED


def test_a_withdrawn_request_closes_the_advice_and_stops_its_clock() -> None:
    subject = advice(AdviceStatus.ASSESSMENT_BOOKED)
    subject.events.clear()
    subject.withdraw(date(2026, 11, 20), "the LA decided not to assess")
    [withdrawn] = subject.events
    assert isinstance(withdrawn, AdviceWithdrawn)
    assert (withdrawn.advice_id, withdrawn.request_id) == (subject.advice_id, subject.request_id)
    assert withdrawn.withdrawn_on == date(2026, 11, 20)
    assert subject.status is AdviceStatus.WITHDRAWN and not subject.is_open
    subject.withdraw(date(2026, 11, 21), "again")  # told twice: nothing more
    assert len(subject.events) == 1
    subject.watch(DUE + timedelta(days=30), LaPolicy())  # no breach for withdrawn advice
    assert len(subject.events) == 1
    with pytest.raises(Conflict, match="closed: withdrawn"):
        subject.save_draft(document(), EP)


def test_submitted_advice_cannot_be_withdrawn() -> None:
    subject = advice(AdviceStatus.SUBMITTED)
    with pytest.raises(Conflict, match="submitted before"):
        subject.withdraw(date(2026, 12, 20), "too late")


def test_a_booking_request_names_the_advice_it_serves() -> None:
    subject = advice(AdviceStatus.ALLOCATED)
    subject.events.clear()
    request = subject.request_booking(LaPolicy(), RECEIVED_AT)
    assert request.advice_id == subject.advice_id
    assert request.referral_id is None  # no casework consent: the LA's request is the basis


def test_late_submission_within_an_extended_limit() -> None:
    subject = advice(AdviceStatus.APPROVED)
    subject.record_exception(exception(date(2026, 11, 10), date(2026, 11, 16)), date(2026, 11, 20))
    subject.submit(date(2026, 12, 18), [])
    submitted = subject.events[-1]
    assert isinstance(submitted, AdviceSubmitted)
    assert submitted.due_on == date(2026, 12, 21)
    assert not submitted.within_six_weeks and submitted.within_time_limit
    assert submitted.exception_applied


def test_recording_an_exception_publishes_the_new_last_day() -> None:
    subject = advice()
    subject.record_exception(exception(date(2026, 11, 10), date(2026, 11, 16)), date(2026, 11, 17))
    recorded = subject.events[-1]
    assert isinstance(recorded, AdviceExceptionRecorded) and recorded.due_on == date(2026, 12, 21)


def test_under_the_disapply_rule_an_exception_removes_the_last_day() -> None:
    subject = advice(policy=LaPolicy(exception_rule=ExceptionRule.DISAPPLY))
    subject.record_exception(exception(date(2026, 11, 10), date(2026, 11, 12)), date(2026, 11, 17))
    assert subject.due_on is None
    subject.events.clear()
    subject.watch(date(2027, 3, 1), LaPolicy())
    assert subject.events == []


def test_a_disapplied_limit_counts_as_in_time_but_not_within_six_weeks() -> None:
    subject = advice(AdviceStatus.APPROVED, policy=LaPolicy(exception_rule=ExceptionRule.DISAPPLY))
    subject.record_exception(exception(date(2026, 11, 10), date(2026, 11, 12)), date(2026, 11, 17))
    subject.submit(date(2027, 1, 20), [])
    submitted = subject.events[-1]
    assert isinstance(submitted, AdviceSubmitted)
    assert submitted.due_on is None and submitted.exception_applied
    assert not submitted.within_six_weeks and submitted.within_time_limit


def test_a_clock_rule_changed_after_receipt_does_not_move_the_running_clock() -> None:
    subject = advice(policy=LaPolicy(advice_weeks=6))
    later_policy = LaPolicy(advice_weeks=8, exception_rule=ExceptionRule.DISAPPLY)
    subject.record_exception(exception(date(2026, 11, 10), date(2026, 11, 16)), date(2026, 11, 17))
    subject.watch(date(2026, 12, 15), later_policy)
    assert subject.due_on == date(2026, 12, 21)  # 6 weeks, extended: the rules of receipt


# --- the deadline watch ---------------------------------------------------------------------------


def test_at_risk_is_raised_once_with_its_reasons() -> None:
    subject = advice()
    subject.events.clear()
    subject.watch(date(2026, 12, 3), LaPolicy(at_risk_days=10))  # 11 days left: not yet
    assert subject.events == []
    subject.watch(date(2026, 12, 4), LaPolicy(at_risk_days=10))
    subject.watch(date(2026, 12, 5), LaPolicy(at_risk_days=10))
    [at_risk] = subject.events
    assert isinstance(at_risk, AdviceAtRisk)
    assert at_risk.days_remaining == 10 and at_risk.due_on == DUE
    assert at_risk.reasons == (AtRiskReason.NO_ASSESSMENT_BOOKED, AtRiskReason.NO_DRAFT)


def test_booked_and_drafted_advice_is_not_at_risk() -> None:
    booked = advice(AdviceStatus.ASSESSMENT_BOOKED)
    assert booked.at_risk_reasons() == (AtRiskReason.NO_DRAFT,)
    drafted = advice(AdviceStatus.DRAFTED)
    drafted.events.clear()
    drafted.watch(date(2026, 12, 10), LaPolicy())
    assert drafted.events == [] and not drafted.is_at_risk(date(2026, 12, 10), 10)


def test_a_missed_deadline_is_a_breach_raised_once() -> None:
    subject = advice(AdviceStatus.DRAFTED)
    subject.events.clear()
    subject.watch(DUE, LaPolicy())  # the last day itself is still in time
    assert subject.events == []
    subject.watch(date(2026, 12, 15), LaPolicy())
    subject.watch(date(2026, 12, 16), LaPolicy())
    [breach] = subject.events
    assert isinstance(breach, AdviceDeadlineBreached)
    assert (breach.due_on, breach.detected_on, breach.ep_id) == (
        DUE,
        date(2026, 12, 15),
        "ep-named",
    )


def test_an_exception_recorded_after_a_breach_gives_a_new_last_day() -> None:
    subject = advice(AdviceStatus.DRAFTED)
    subject.watch(date(2026, 12, 15), LaPolicy())
    subject.record_exception(
        exception(date(2026, 11, 10), date(2026, 11, 16), recorded_on=date(2026, 12, 16)),
        date(2026, 12, 16),
    )
    subject.events.clear()
    subject.watch(date(2026, 12, 16), LaPolicy())
    assert subject.events == []  # due 21 December now
    subject.watch(date(2026, 12, 22), LaPolicy())
    assert kinds(subject) == [AdviceDeadlineBreached]


def test_the_breach_comes_at_london_midnight_not_utc_midnight() -> None:
    summer = datetime(2026, 6, 1, 10, 0, tzinfo=LONDON)  # due Monday 13 July 2026
    subject = advice(
        AdviceStatus.DRAFTED, requested_at=summer, assessment_requested_on=date(2026, 5, 1)
    )
    assert subject.due_on == date(2026, 7, 13)
    subject.events.clear()
    subject.watch(london_date(datetime(2026, 7, 13, 22, 59, tzinfo=UTC)), LaPolicy())  # 23:59 BST
    assert subject.events == []
    subject.watch(london_date(datetime(2026, 7, 13, 23, 0, tzinfo=UTC)), LaPolicy())  # 00:00 BST
    assert kinds(subject) == [AdviceDeadlineBreached]


def test_at_risk_counts_calendar_days_across_the_october_change() -> None:
    autumn = datetime(2026, 9, 25, 16, 0, tzinfo=LONDON)  # due Friday 6 November 2026
    subject = advice(requested_at=autumn, assessment_requested_on=date(2026, 9, 1))
    subject.events.clear()
    subject.watch(date(2026, 10, 26), LaPolicy(at_risk_days=10))  # 11 days, the day after
    assert subject.events == []
    subject.watch(date(2026, 10, 27), LaPolicy(at_risk_days=10))
    [at_risk] = subject.events
    assert isinstance(at_risk, AdviceAtRisk) and at_risk.days_remaining == 10
