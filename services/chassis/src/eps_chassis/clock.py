"""The service's clock: the real one in production, a shifted or stopped one in tests.

Every decision that depends on the time of day (what is bookable, what is due, which EP is on
call, when a billing period closes) reads the service's clock, never the wall clock, so a test
can run the services at 02:00 on a Sunday whatever the hour it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def shifted_clock(offset: timedelta) -> Clock:
    """The wall clock moved by ``offset``: time still passes, from another instant.

    Several processes given the same offset share one "now" (a starting instant would differ
    by each process's start-up time)."""
    if not offset:
        return utc_now

    def now() -> datetime:
        return datetime.now(UTC) + offset

    return now
