"""What a page says. Built only from the incident's events, which carry no child's name or
other personal data about a child: the school (its URN, and its name and address when the LA
has given them), the level and kind of incident, the times; a short reference to find the
incident in the console. Nothing more reaches a phone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from eps_notifications.domain.model import Message

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What paging knows of an incident (from its reported event)."""

    incident_id: uuid.UUID
    school_urn: str | None = None
    level: int | None = None
    kind: str | None = None
    reported_at: datetime | None = None
    acknowledged: bool = False
    school_name: str | None = None  # from the LA's schools, when it has given them
    school_address: str | None = None


def reference(incident_id: uuid.UUID) -> str:
    return incident_id.hex[:8]


def when(at: datetime) -> str:
    """A time as people on call read it: London time, with the day."""
    return at.astimezone(LONDON).strftime("%H:%M on %a %d %b")


def _what(facts: IncidentFacts) -> str:
    level = f", level {facts.level}" if facts.level else ""
    kind = f" ({facts.kind.replace('_', ' ')})" if facts.kind else ""
    school = f" at school {facts.school_urn}" if facts.school_urn else ""
    if facts.school_name:
        school = f" at {facts.school_name} ({facts.school_urn})"
    return f"EPS critical incident{level}{kind}{school}"


def _message(facts: IncidentFacts, subject: str, text: str) -> Message:
    ref = reference(facts.incident_id)
    return Message(subject=f"{subject} (ref {ref})", text=f"{text} Ref {ref}.")


def reported(facts: IncidentFacts) -> Message:
    at = f", reported {when(facts.reported_at)}" if facts.reported_at else ""
    return _message(
        facts,
        "Critical incident: you are on call",
        f"{_what(facts)}{at}. You are on call: acknowledge it in the EPS console.",
    )


def escalated(facts: IncidentFacts, reason: str) -> Message:
    return _message(
        facts,
        "Critical incident escalated to you",
        f"{_what(facts)}: {reason}. It is now yours: acknowledge it in the EPS console.",
    )


def allocated(facts: IncidentFacts, starts_at: datetime | None) -> Message:
    be_there = f" Be there by {when(starts_at)}." if starts_at else ""
    if facts.school_address:
        be_there += f" Address: {facts.school_address}."
    return _message(
        facts,
        "Critical incident: you are going",
        f"{_what(facts)}: you are allocated to respond.{be_there} Details in the EPS console.",
    )


def breached(facts: IncidentFacts, clock: str, due_at: datetime) -> Message:
    return _message(
        facts,
        "Critical incident: response target missed",
        f"{_what(facts)}: the {clock.replace('_', ' ')} target (due {when(due_at)}) was missed.",
    )


def left_unassigned(facts: IncidentFacts, reason: str) -> Message:
    return _message(
        facts,
        "Critical incident with nobody assigned",
        f"{_what(facts)}: nobody could be assigned ({reason}). A coordinator must be found.",
    )
