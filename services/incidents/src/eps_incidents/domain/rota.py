"""The coordinators' on-call rota: who is on call when, overrides, escalation chains and gaps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise

from eps_chassis.errors import DomainError


class RotaPosition(StrEnum):
    PRIMARY = "primary"  # the coordinator on call: acknowledges first
    BACKUP = "backup"  # the next person when the primary does not acknowledge


@dataclass(frozen=True, slots=True)
class RotaEntry:
    """One coordinator on call in one position for [starts_at, ends_at).

    An override (a swap, sickness cover) takes precedence over the regular rota for its
    position and period.
    """

    coordinator_id: str
    position: RotaPosition
    starts_at: datetime
    ends_at: datetime
    is_override: bool = False

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise DomainError("rota times need a UTC offset", field="starts_at")
        if self.ends_at <= self.starts_at:
            raise DomainError("a rota entry must end after it starts", field="ends_at")

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class Gap:
    starts_at: datetime
    ends_at: datetime


class Rota:
    def __init__(self, entries: Iterable[RotaEntry]) -> None:
        self.entries = tuple(entries)

    def on_call(self, position: RotaPosition, at: datetime) -> str | None:
        """Who holds ``position`` at ``at``: an override first, else the regular rota."""
        covering = [e for e in self.entries if e.position == position and e.covers(at)]
        if not covering:
            return None
        # overrides win; among equals the entry that started last (the most specific) wins
        chosen = max(covering, key=lambda e: (e.is_override, e.starts_at))
        return chosen.coordinator_id

    def handover(
        self, position: RotaPosition, at: datetime, until: datetime
    ) -> tuple[datetime, str | None] | None:
        """The next moment before ``until`` when someone else holds ``position`` (None for
        nobody), and who; None when the one holding it at ``at`` holds it throughout."""
        now = self.on_call(position, at)
        moments = sorted(
            {t for e in self.entries for t in (e.starts_at, e.ends_at) if at < t < until}
        )
        for moment in moments:
            then = self.on_call(position, moment)
            if then != now:
                return moment, then
        return None

    def escalation_chain(self, at: datetime, principal_ep_id: str | None) -> tuple[str, ...]:
        """Who must acknowledge, in turn: the coordinator on call, the backup, the principal EP."""
        chain: list[str] = []
        for person in (
            self.on_call(RotaPosition.PRIMARY, at),
            self.on_call(RotaPosition.BACKUP, at),
            principal_ep_id,
        ):
            if person is not None and person not in chain:
                chain.append(person)
        return tuple(chain)

    def gaps(self, start: datetime, end: datetime) -> list[Gap]:
        """Periods within [start, end) when no coordinator is on call as primary."""
        if end <= start:
            return []
        cuts = {start, end}
        for entry in self.entries:
            for t in (entry.starts_at, entry.ends_at):
                if start < t < end:
                    cuts.add(t)
        points = sorted(cuts)
        gaps: list[Gap] = []
        for seg_start, seg_end in pairwise(points):
            if self.on_call(RotaPosition.PRIMARY, seg_start) is not None:
                continue
            if gaps and gaps[-1].ends_at == seg_start:
                gaps[-1] = Gap(gaps[-1].starts_at, seg_end)
            else:
                gaps.append(Gap(seg_start, seg_end))
        return gaps
