"""Europe/London: the one time zone every rule of the service is written in.

A working day, a school year, a statutory deadline, a billing period, "same day" for a critical
incident: all are London dates and times, across the clock changes (the day the clocks go back
has 25 hours). Instants are kept aware and compared in UTC; only dates and wall times are
London's. One module, so that no service defines these again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def london_date(moment: datetime) -> date:
    """The London calendar date of an aware instant."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no London date")
    return moment.astimezone(LONDON).date()


def start_of_day(day: date) -> datetime:
    """The instant a London day begins (its midnight, GMT or BST), in UTC."""
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The instant a London day ends (the midnight starting the next day), in UTC.

    In UTC so that subtracting two such instants gives elapsed time: Python subtracts two
    datetimes sharing one ``ZoneInfo`` as wall-clock times, ignoring a clock change between."""
    return start_of_day(day + timedelta(days=1))


def academic_year_of(day: date) -> int:
    """School year by its starting calendar year: 1 September 2026 to 31 August 2027 is 2026."""
    return day.year if day.month >= 9 else day.year - 1
