"""The board's response clocks: due, amber in the last quarter, red once passed; met or missed
once stopped; counted down to the moment incidents said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eps_console.domain.clocks import ClockState, countdown, reading, readings
from eps_contracts.incidents import ResponseClock

REPORTED = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
DUE = REPORTED + timedelta(minutes=20)


def state_at(now: datetime, done: datetime | None = None) -> ClockState:
    return reading(ResponseClock.ACKNOWLEDGE, REPORTED, DUE, done, now).state


def test_a_running_clock_is_due_then_amber_in_its_last_quarter_then_red_once_passed() -> None:
    assert state_at(REPORTED) is ClockState.DUE
    assert state_at(DUE - timedelta(minutes=5, seconds=1)) is ClockState.DUE
    assert state_at(DUE - timedelta(minutes=5)) is ClockState.AMBER
    assert state_at(DUE) is ClockState.AMBER
    assert state_at(DUE + timedelta(seconds=1)) is ClockState.RED
    assert ClockState.RED.breached and ClockState.RED.running


def test_a_stopped_clock_is_met_in_time_or_missed_whatever_the_time_now() -> None:
    later = DUE + timedelta(hours=5)
    assert state_at(later, done=DUE) is ClockState.MET
    assert state_at(later, done=DUE + timedelta(seconds=1)) is ClockState.MISSED
    assert not ClockState.MET.running and ClockState.MISSED.breached


def test_the_clocks_run_in_order_and_only_those_incidents_gave_a_due_time_for() -> None:
    due = {
        ResponseClock.FIRST_CONTACT: REPORTED + timedelta(hours=2),
        ResponseClock.ACKNOWLEDGE: DUE,
        ResponseClock.ALLOCATE: REPORTED + timedelta(hours=1),
    }
    found = readings(REPORTED, due, {ResponseClock.ACKNOWLEDGE: REPORTED}, REPORTED)
    assert [r.clock for r in found] == [
        ResponseClock.ACKNOWLEDGE,
        ResponseClock.ALLOCATE,
        ResponseClock.FIRST_CONTACT,
    ]  # a telephone level: no visit clock
    assert [r.state for r in found] == [ClockState.MET, ClockState.DUE, ClockState.DUE]
    assert found[1].remaining == timedelta(hours=1)


def test_the_countdown_reads_in_hours_and_minutes_or_minutes_and_seconds() -> None:
    assert countdown(timedelta(hours=1, minutes=5, seconds=59)) == "1h 05m"
    assert countdown(timedelta(minutes=12, seconds=3)) == "12m 03s"
    assert countdown(timedelta(seconds=-75)) == "-1m 15s"
