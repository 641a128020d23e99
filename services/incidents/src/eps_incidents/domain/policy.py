"""The local authority's response targets for critical incidents (configuration, not constants).

Every figure here comes from the LA's own configuration (the ``level_targets`` and
``incident_policy`` tables); the defaults live in the migration as rows for tenant ``*``.
Deadlines are instants; "same day" means the Europe/London calendar day, so a report at 23:30
or on the day the clocks change still gets the right end of day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eps_chassis.errors import DomainError
from eps_chassis.london import end_of_day, london_date


@dataclass(frozen=True, slots=True)
class Target:
    """A response target: within an elapsed time, or by the end of the same London day.

    ``same_day`` targets are due at the end of the day of the start, but never sooner than
    ``within`` after it, so that a report late in the evening still leaves time to respond.
    """

    within: timedelta
    same_day: bool = False

    def __post_init__(self) -> None:
        if self.within <= timedelta(0):
            raise DomainError("a response target must be a positive time", field="within")

    def due(self, start: datetime) -> datetime:
        start = start.astimezone(UTC)  # elapsed time: zone-aware arithmetic is wall-clock
        due = start + self.within
        if self.same_day:
            due = max(due, end_of_day(london_date(start)))
        return due


@dataclass(frozen=True, slots=True)
class LevelTargets:
    """What a level of incident needs and how fast (e.g. level 2: two EPs visit within 24 h)."""

    level: int
    eps_needed: int
    on_site: bool  # False: a telephone consultation (level 1); no visit clock
    senior_lead_required: bool  # level 3: led by the principal or a senior EP
    response_minutes: int  # time blocked in each allocated EP's diary
    allocate: Target
    first_contact: Target
    first_visit: Target | None

    def __post_init__(self) -> None:
        if self.level not in (1, 2, 3):
            raise DomainError("level must be 1, 2 or 3", field="level")
        if self.eps_needed < 1:
            raise DomainError("a level needs at least one EP", field="eps_needed")
        if self.response_minutes <= 0:
            raise DomainError("response time must be positive", field="response_minutes")
        if self.on_site and self.first_visit is None:
            raise DomainError("an on-site level needs a first-visit target", field="first_visit")


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    """A local authority's critical-incident configuration."""

    acknowledge_within: timedelta  # then the incident escalates (15 minutes by default)
    principal_ep_id: str | None  # the end of every escalation chain
    rota_gap_lookahead: timedelta  # how far ahead gaps in the rota are reported
    levels: dict[int, LevelTargets]

    def targets_for(self, level: int) -> LevelTargets:
        try:
            return self.levels[level]
        except KeyError:
            raise DomainError(
                f"the local authority has no targets configured for level {level}", field="level"
            ) from None
