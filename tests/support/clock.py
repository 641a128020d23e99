"""Time in tests: one switch for the whole suite, and a stopped clock for tests that drive time.

No test decides what is bookable or due from the wall clock. The services under test and the
tests themselves read the **suite clock**: the wall clock, unless ``EPS_TEST_NOW`` (an ISO 8601
instant with an offset) moves it, for in-process services and service processes alike
(``ServiceSettings.clock_offset_s``). Time still passes on it, from that instant:

    EPS_TEST_NOW=2026-11-29T02:00:00+00:00 make test     # the suite at 02:00 on a Sunday

Tests whose outcome depends on the hour or the day also run at each of :data:`AWKWARD_INSTANTS`
(the ``awkward_instant`` fixture), so every run proves them at night, on a Friday evening and
across the October clock change, whatever the hour it runs.

:class:`FakeClock` is a stopped clock, for tests that move time themselves (escalations, the
billing period close); :class:`FakeTimer` the same for a monotonic clock (seconds, no time of
day), for timing such as the relay's claim.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from eps_chassis.clock import Clock, shifted_clock, utc_now

ENV = "EPS_TEST_NOW"
LONDON = ZoneInfo("Europe/London")

AWKWARD_INSTANTS: dict[str, datetime] = {
    "sunday-0200": datetime(2026, 11, 29, 2, 0, tzinfo=UTC),  # GMT: 02:00 in London
    "friday-1730": datetime(2026, 11, 27, 17, 30, tzinfo=UTC),  # after work, before a weekend
    # 01:45 BST on 25 October 2026; at 02:00 BST the clocks go back to 01:00 GMT
    "october-clock-change": datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
}


def _offset_from_environment() -> timedelta:
    given = os.environ.get(ENV)
    if not given:
        return timedelta(0)
    instant = datetime.fromisoformat(given)
    if instant.tzinfo is None:
        raise ValueError(f"{ENV} needs an offset, e.g. 2026-11-29T02:00:00+00:00")
    return instant - utc_now()


_offset = _offset_from_environment()


def suite_offset() -> timedelta:
    """How far the suite clock is from the wall clock now."""
    return _offset


def suite_clock() -> Clock:
    """The suite clock: the default clock of every service a test starts."""
    return shifted_clock(_offset)


def suite_now() -> datetime:
    """Now, by the suite clock."""
    return utc_now() + _offset


def suite_today() -> date:
    """Today in London, by the suite clock."""
    return suite_now().astimezone(LONDON).date()


@contextlib.contextmanager
def suite_clock_at(instant: datetime) -> Iterator[None]:
    """Move the suite clock to ``instant`` (then on from there) for the duration."""
    global _offset
    saved, _offset = _offset, instant - utc_now()
    try:
        yield
    finally:
        _offset = saved


class FakeClock:
    """A stopped clock that a test moves on itself."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now if now is not None else suite_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeTimer:
    """A stopped monotonic clock (``time.monotonic``'s seconds) that a test moves on itself."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
