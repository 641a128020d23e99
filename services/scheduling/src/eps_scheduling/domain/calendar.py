"""Local time for EP diaries: every working day and school year is in Europe/London."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from eps_chassis.london import LONDON, london_date

MINUTES_PER_DAY = 24 * 60


def local_instant(day: date, minute_of_day: int) -> datetime:
    """The UTC instant of ``minute_of_day`` (0..1440) on a London day; 1440 is next midnight."""
    if not 0 <= minute_of_day <= MINUTES_PER_DAY:
        raise ValueError(f"minute of day {minute_of_day} is outside 0..{MINUTES_PER_DAY}")
    if minute_of_day == MINUTES_PER_DAY:
        return datetime.combine(day + timedelta(days=1), time(0), LONDON).astimezone(UTC)
    wall = time(minute_of_day // 60, minute_of_day % 60)
    return datetime.combine(day, wall, LONDON).astimezone(UTC)


def days_between(start: datetime, end: datetime) -> Iterator[date]:
    """Every London date from the one holding ``start`` to the one holding ``end``."""
    day, last = london_date(start), london_date(end)
    while day <= last:
        yield day
        day += timedelta(days=1)


def ceil_to_step(at: datetime, step_minutes: int) -> datetime:
    """Round an instant up to the next whole step (steps counted from the UTC epoch)."""
    step = step_minutes * 60
    seconds = at.timestamp()
    rounded = -(-int(seconds) // step) * step
    if rounded < seconds:
        rounded += step
    return datetime.fromtimestamp(rounded, UTC)


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time [start, end) between two aware instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("an interval must end after it starts")

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)
