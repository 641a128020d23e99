"""A cancellation tells billing what it needs to charge late notice: school, funding, times,
when and by whom."""

from __future__ import annotations

from datetime import UTC, date, datetime

from eps_contracts.scheduling import (
    AppointmentCancelled,
    AppointmentKind,
    CancellationParty,
    FundingStream,
)
from eps_scheduling.domain.model import Appointment

from tests.support.builders.scheduling import appointment, at


def test_a_cancellation_carries_the_appointment_and_when_and_by_whom_it_was_cancelled() -> None:
    start, end = at(date(2025, 10, 20), 9), at(date(2025, 10, 20), 12)
    booked = Appointment.book(
        ep_id="ep-1",
        kind=AppointmentKind.CONSULTATION,
        starts_at=start,
        ends_at=end,
        funding_stream=FundingStream.TRADED,
        place="123456",
        school_urn="123456",
    )
    booked.events.clear()
    when = datetime(2025, 10, 10, 15, tzinfo=UTC)
    booked.cancel("school asked", cancelled_at=when, cancelled_by=CancellationParty.SCHOOL)
    [event] = booked.events
    assert isinstance(event, AppointmentCancelled)
    assert (event.school_urn, event.funding_stream) == ("123456", FundingStream.TRADED)
    assert (event.starts_at, event.ends_at) == (start, end)
    assert (event.cancelled_at, event.cancelled_by) == (when, CancellationParty.SCHOOL)
    assert event.reason == "school asked"


def test_a_cancellation_whose_party_is_not_stated_says_so() -> None:
    booked = appointment("a", at(date(2025, 10, 20), 9), at(date(2025, 10, 20), 10))
    when = at(date(2025, 10, 19), 18)
    booked.cancel("asked by phone", cancelled_at=when)
    [event] = booked.events
    assert isinstance(event, AppointmentCancelled)
    assert event.cancelled_at == when
    assert event.cancelled_by is None
