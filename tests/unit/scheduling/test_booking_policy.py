"""The LA's booking rule: the statutory share of each week, earliest deadline first, and
statutory work at risk re-planned (the domain, then the handlers against the fake unit of work)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from eps_chassis.errors import Conflict
from eps_contracts.scheduling import (
    AppointmentBooked,
    AppointmentBookingFailed,
    AppointmentKind,
    AppointmentRescheduled,
    FundingStream,
)
from eps_scheduling.domain import commands
from eps_scheduling.domain.booking_policy import (
    answer_order,
    refusal_for,
    replan,
    routine_allowance,
    slot_for,
)
from eps_scheduling.domain.calendar import Interval
from eps_scheduling.domain.model import Appointment, BookingRule, Policy
from eps_scheduling.service_layer import handlers

from tests.support.builders import scheduling as builders
from tests.support.builders.scheduling import appointment, at, ep
from tests.support.clock import FakeClock
from tests.support.fakes.scheduling import FakeSchedulingUnitOfWork

MONDAY = date(2026, 11, 23)
NEXT_MONDAY = MONDAY + timedelta(days=7)
DEADLINE_AWARE = Policy(statutory_share_percent=40)
FIRST_FREE = Policy(booking_rule=BookingRule.FIRST_FREE)
CONSULT, VISIT = AppointmentKind.CONSULTATION, AppointmentKind.STATUTORY_ASSESSMENT_VISIT
CORE, STATUTORY = FundingStream.CORE, FundingStream.STATUTORY
TEN_HOURS = ep("ep-1", weekly_capacity_minutes=600)  # routine allowance 360 under 40%


def day_of(monday: date, offset: int) -> date:
    return monday + timedelta(days=offset)


def six_hours_of_routine_work() -> list[Appointment]:
    """Monday and Tuesday 09:00-12:00 at the school: 360 routine minutes in the week."""
    return [
        appointment("ep-1", at(day_of(MONDAY, d), 9), at(day_of(MONDAY, d), 12)) for d in (0, 1)
    ]


def two_weeks() -> Interval:
    return Interval(at(MONDAY, 9), at(NEXT_MONDAY + timedelta(days=4), 17))


def test_routine_work_leaves_the_statutory_share_of_the_week_free() -> None:
    diary = six_hours_of_routine_work()
    assert routine_allowance(TEN_HOURS, DEADLINE_AWARE) == 360
    routine = slot_for(TEN_HOURS, diary, two_weeks(), 60, "123456", CONSULT, CORE, DEADLINE_AWARE)
    assert routine is not None and routine.start == at(NEXT_MONDAY, 9)  # the next week
    statutory = slot_for(
        TEN_HOURS, diary, two_weeks(), 60, "123456", VISIT, STATUTORY, DEADLINE_AWARE
    )
    assert statutory is not None and statutory.start == at(MONDAY, 12)  # its share, this week
    first_free = slot_for(TEN_HOURS, diary, two_weeks(), 60, "123456", CONSULT, CORE, FIRST_FREE)
    assert first_free is not None and first_free.start == at(MONDAY, 12)  # takes the share


def test_a_routine_slot_asked_for_in_the_share_is_refused_with_the_reason() -> None:
    slot = Interval(at(day_of(MONDAY, 2), 9), at(day_of(MONDAY, 2), 10))
    diary = six_hours_of_routine_work()
    refused = refusal_for(TEN_HOURS, diary, slot, "123456", CONSULT, CORE, DEADLINE_AWARE)
    assert refused == (
        "EP ep-1's week keeps 40% for statutory work: routine work is limited to 360 minutes"
    )
    assert refusal_for(TEN_HOURS, diary, slot, "123456", VISIT, STATUTORY, DEADLINE_AWARE) is None
    assert refusal_for(TEN_HOURS, diary, slot, "123456", CONSULT, CORE, FIRST_FREE) is None


def full_day(day: date, kind: AppointmentKind = CONSULT) -> Appointment:
    return appointment("ep-1", at(day, 9), at(day, 17), kind=kind)


def test_statutory_work_at_risk_takes_the_place_of_routine_work_never_of_statutory() -> None:
    tuesday = day_of(MONDAY, 1)
    diary = [full_day(MONDAY, VISIT), full_day(tuesday)]
    whole = ep("ep-1")
    window = Interval(at(MONDAY, 9), at(tuesday, 17))
    assert slot_for(whole, diary, window, 180, "123456", VISIT, STATUTORY, DEADLINE_AWARE) is None
    now = at(MONDAY, 8)
    found = replan(whole, diary, window, 180, "123456", now, DEADLINE_AWARE)
    assert found is not None
    slot, displaced = found
    assert slot == Interval(at(tuesday, 9), at(tuesday, 12))  # Monday's statutory visit stays
    assert displaced == (diary[1],)
    assert replan(whole, diary, window, 180, "123456", now, FIRST_FREE) is None
    started = at(tuesday, 10)  # routine work under way is not moved either
    assert replan(whole, diary, window, 180, "123456", started, DEADLINE_AWARE) is None


def test_waiting_requests_are_answered_earliest_deadline_first_or_as_they_came() -> None:
    base = at(MONDAY, 9)
    requests = [
        ("referral", base, None),
        ("advice due late", base + timedelta(minutes=1), base + timedelta(days=30)),
        ("advice due soon", base + timedelta(minutes=2), base + timedelta(days=10)),
    ]

    def order(policy: Policy) -> list[str]:
        answered = answer_order(
            requests, deadline=lambda r: r[2], arrived=lambda r: r[1], policy=policy
        )
        return [name for name, _, _ in answered]

    assert order(DEADLINE_AWARE) == ["advice due soon", "advice due late", "referral"]
    assert order(FIRST_FREE) == ["referral", "advice due late", "advice due soon"]


# --- in the service's booking path ----------------------------------------------------------


async def one_ep_with_full_diaries(policy: Policy) -> FakeSchedulingUnitOfWork:
    """The named EP alone, the school, and Monday and Tuesday full of core consultations."""
    uow = FakeSchedulingUnitOfWork(clock=FakeClock(at(MONDAY, 8)))
    await handlers.register_ep(commands.RegisterEp(ep("ep-named", on_rota=False)), uow)
    await handlers.register_school(builders.register_school(), uow)
    await handlers.set_policy(commands.SetPolicy(policy), uow)
    await handlers.set_core_allocation(commands.SetCoreAllocation("123456", 2026, 100 * 60), uow)
    for offset in range(2):
        day = day_of(MONDAY, offset)
        await handlers.book_appointment(
            builders.booking(at(day, 9), duration_minutes=8 * 60, funding_stream=CORE), uow
        )
    uow.commit()
    uow.published.clear()
    return uow


def statutory_request(advice_id: uuid.UUID) -> commands.BookAppointment:
    """A 3-hour statutory visit to be made by Tuesday's end (its deadline)."""
    return builders.booking(
        at(MONDAY, 9),
        kind=VISIT,
        duration_minutes=180,
        window_end=at(day_of(MONDAY, 1), 14),
        request_id=uuid.uuid4(),
        case_ref=f"advice:{advice_id}",
        advice_id=advice_id,
    )


async def test_a_statutory_request_at_risk_moves_routine_work_in_the_service() -> None:
    uow = await one_ep_with_full_diaries(DEADLINE_AWARE)
    advice_id = uuid.uuid4()
    await handlers.record_advice_request(
        commands.RecordAdviceRequest(advice_id, "open", at(MONDAY, 8)), uow
    )
    await handlers.answer_booking_request(statutory_request(advice_id), uow)
    [booked] = uow.events_of(AppointmentBooked)
    assert (booked.starts_at, booked.advice_id) == (at(MONDAY, 9), advice_id)
    [moved] = uow.events_of(AppointmentRescheduled)
    assert moved.reason == f"displaced by statutory work due soon: advice:{advice_id}"
    assert moved.starts_at >= at(day_of(MONDAY, 2), 9)  # after the full days
    assert uow.events_of(AppointmentBookingFailed) == []


async def test_first_come_first_served_leaves_the_statutory_request_unbooked() -> None:
    uow = await one_ep_with_full_diaries(FIRST_FREE)
    advice_id = uuid.uuid4()
    await handlers.record_advice_request(
        commands.RecordAdviceRequest(advice_id, "open", at(MONDAY, 8)), uow
    )
    await handlers.answer_booking_request(statutory_request(advice_id), uow)
    [failed] = uow.events_of(AppointmentBookingFailed)
    assert failed.reason == "starts_at: no EP is free in the window"
    assert uow.events_of(AppointmentBooked) == []


async def test_routine_work_asked_for_in_the_share_is_refused_by_the_service() -> None:
    uow = await one_ep_with_full_diaries(Policy(statutory_share_percent=40))
    wednesday, thursday = day_of(MONDAY, 2), day_of(MONDAY, 3)
    # 22 hours of routine work: the allowance is 60% of 37 hours (1,332 minutes)
    await handlers.book_appointment(
        builders.booking(at(wednesday, 9), duration_minutes=6 * 60, funding_stream=CORE), uow
    )
    with pytest.raises(Conflict) as refused:
        await handlers.book_appointment(builders.booking(at(thursday, 9), funding_stream=CORE), uow)
    assert "keeps 40% for statutory work" in str(refused.value)
