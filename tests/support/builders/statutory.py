"""Valid statutory commands, advice in a state, and advice documents, for tests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from eps_chassis.london import LONDON
from eps_contracts.statutory import AdviceDocument, ExceptionKind, PsychologicalAdviceRequested
from eps_statutory.domain.clock import ClockException
from eps_statutory.domain.commands import Person, RegisterAdviceRequest
from eps_statutory.domain.model import Advice, AdviceStatus
from eps_statutory.domain.policy import LaPolicy

RECEIVED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=LONDON)  # a Monday; due Monday 14 December
EP = Person("ep-named", is_senior=False)
OTHER_EP = Person("ep-other", is_senior=False)
SENIOR = Person("ep-senior", is_senior=True)


def request(**overrides: Any) -> RegisterAdviceRequest:
    values: dict[str, Any] = dict(
        request_id=uuid.uuid4(),
        requested_at=RECEIVED_AT,
        assessment_requested_on=date(2026, 9, 21),
        la_case_ref="EHC-2026-0042",
        child_id=uuid.uuid4(),
        child_given_name="Sam",
        child_family_name="Taylor",
        child_date_of_birth=date(2016, 5, 4),
        school_urn="123456",
        school_name="Greenfield Primary School",
        sent_at=RECEIVED_AT,
    )
    values.update(overrides)
    return RegisterAdviceRequest(**values)


def requested(**overrides: Any) -> PsychologicalAdviceRequested:
    """The LA's request for advice as its SEN system sends it: :func:`request`'s fields."""
    cmd = request(**overrides)
    fields = PsychologicalAdviceRequested.model_fields
    return PsychologicalAdviceRequested(**{name: getattr(cmd, name) for name in fields})


def exception(
    starts_on: date,
    ends_on: date,
    kind: ExceptionKind = ExceptionKind.EXCEPTIONAL_PERSONAL_CIRCUMSTANCES,
    **overrides: Any,
) -> ClockException:
    values: dict[str, Any] = dict(
        exception_id=uuid.uuid4(),
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        reason="Bereavement in the family; the parent asked for the visit to be moved.",
        evidence=("letter from parent dated 2026-11-09",),
        parents_notified_on=starts_on,
        recorded_on=starts_on,
        recorded_by="ep-named",
    )
    values.update(overrides)
    return ClockException(**values)


def document(**overrides: str) -> AdviceDocument:
    values = dict(
        summary="Sam is a friendly, curious child whose reading is well below that of peers.",
        professionals_involved="Educational psychologist; speech and language therapist.",
        basis_of_assessment="Observation in class, consultation with staff, standardised tests.",
        background="Sam has been on SEN support since January 2025.",
        child_views="Sam likes drawing and finds busy rooms hard.",
        parent_views="Sam's mother wants help with reading and with mornings.",
        needs="Cognition and learning: decoding; social, emotional and mental health.",
        outcomes="By the end of key stage 2, Sam will read age-appropriate texts with support.",
        provision="Daily small-group phonics in a mainstream school; a visual timetable.",
    )
    values.update(overrides)
    return AdviceDocument(**values)


def advice(
    status: AdviceStatus = AdviceStatus.ALLOCATED,
    policy: LaPolicy | None = None,
    named_ep: str | None = "ep-named",
    **overrides: Any,
) -> Advice:
    """An advice brought to ``status`` through the aggregate's own transitions."""
    policy = policy or LaPolicy()
    subject = Advice.receive("leicester-city", request(**overrides), policy, uuid.uuid4())
    if status is AdviceStatus.REQUESTED:
        return subject
    subject.allocate(policy, named_ep)
    if status is AdviceStatus.ALLOCATED:
        return subject
    subject.request_booking(policy, RECEIVED_AT)
    subject.record_booked(
        uuid.uuid4(), named_ep or "ep-team", datetime(2026, 11, 16, 9, 0, tzinfo=LONDON)
    )
    if status is AdviceStatus.ASSESSMENT_BOOKED:
        return subject
    subject.save_draft(document(), EP if named_ep == "ep-named" else SENIOR)
    if status is AdviceStatus.DRAFTED:
        return subject
    subject.approve(Person("ep-approver", is_senior=True), [])
    if status is AdviceStatus.APPROVED:
        return subject
    subject.submit(date(2026, 12, 1), [])
    return subject


ADVICE_HEADINGS = (
    "summary",
    "professionals_involved",
    "basis_of_assessment",
    "background",
    "child_views",
    "parent_views",
    "needs",
    "outcomes",
    "provision",
)


def advice_document() -> dict[str, str]:
    """Psychological advice with every heading written, naming no school (as JSON for HTTP)."""
    return {h: f"The {h.replace('_', ' ')}, as the EP found it." for h in ADVICE_HEADINGS}
