"""The response clocks a coordinator watches on the board: when each is due, and how it looks now.

An incident's clocks start when it is reported: acknowledge, then allocate, first contact and
first visit (a telephone level has no visit). When each is due is the incidents service's to
say (the LA's targets when the incident was reported): it comes with the report
(``IncidentReported.due``), so the board counts down to the moment the breach will be reported
at, and a change of the LA's targets later moves no clock.

A running clock is *due* while more than ``AMBER_SHARE`` of its time is left, *amber* in the
last quarter, *red* once passed; a clock that has stopped is *met* or *missed*. Pure: now is
an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from eps_contracts.incidents import ResponseClock

AMBER_SHARE = 0.25
"""A running clock turns amber when less than this share of its time is left."""


class ClockState(StrEnum):
    DUE = "due"  # running, plenty of time
    AMBER = "amber"  # running, the last quarter of its time
    RED = "red"  # running, past due: a breach
    MET = "met"  # stopped in time
    MISSED = "missed"  # stopped, but late: a breach

    @property
    def running(self) -> bool:
        return self in (ClockState.DUE, ClockState.AMBER, ClockState.RED)

    @property
    def breached(self) -> bool:
        return self in (ClockState.RED, ClockState.MISSED)


@dataclass(frozen=True, slots=True)
class ClockReading:
    clock: ResponseClock
    due_at: datetime
    done_at: datetime | None
    state: ClockState
    remaining: timedelta  # to due (negative once passed); from done when stopped
    amber_from: timedelta  # remaining time at which it turns amber

    @property
    def label(self) -> str:
        return self.clock.value.replace("_", " ").capitalize()


def reading(
    clock: ResponseClock,
    started: datetime,
    due: datetime,
    done_at: datetime | None,
    now: datetime,
) -> ClockReading:
    amber_from = (due - started) * AMBER_SHARE
    if done_at is not None:
        state = ClockState.MET if done_at <= due else ClockState.MISSED
        return ClockReading(clock, due, done_at, state, due - done_at, amber_from)
    remaining = due - now
    if remaining < timedelta(0):
        state = ClockState.RED
    elif remaining <= amber_from:
        state = ClockState.AMBER
    else:
        state = ClockState.DUE
    return ClockReading(clock, due, None, state, remaining, amber_from)


def readings(
    reported_at: datetime,
    due: dict[ResponseClock, datetime],
    done: dict[ResponseClock, datetime | None],
    now: datetime,
) -> list[ClockReading]:
    """Every clock of an incident reported at ``reported_at``, in the order they run."""
    return [
        reading(clock, reported_at, due[clock], done.get(clock), now)
        for clock in ResponseClock
        if clock in due
    ]


def countdown(remaining: timedelta) -> str:
    """``1h 05m`` left, or ``12m 30s``; ``-`` in front once passed."""
    seconds = int(remaining.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"
