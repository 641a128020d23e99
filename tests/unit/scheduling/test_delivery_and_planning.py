import uuid
from datetime import UTC, date, datetime

import pytest
from eps_chassis.errors import Conflict, DomainError
from eps_contracts.scheduling import (
    AppointmentCompleted,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    DeliveredTimeVoided,
    FundingStream,
)
from eps_scheduling.domain.calendar import Interval
from eps_scheduling.domain.delivery import Delivery
from eps_scheduling.domain.model import Appointment, Policy
from eps_scheduling.domain.planning import (
    Term,
    planning_year,
    propose_planning_meeting,
    term_over,
    term_window,
)

from tests.support.builders.scheduling import appointment, at, ep, school


def completed(start: datetime, end: datetime) -> Appointment:
    booked = appointment("a", start, end)
    booked.complete(end)
    return booked


def test_completing_records_the_event_once_and_a_second_completion_is_refused() -> None:
    booked = appointment("a", at(date(2026, 11, 23), 10), at(date(2026, 11, 23), 11))
    booked.complete(at(date(2026, 11, 23), 11))
    assert [type(e) for e in booked.events] == [AppointmentCompleted]
    with pytest.raises(Conflict):
        booked.complete(at(date(2026, 11, 23), 12))
    with pytest.raises(Conflict):
        booked.cancel("too late", cancelled_at=at(date(2026, 11, 23), 12))


def test_an_appointment_cannot_be_completed_before_it_starts() -> None:
    booked = appointment("a", at(date(2026, 11, 23), 10), at(date(2026, 11, 23), 11))
    with pytest.raises(Conflict):
        booked.complete(at(date(2026, 11, 23), 9))


def test_delivered_time_is_dated_in_london_and_carries_whole_minutes() -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST)
    start = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    done = completed(start, datetime(2026, 7, 1, 0, 30, tzinfo=UTC))
    delivery = Delivery.record(done, 55)
    [event] = delivery.events
    assert isinstance(event, DeliveredTimeRecorded)
    assert event.delivered_on == date(2026, 7, 1)
    assert event.minutes == 55
    assert event.funding_stream is FundingStream.CORE
    assert event.school_urn == "123456"


def test_time_is_logged_only_for_a_completed_appointment_with_valid_minutes() -> None:
    booked = appointment("a", at(date(2026, 11, 23), 10), at(date(2026, 11, 23), 11))
    with pytest.raises(Conflict):
        Delivery.record(booked, 60)
    booked.complete(at(date(2026, 11, 23), 11))
    with pytest.raises(DomainError) as refused:
        Delivery.record(booked, 0)
    assert refused.value.field == "minutes"


def test_corrections_and_voids_are_their_own_events() -> None:
    done = completed(at(date(2026, 11, 23), 10), at(date(2026, 11, 23), 11))
    delivery = Delivery.record(done, 60)
    delivery.events.clear()
    with pytest.raises(Conflict):
        delivery.correct(uuid.uuid4(), 60, FundingStream.CORE, "same")
    delivery.correct(uuid.uuid4(), 45, FundingStream.TRADED, "left early; school bought time")
    delivery.void("logged against the wrong school")
    assert [type(e) for e in delivery.events] == [DeliveredTimeCorrected, DeliveredTimeVoided]
    with pytest.raises(Conflict):
        delivery.void("again")
    with pytest.raises(Conflict):
        delivery.correct(uuid.uuid4(), 30, FundingStream.CORE, "after void")


def test_term_windows_span_the_school_year() -> None:
    policy = Policy()
    autumn = term_window(2026, Term.AUTUMN, policy)
    spring = term_window(2026, Term.SPRING, policy)
    assert autumn.start == at(date(2026, 9, 1), 0)
    assert autumn.end == at(date(2026, 12, 20), 0)
    assert spring.start == at(date(2027, 1, 5), 0)
    assert spring.end == at(date(2027, 4, 1), 0)


def test_planning_meetings_go_in_the_named_eps_first_free_slot_of_each_term() -> None:
    policy = Policy(planning_meeting_minutes=90)
    named = ep("named")
    first_day = date(2026, 9, 1)  # a Tuesday
    busy = appointment("named", at(first_day, 9), at(first_day, 12))
    autumn = propose_planning_meeting(
        named, [busy], school(), 2026, Term.AUTUMN, policy, at(date(2026, 8, 1), 9)
    )
    assert autumn == Interval(at(first_day, 12), at(first_day, 13, 30))
    spring = propose_planning_meeting(
        named, [], school(), 2026, Term.SPRING, policy, at(date(2026, 8, 1), 9)
    )
    assert spring == Interval(at(date(2027, 1, 5), 9), at(date(2027, 1, 5), 10, 30))


def test_a_planning_meeting_is_not_proposed_in_the_past_or_after_the_term() -> None:
    policy = Policy(planning_notice_days=0)
    mid_term = at(date(2026, 11, 23), 13, 5)
    found = propose_planning_meeting(ep("named"), [], school(), 2026, Term.AUTUMN, policy, mid_term)
    assert found is not None and found.start == at(date(2026, 11, 23), 13, 15)
    after = at(date(2026, 12, 21), 9)
    assert (
        propose_planning_meeting(ep("named"), [], school(), 2026, Term.AUTUMN, policy, after)
        is None
    )


def test_a_planning_meeting_is_proposed_with_the_las_notice() -> None:
    monday = at(date(2026, 11, 23), 13, 5)
    found = propose_planning_meeting(
        ep("named"), [], school(), 2026, Term.AUTUMN, Policy(), monday
    )  # 14 days' notice by default: the first working hour two weeks on
    assert found == Interval(at(date(2026, 12, 7), 9), at(date(2026, 12, 7), 10, 30))
    week = Policy(planning_notice_days=7)
    found = propose_planning_meeting(ep("named"), [], school(), 2026, Term.AUTUMN, week, monday)
    assert found is not None and found.start == at(date(2026, 11, 30), 9)


def test_a_term_is_over_for_planning_once_the_notice_runs_past_its_end() -> None:
    policy = Policy(planning_notice_days=14)
    assert not term_over(2026, Term.AUTUMN, policy, at(date(2026, 12, 5), 9))
    late = at(date(2026, 12, 6), 9)  # 14 days on is 20 December, the window's end
    assert term_over(2026, Term.AUTUMN, policy, late)
    assert propose_planning_meeting(ep("named"), [], school(), 2026, Term.AUTUMN, policy, late) is (
        None
    )
    assert not term_over(2026, Term.SPRING, policy, late)


@pytest.mark.parametrize(
    ("now", "year"),
    [
        (at(date(2026, 9, 1), 9), 2026),  # the year just started
        (at(date(2026, 11, 23), 9), 2026),
        (at(date(2027, 3, 17), 9), 2026),  # spring window open (to 31 March) with notice
        (at(date(2027, 3, 18), 9), 2027),  # too late for spring: next year's planning begins
        (at(date(2027, 7, 20), 9), 2027),  # the summer term: next year's autumn and spring
        (at(date(2026, 8, 31), 23), 2026),
    ],
)
def test_the_year_planned_is_this_one_until_its_spring_window_closes(
    now: datetime, year: int
) -> None:
    assert planning_year(now, Policy(planning_notice_days=14)) == year


def test_the_planning_notice_cannot_be_negative() -> None:
    with pytest.raises(DomainError) as refused:
        Policy(planning_notice_days=-1)
    assert refused.value.field == "planning_notice_days"
