"""The scheduling service's handlers against a fake unit of work: no broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict, DomainError, NotFound, NotYetKnown
from eps_contracts.scheduling import (
    AppointmentBooked,
    AppointmentBookingFailed,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentKind,
    AppointmentRescheduled,
    CancellationParty,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
    FastTrackEpsAllocated,
    FundingStream,
    NamedEpAssigned,
    PlanningMeetingNotPlaced,
)
from eps_scheduling.domain import commands
from eps_scheduling.domain.model import (
    AppointmentStatus,
    EpRole,
    Policy,
    WorkingHours,
    WorkingPattern,
)
from eps_scheduling.service_layer import handlers

from tests.support.builders import scheduling as builders
from tests.support.builders.scheduling import at, ep
from tests.support.clock import FakeClock
from tests.support.fakes import TENANT
from tests.support.fakes.scheduling import FakeSchedulingUnitOfWork

SCHOOL = "123456"
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 09:00 in London (GMT)
TUESDAY = date(2026, 11, 24)


async def seeded(moment: datetime = MONDAY) -> FakeSchedulingUnitOfWork:
    """Three EPs who work weekdays 9 to 5 at the school's door, and the school; committed."""
    uow = FakeSchedulingUnitOfWork(clock=FakeClock(moment))
    for registered in (
        ep("ep-named", on_rota=False),
        ep("ep-near"),
        ep("ep-senior", role=EpRole.SENIOR_EP),
    ):
        await handlers.register_ep(commands.RegisterEp(registered), uow)
    await handlers.register_school(builders.register_school(), uow)
    uow.commit()  # NamedEpAssigned stays published: one test reads it
    return uow


def settled(uow: FakeSchedulingUnitOfWork) -> None:
    """Commit, and leave what was published so far out of the test's assertions."""
    uow.commit()
    uow.published.clear()


async def booked(uow: FakeSchedulingUnitOfWork, starts_at: datetime, **extra: object) -> uuid.UUID:
    appointment = await handlers.book_appointment(builders.booking(starts_at, **extra), uow)
    settled(uow)
    return appointment.appointment_id


# --- reference data ---------------------------------------------------------------------


async def test_an_ep_is_registered_and_changed_in_place() -> None:
    uow = FakeSchedulingUnitOfWork()
    await handlers.register_ep(commands.RegisterEp(ep("ep-1")), uow)
    await handlers.register_ep(commands.RegisterEp(ep("ep-1", on_rota=False)), uow)
    assert [(e.ep_id, e.on_rota) for e in await uow.staff.list_eps()] == [("ep-1", False)]
    assert uow.events_of(NamedEpAssigned) == []


async def test_a_school_is_registered_once_and_its_named_ep_announced_once() -> None:
    uow = await seeded()
    [assigned] = uow.published
    assert isinstance(assigned, NamedEpAssigned)
    assert (assigned.school_urn, assigned.ep_id) == (SCHOOL, "ep-named")
    assert f"school:{TENANT}:{SCHOOL}" in uow.released  # SLAs waiting for it are applied
    assert await handlers.register_school(builders.register_school(), uow) == []
    assert uow.events_of(NamedEpAssigned) == [assigned]  # the same EP again: told once


async def test_a_school_naming_an_unknown_ep_is_refused_naming_the_field() -> None:
    uow = FakeSchedulingUnitOfWork()
    with pytest.raises(DomainError) as refused:
        await handlers.register_school(builders.register_school("ep-nobody"), uow)
    assert refused.value.field == "named_ep_id"
    assert await uow.staff.get_school(SCHOOL) is None


async def test_a_new_named_ep_takes_over_the_schools_planning_meetings() -> None:
    uow = await seeded()
    meetings = await handlers.propose_planning_meetings(
        commands.ProposePlanningMeetings(SCHOOL, 2026), uow
    )
    settled(uow)
    changed = await handlers.register_school(
        builders.register_school("ep-near", effective_from=MONDAY.date()), uow
    )
    assert sorted(a.appointment_id for a in changed) == sorted(m.appointment_id for m in meetings)
    assert all(a.ep_id == "ep-near" for a in changed)
    moved = uow.events_of(AppointmentRescheduled)
    assert len(moved) == 2 and all(isinstance(e, AppointmentRescheduled) for e in moved)
    assert all("changed from ep-named to ep-near" in e.reason for e in moved)
    stored = [uow.appointments.rows[m.appointment_id] for m in meetings]
    assert [(a.ep_id, a.starts_at) for a in stored] == [("ep-near", m.starts_at) for m in meetings]
    [assigned] = [e for e in uow.events_of(NamedEpAssigned) if e.ep_id == "ep-near"]
    assert uow.published.index(assigned) < uow.published.index(moved[0])


async def test_core_time_is_set_for_a_known_school_and_never_negative() -> None:
    uow = await seeded()
    await handlers.set_core_allocation(commands.SetCoreAllocation(SCHOOL, 2026, 600), uow)
    assert (await uow.staff.allowance(SCHOOL, 2026)).core_minutes == 600
    with pytest.raises(DomainError) as negative:
        await handlers.set_core_allocation(commands.SetCoreAllocation(SCHOOL, 2026, -1), uow)
    assert negative.value.field == "core_minutes"
    with pytest.raises(NotFound) as unknown:
        await handlers.set_core_allocation(commands.SetCoreAllocation("654321", 2026, 60), uow)
    assert unknown.value.field == "school_urn"


async def test_traded_time_bought_outside_billing_counts_once_by_its_id() -> None:
    uow = await seeded()
    purchase = commands.AddTradedTime(uuid.uuid4(), SCHOOL, 2026, 300)
    assert await handlers.add_traded_time(purchase, uow)
    assert not await handlers.add_traded_time(purchase, uow)
    assert (await uow.staff.allowance(SCHOOL, 2026)).traded_minutes == 300
    with pytest.raises(DomainError) as nothing:
        await handlers.add_traded_time(commands.AddTradedTime(uuid.uuid4(), SCHOOL, 2026, 0), uow)
    assert nothing.value.field == "minutes"


async def test_an_sla_from_billing_is_the_schools_traded_time_until_cancelled() -> None:
    uow = await seeded()
    agreement_id = uuid.uuid4()
    await handlers.record_agreement(commands.RecordAgreement(agreement_id, SCHOOL, 2026, 600), uow)
    await handlers.record_agreement(commands.RecordAgreement(agreement_id, SCHOOL, 2026, 900), uow)
    assert (await uow.staff.allowance(SCHOOL, 2026)).traded_minutes == 900  # billing's latest
    await handlers.cancel_agreement(commands.CancelAgreement(agreement_id), uow)
    assert (await uow.staff.allowance(SCHOOL, 2026)).traded_minutes == 0


async def test_an_sla_for_a_school_not_registered_is_refused_naming_the_school() -> None:
    uow = FakeSchedulingUnitOfWork()
    cmd = commands.RecordAgreement(uuid.uuid4(), SCHOOL, 2026, 600)
    with pytest.raises(NotFound) as unknown:
        await handlers.record_agreement(cmd, uow)
    assert unknown.value.field == "school_urn"  # the consumer holds the event for the school


async def test_the_las_policy_is_replaced_whole() -> None:
    uow = FakeSchedulingUnitOfWork()
    policy = Policy(travel_buffer_minutes=45, planning_notice_days=7)
    assert await handlers.set_policy(commands.SetPolicy(policy), uow) == policy
    assert await uow.policies.get() == policy


# --- booking ------------------------------------------------------------------------------


async def test_a_free_slot_is_booked_and_announced() -> None:
    uow = await seeded()
    appointment = await handlers.book_appointment(builders.booking(at(TUESDAY, 10)), uow)
    [event] = uow.events_of(AppointmentBooked)
    assert isinstance(event, AppointmentBooked)
    assert event.appointment_id == appointment.appointment_id
    assert (event.ep_id, event.school_urn) == ("ep-named", SCHOOL)
    assert uow.appointments.rows[appointment.appointment_id].status is AppointmentStatus.BOOKED


async def test_a_slot_taken_is_refused_as_a_conflict_on_the_start() -> None:
    uow = await seeded()
    await booked(uow, at(TUESDAY, 10))
    with pytest.raises(Conflict) as taken:
        await handlers.book_appointment(builders.booking(at(TUESDAY, 10, 30)), uow)
    assert taken.value.field == "starts_at"
    assert uow.events_of(AppointmentBooked) == []


async def test_a_window_goes_to_the_named_ep_first_and_then_to_the_nearest_free() -> None:
    uow = await seeded()
    await booked(uow, at(TUESDAY, 9), duration_minutes=8 * 60)  # the named EP's whole day
    window = builders.booking(
        at(TUESDAY, 9), ep_id=None, window_end=at(TUESDAY, 16), request_id=uuid.uuid4()
    )
    chosen = await handlers.book_appointment(window, uow)
    assert chosen.ep_id == "ep-near"  # as near as the senior EP, and first by id
    assert chosen.starts_at == at(TUESDAY, 9)
    again = await handlers.book_appointment(window, uow)  # the same request: the same booking
    assert again.appointment_id == chosen.appointment_id
    assert len(uow.events_of(AppointmentBooked)) == 1


async def test_work_for_a_childs_referral_needs_valid_consent() -> None:
    uow = await seeded()
    referral_id, child_id = uuid.uuid4(), uuid.uuid4()
    await handlers.record_referral(commands.RecordReferral(referral_id, child_id, SCHOOL), uow)
    cmd = builders.booking(at(TUESDAY, 10), referral_id=referral_id, school_urn=None)
    with pytest.raises(DomainError) as refused:
        await handlers.book_appointment(cmd, uow)
    assert refused.value.field == "referral_id"
    consent = commands.RecordConsentStatus(referral_id, child_id, True, None, MONDAY)
    assert await handlers.record_consent_status(consent, uow) == 0
    appointment = await handlers.book_appointment(cmd, uow)
    # the referral read model gives the child and the school
    assert (appointment.child_id, appointment.school_urn) == (child_id, SCHOOL)


async def test_core_work_beyond_the_schools_allocation_is_refused() -> None:
    uow = await seeded()
    await handlers.set_core_allocation(commands.SetCoreAllocation(SCHOOL, 2026, 90), uow)
    await booked(uow, at(TUESDAY, 10), funding_stream=FundingStream.CORE)
    with pytest.raises(DomainError) as exceeded:
        await handlers.book_appointment(
            builders.booking(at(TUESDAY, 14), funding_stream=FundingStream.CORE), uow
        )
    assert exceeded.value.field == "funding_stream"
    assert "60 of 90 minutes already booked, 60 more asked" in str(exceeded.value)


async def test_a_booking_request_refused_is_answered_with_the_reason() -> None:
    uow = await seeded()
    await booked(uow, at(TUESDAY, 10))
    request = builders.booking(at(TUESDAY, 10), request_id=uuid.uuid4(), case_ref="advice:1")
    await handlers.answer_booking_request(request, uow)
    [failed] = uow.events_of(AppointmentBookingFailed)
    assert isinstance(failed, AppointmentBookingFailed)
    assert failed.request_id == request.request_id and failed.case_ref == "advice:1"
    assert failed.reason.startswith("starts_at: ")


async def test_a_statutory_request_waits_for_its_advice_request_then_is_booked() -> None:
    uow = await seeded()
    advice_id = uuid.uuid4()
    request = builders.booking(
        at(TUESDAY, 10), request_id=uuid.uuid4(), case_ref="advice:1", advice_id=advice_id
    )
    with pytest.raises(NotYetKnown) as waiting:
        await handlers.answer_booking_request(request, uow)
    assert waiting.value.awaiting == f"advice:{TENANT}:{advice_id}"
    opened = commands.RecordAdviceRequest(advice_id, "open", MONDAY)
    assert await handlers.record_advice_request(opened, uow) == 0
    assert waiting.value.awaiting in uow.released
    await handlers.answer_booking_request(request, uow)
    [event] = uow.events_of(AppointmentBooked)
    assert event.advice_id == advice_id


async def test_a_cancellation_says_when_by_the_units_clock_and_who() -> None:
    uow = await seeded()
    appointment_id = await booked(uow, at(TUESDAY, 10))
    cmd = commands.CancelAppointment(appointment_id, "head asked", CancellationParty.SCHOOL)
    cancelled = await handlers.cancel_appointment(cmd, uow)
    assert cancelled.status is AppointmentStatus.CANCELLED
    [event] = uow.events_of(AppointmentCancelled)
    assert isinstance(event, AppointmentCancelled)
    assert (event.cancelled_at, event.cancelled_by) == (MONDAY, CancellationParty.SCHOOL)
    assert uow.appointments.rows[appointment_id].status is AppointmentStatus.CANCELLED
    with pytest.raises(NotFound):
        await handlers.cancel_appointment(commands.CancelAppointment(uuid.uuid4(), "x"), uow)


async def test_a_reschedule_moves_to_a_free_slot_and_refuses_a_taken_one() -> None:
    uow = await seeded()
    first = await booked(uow, at(TUESDAY, 10))
    await booked(uow, at(TUESDAY, 14))
    with pytest.raises(Conflict):
        await handlers.reschedule_appointment(
            commands.RescheduleAppointment(first, at(TUESDAY, 14), "clash"), uow
        )
    moved = await handlers.reschedule_appointment(
        commands.RescheduleAppointment(first, at(TUESDAY, 12), "later", ep_id="ep-near"), uow
    )
    assert (moved.ep_id, moved.starts_at) == ("ep-near", at(TUESDAY, 12))
    [event] = uow.events_of(AppointmentRescheduled)
    assert event.appointment_id == first and event.reason == "later"


# --- delivered time -------------------------------------------------------------------------


async def delivered(uow: FakeSchedulingUnitOfWork) -> uuid.UUID:
    """An hour booked on Tuesday, completed on Tuesday evening with 75 minutes."""
    appointment_id = await booked(uow, at(TUESDAY, 10))
    assert isinstance(uow.clock, FakeClock)  # seeded() gives it a fake clock
    uow.clock.advance(days=1, hours=8)
    cmd = commands.CompleteAppointment(appointment_id, 75)
    delivery = await handlers.complete_appointment(cmd, uow)
    return delivery.delivery_id


async def test_completing_logs_the_time_delivered_once() -> None:
    uow = await seeded()
    delivery_id = await delivered(uow)
    completed, recorded = uow.events_of(AppointmentCompleted), uow.events_of(DeliveredTimeRecorded)
    assert len(completed) == 1 and len(recorded) == 1
    assert uow.published.index(completed[0]) < uow.published.index(recorded[0])
    event = recorded[0]
    assert isinstance(event, DeliveredTimeRecorded)
    assert (event.delivery_id, event.minutes, event.delivered_on) == (delivery_id, 75, TUESDAY)
    assert event.appointment_id is not None  # time delivered at an appointment names it
    with pytest.raises(Conflict):  # completed already
        await handlers.complete_appointment(
            commands.CompleteAppointment(event.appointment_id, 75), uow
        )


async def test_a_correction_is_applied_and_published_once() -> None:
    uow = await seeded()
    delivery_id = await delivered(uow)
    settled(uow)
    cmd = commands.CorrectDeliveredTime(
        delivery_id, uuid.uuid4(), 60, FundingStream.STATUTORY, "left at 11"
    )
    for _ in range(2):
        corrected = await handlers.correct_delivered_time(cmd, uow)
        assert corrected.minutes == 60
    [event] = uow.events_of(DeliveredTimeCorrected)
    assert event.minutes == 60
    assert uow.deliveries.rows[delivery_id].minutes == 60


async def test_a_voided_delivery_is_voided_once() -> None:
    uow = await seeded()
    delivery_id = await delivered(uow)
    voided = await handlers.void_delivered_time(
        commands.VoidDeliveredTime(delivery_id, "wrong"), uow
    )
    assert voided.voided and uow.deliveries.rows[delivery_id].voided
    with pytest.raises(Conflict):
        await handlers.void_delivered_time(commands.VoidDeliveredTime(delivery_id, "again"), uow)
    assert len(uow.events_of(DeliveredTimeVoided)) == 1
    with pytest.raises(NotFound):
        await handlers.void_delivered_time(commands.VoidDeliveredTime(uuid.uuid4(), "x"), uow)


# --- other contexts' events -----------------------------------------------------------------


async def test_consent_withdrawn_cancels_the_referrals_future_appointments() -> None:
    uow = await seeded()
    referral_id, child_id = uuid.uuid4(), uuid.uuid4()
    granted = commands.RecordConsentStatus(referral_id, child_id, True, None, MONDAY)
    await handlers.record_consent_status(granted, uow)
    ids = [
        await booked(uow, at(TUESDAY, hour), referral_id=referral_id, child_id=child_id)
        for hour in (10, 14)
    ]
    withdrawn = commands.RecordConsentStatus(
        referral_id, child_id, False, "parent withdrew", MONDAY + timedelta(hours=1)
    )
    assert await handlers.record_consent_status(withdrawn, uow) == 2
    cancelled = uow.events_of(AppointmentCancelled)
    assert sorted(e.appointment_id for e in cancelled) == sorted(ids)
    for event in cancelled:
        assert isinstance(event, AppointmentCancelled)
        assert "parent withdrew" in event.reason
        assert event.cancelled_by is CancellationParty.SERVICE  # never charged
    assert not await uow.read_models.consent_valid(referral_id, None)


async def test_advice_withdrawn_cancels_its_future_appointments() -> None:
    uow = await seeded()
    advice_id = uuid.uuid4()
    opened = commands.RecordAdviceRequest(advice_id, "open", MONDAY)
    await handlers.record_advice_request(opened, uow)
    visit = await booked(uow, at(TUESDAY, 10), advice_id=advice_id)
    await booked(uow, at(TUESDAY, 14))  # other work stays
    withdrawn = commands.RecordAdviceRequest(advice_id, "withdrawn", MONDAY, "moved away")
    assert await handlers.record_advice_request(withdrawn, uow) == 1
    [event] = uow.events_of(AppointmentCancelled)
    assert event.appointment_id == visit
    assert event.reason == "statutory advice request withdrawn: moved away"
    await handlers.record_advice_request(opened, uow)  # a closed request never reopens
    assert await uow.read_models.advice_status(advice_id) == "withdrawn"


# --- fast track --------------------------------------------------------------------------


async def test_a_fast_track_books_the_named_ep_and_the_nearest_and_answers() -> None:
    uow = await seeded()
    cmd = builders.fast_track(MONDAY)
    answer = await handlers.allocate_fast_track(cmd, uow)
    assert answer.shortfall == 0 and answer.reason is None
    eps = {e.ep_id: e for e in answer.eps}
    assert set(eps) == {"ep-named", "ep-near"} and eps["ep-named"].is_named_ep
    booked_events = uow.events_of(AppointmentBooked)
    assert sorted(e.appointment_id for e in booked_events) == sorted(
        e.appointment_id for e in answer.eps
    )
    assert all(e.kind is AppointmentKind.CRITICAL_INCIDENT_RESPONSE for e in booked_events)
    assert uow.published[-1] == answer  # the answer after the bookings it names


async def test_the_same_attempt_again_gets_the_same_answer_and_books_nothing_more() -> None:
    uow = await seeded()
    cmd = builders.fast_track(MONDAY)
    first = await handlers.allocate_fast_track(cmd, uow)
    settled(uow)
    again = await handlers.allocate_fast_track(cmd, uow)
    assert again == first
    assert uow.events_of(AppointmentBooked) == []
    assert uow.events_of(FastTrackEpsAllocated) == [again]


async def test_a_later_attempt_leaves_out_every_ep_already_going() -> None:
    uow = await seeded()
    first = await handlers.allocate_fast_track(builders.fast_track(MONDAY, eps_needed=1), uow)
    [going] = first.eps
    second = builders.fast_track(MONDAY, incident_id=first.incident_id, eps_needed=1, attempt=2)
    answer = await handlers.allocate_fast_track(second, uow)
    assert [e.ep_id for e in answer.eps] != [going.ep_id]
    assert answer.attempt == 2 and answer.shortfall == 0


async def test_a_fast_track_for_an_unknown_school_is_answered_with_nobody() -> None:
    uow = await seeded()
    answer = await handlers.allocate_fast_track(
        builders.fast_track(MONDAY, school_urn="654321"), uow
    )
    assert answer.eps == () and answer.shortfall == 2
    assert answer.reason is not None and "school 654321 is not known" in answer.reason
    assert uow.events_of(FastTrackEpsAllocated) == [answer]


async def test_routine_work_in_the_way_is_moved_and_named_in_the_answer() -> None:
    uow = await seeded()
    routine = await booked(uow, MONDAY + timedelta(minutes=15), duration_minutes=180)
    answer = await handlers.allocate_fast_track(builders.fast_track(MONDAY, eps_needed=1), uow)
    [going] = answer.eps
    assert going.ep_id == "ep-named" and going.displaced_appointment_ids == (routine,)
    [moved] = uow.events_of(AppointmentRescheduled)
    assert moved.appointment_id == routine
    assert "critical incident" in moved.reason
    stored = uow.appointments.rows[routine]
    assert stored.starts_at >= uow.appointments.rows[going.appointment_id].ends_at


# --- planning meetings ----------------------------------------------------------------------


async def test_each_term_gets_its_planning_meeting_once_with_notice() -> None:
    uow = await seeded()
    proposed = await handlers.propose_planning_meetings(
        commands.ProposePlanningMeetings(SCHOOL, 2026), uow
    )
    # 14 days' notice by default: autumn from Monday 7 December, spring from 5 January
    assert [m.starts_at for m in proposed] == [at(date(2026, 12, 7), 9), at(date(2027, 1, 5), 9)]
    assert all(m.kind is AppointmentKind.PLANNING_MEETING for m in proposed)
    assert len(uow.events_of(AppointmentBooked)) == 2
    settled(uow)
    again = await handlers.propose_planning_meetings(
        commands.ProposePlanningMeetings(SCHOOL, 2026), uow
    )
    assert again == [] and uow.events_of(AppointmentBooked) == []


async def test_the_planning_job_tells_once_of_a_term_with_no_room_and_places_it_later() -> None:
    uow = await seeded()
    half_an_hour = WorkingPattern({1: WorkingHours(9 * 60, 9 * 60 + 30)})
    squeezed = ep("ep-named", on_rota=False, pattern=half_an_hour, weekly_capacity_minutes=30)
    await handlers.register_ep(commands.RegisterEp(squeezed), uow)
    for _ in range(2):
        assert await propose_due(uow) == 1
    told = uow.events_of(PlanningMeetingNotPlaced)
    assert sorted((e.term, e.academic_year) for e in told) == [
        ("autumn", 2026),
        ("spring", 2026),
    ]
    settled(uow)
    await handlers.register_ep(commands.RegisterEp(ep("ep-named", on_rota=False)), uow)
    assert await propose_due(uow) == 1
    assert len(uow.events_of(AppointmentBooked)) == 2
    assert uow.events_of(PlanningMeetingNotPlaced) == []
    assert await propose_due(uow) == 0  # every term settled


async def propose_due(uow: FakeSchedulingUnitOfWork) -> int:
    """One run of the planning job for the LA, as ``per_tenant`` runs it: the schools due, then
    each school's meetings."""
    due = await handlers.planning_due(uow)
    for command in due:
        await handlers.propose_planning_meetings(command, uow)
    return len(due)
