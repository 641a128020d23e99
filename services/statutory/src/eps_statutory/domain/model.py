"""The advice aggregate: a pure state machine that records the events it causes.

requested -> allocated -> assessment_booked -> drafted -> approved -> submitted
(any state but submitted) -> withdrawn, when the LA withdraws its request

- allocation follows the LA's rule (the school's named EP or the statutory team);
- the assessment work is booked through scheduling, one booking per purpose (the assessment
  visit, meeting the child, gathering the parents' and the child's views), each followed by its
  own request and appointment id; the advice is ``assessment_booked`` while any booking holds an
  appointment. A cancelled booking is requested again (unless drafting has started), and when
  none is left the advice returns to ``allocated``; a rescheduled booking keeps its place, with
  its new time (and the team's EP who now makes it);
- a draft needs a booked assessment; saving a draft withdraws any approval;
- approval needs a senior EP who is not the author, a complete document naming no school;
- submission needs the approval; the document is checked again, then published for the SEN team.
Exceptions may be recorded at any point before submission; the deadline watch raises at-risk
and breach events once per last day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_chassis.london import end_of_day, london_date
from eps_contracts import Event
from eps_contracts.scheduling import AppointmentBookingRequested, AppointmentKind, FundingStream
from eps_contracts.sealed import Unsealed
from eps_contracts.statutory import (
    AdviceAllocated,
    AdviceApproved,
    AdviceAssessmentBooked,
    AdviceAssessmentRescheduled,
    AdviceAtRisk,
    AdviceDeadlineBreached,
    AdviceDocument,
    AdviceDrafted,
    AdviceExceptionRecorded,
    AdviceRequestReceived,
    AdviceSubmitted,
    AdviceWithdrawn,
    AllocationRoute,
    AssessmentPurpose,
    AtRiskReason,
)

from eps_statutory.domain import clock
from eps_statutory.domain.clock import ClockException
from eps_statutory.domain.commands import Person, RegisterAdviceRequest
from eps_statutory.domain.document import KnownSchool, check_complete, check_names_no_school
from eps_statutory.domain.policy import AllocationRule, ExceptionRule, LaPolicy


class AdviceStatus(StrEnum):
    REQUESTED = "requested"
    ALLOCATED = "allocated"
    ASSESSMENT_BOOKED = "assessment_booked"
    DRAFTED = "drafted"
    APPROVED = "approved"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"  # the LA withdrew its request before the advice was submitted


CLOSED = (AdviceStatus.SUBMITTED, AdviceStatus.WITHDRAWN)


WRITABLE = (AdviceStatus.ASSESSMENT_BOOKED, AdviceStatus.DRAFTED, AdviceStatus.APPROVED)


def case_ref(advice_id: uuid.UUID) -> str:
    return f"advice:{advice_id}"


def advice_id_from_case_ref(ref: str | None) -> uuid.UUID | None:
    """The advice a scheduling event is about, or None when it is someone else's case."""
    if not ref or not ref.startswith("advice:"):
        return None
    try:
        return uuid.UUID(ref.removeprefix("advice:"))
    except ValueError:
        return None


@dataclass
class Booking:
    """One piece of assessment work asked of scheduling: pending while ``appointment_id`` is
    None and there is no failure, failed with ``failure``, booked once it has an appointment."""

    purpose: AssessmentPurpose
    request_id: uuid.UUID | None = None
    failure: str | None = None
    appointment_id: uuid.UUID | None = None
    starts_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_booked(self) -> bool:
        return self.appointment_id is not None

    @property
    def is_pending(self) -> bool:
        return self.appointment_id is None and self.failure is None


@dataclass
class Advice:
    advice_id: uuid.UUID
    tenant: str
    request_id: uuid.UUID
    la_case_ref: str
    child_id: uuid.UUID
    child_given_name: str
    child_family_name: str
    child_date_of_birth: date
    school_urn: str | None
    received_at: datetime
    received_on: date
    assessment_requested_on: date
    advice_weeks: int
    exception_rule: ExceptionRule
    status: AdviceStatus = AdviceStatus.REQUESTED
    route: AllocationRoute | None = None
    ep_id: str | None = None
    bookings: list[Booking] = field(default_factory=list)
    assessment_completed_at: datetime | None = None
    document: AdviceDocument | None = None
    version: int = 0
    drafted_by: str | None = None
    approved_by: str | None = None
    submitted_on: date | None = None
    withdrawn_on: date | None = None
    withdrawal_reason: str | None = None
    exceptions: list[ClockException] = field(default_factory=list)
    at_risk_raised_for: date | None = None
    breach_raised_for: date | None = None
    events: list[Event] = field(default_factory=list)

    # --- the clock -----------------------------------------------------------------------------

    @property
    def six_week_due_on(self) -> date:
        return clock.six_week_due_on(self.received_on, self.advice_weeks)

    @property
    def due_on(self) -> date | None:
        return clock.due_on(
            self.received_on, self.advice_weeks, self.exception_rule, self.exceptions
        )

    @property
    def plan_due_on(self) -> date:
        """Reg 13 context: the final EHC plan's last day (the LA's deadline, not the EPS's)."""
        return clock.plan_due_on(self.assessment_requested_on)

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED

    def _require_open(self) -> None:
        if not self.is_open:
            raise Conflict(f"the advice is closed: {self.status}")

    # --- request and allocation ----------------------------------------------------------------

    @classmethod
    def receive(
        cls, tenant: str, cmd: RegisterAdviceRequest, policy: LaPolicy, advice_id: uuid.UUID
    ) -> Advice:
        received_on = london_date(cmd.requested_at)
        if cmd.assessment_requested_on > received_on:
            raise DomainError(
                "the assessment request date is after the request for advice",
                field="assessment_requested_on",
            )
        if cmd.child_date_of_birth > received_on:
            raise DomainError("the date of birth is in the future", field="child_date_of_birth")
        advice = cls(
            advice_id=advice_id,
            tenant=tenant,
            request_id=cmd.request_id,
            la_case_ref=cmd.la_case_ref,
            child_id=cmd.child_id,
            child_given_name=cmd.child_given_name,
            child_family_name=cmd.child_family_name,
            child_date_of_birth=cmd.child_date_of_birth,
            school_urn=cmd.school_urn,
            received_at=cmd.requested_at,
            received_on=received_on,
            assessment_requested_on=cmd.assessment_requested_on,
            advice_weeks=policy.advice_weeks,
            exception_rule=policy.exception_rule,
        )
        advice.events.append(
            AdviceRequestReceived(
                advice_id=advice_id,
                request_id=cmd.request_id,
                child_id=cmd.child_id,
                school_urn=cmd.school_urn,
                received_on=received_on,
                assessment_requested_on=cmd.assessment_requested_on,
                due_on=advice.six_week_due_on,
                plan_due_on=advice.plan_due_on,
            )
        )
        return advice

    def allocate(self, policy: LaPolicy, named_ep: str | None) -> None:
        if self.status is not AdviceStatus.REQUESTED:
            raise Conflict(f"the advice is already {self.status}")
        if policy.allocation_rule is AllocationRule.NAMED_EP and named_ep is not None:
            self.route, self.ep_id = AllocationRoute.NAMED_EP, named_ep
        else:
            self.route, self.ep_id = AllocationRoute.STATUTORY_TEAM, None
        self.status = AdviceStatus.ALLOCATED
        self.events.append(
            AdviceAllocated(advice_id=self.advice_id, route=self.route, ep_id=self.ep_id)
        )

    # --- booking through scheduling ------------------------------------------------------------

    def booking_window(self, policy: LaPolicy, now: datetime) -> tuple[datetime, datetime]:
        """From now to ``booking_margin_days`` before the last day (time left to write); when
        that has passed, as soon as possible and still before the last day if it can be."""
        earliest = max(now, self.received_at)
        due = self.due_on or self.six_week_due_on
        latest = end_of_day(due - timedelta(days=policy.booking_margin_days))
        if latest - earliest < timedelta(days=1):
            latest = max(end_of_day(due - timedelta(days=1)), earliest + timedelta(days=2))
        return earliest, latest

    # each booking's own state; the properties below describe the advice's main booking (the
    # first one holding an appointment, else the first asked for), as stored before purposes

    @property
    def main_booking(self) -> Booking | None:
        return next((b for b in self.bookings if b.is_booked), None) or next(
            iter(self.bookings), None
        )

    @property
    def booking_request_id(self) -> uuid.UUID | None:
        return self.main_booking.request_id if self.main_booking else None

    @property
    def booking_failure(self) -> str | None:
        return self.main_booking.failure if self.main_booking else None

    @property
    def appointment_id(self) -> uuid.UUID | None:
        return self.main_booking.appointment_id if self.main_booking else None

    @property
    def appointment_starts_at(self) -> datetime | None:
        return self.main_booking.starts_at if self.main_booking else None

    @property
    def is_booked(self) -> bool:
        return any(b.is_booked for b in self.bookings)

    def _booking_for(self, purpose: AssessmentPurpose) -> Booking | None:
        return next((b for b in self.bookings if b.purpose is purpose), None)

    def _by_appointment(self, appointment_id: uuid.UUID) -> Booking | None:
        return next((b for b in self.bookings if b.appointment_id == appointment_id), None)

    def request_booking(
        self,
        policy: LaPolicy,
        now: datetime,
        purpose: AssessmentPurpose = AssessmentPurpose.ASSESSMENT_VISIT,
    ) -> AppointmentBookingRequested:
        """Ask scheduling for one purpose's booking: before drafting, once per purpose (again
        after scheduling could not book it, or after it was cancelled)."""
        self._require_open()
        if self.status not in (AdviceStatus.ALLOCATED, AdviceStatus.ASSESSMENT_BOOKED):
            raise Conflict(f"no booking needed: the advice is {self.status}")
        booking = self._booking_for(purpose)
        if booking is not None and booking.is_booked:
            raise Conflict(f"no booking needed: the {purpose} is already booked")
        if booking is not None and booking.is_pending:
            raise Conflict("a booking has been requested and scheduling has not answered yet")
        if booking is None:
            booking = Booking(purpose)
            self.bookings.append(booking)
        earliest, latest = self.booking_window(policy, now)
        booking.request_id, booking.failure = uuid.uuid4(), None
        request = AppointmentBookingRequested(
            request_id=booking.request_id,
            case_ref=case_ref(self.advice_id),
            kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
            school_urn=self.school_urn,
            child_id=self.child_id,
            ep_id=self.ep_id,
            duration_minutes=policy.assessment_minutes,
            earliest=earliest,
            latest=latest,
            funding_stream=FundingStream.STATUTORY,
            advice_id=self.advice_id,  # the LA's request is the booking's lawful basis
        )
        self.events.append(request)
        return request

    def record_booked(
        self,
        appointment_id: uuid.UUID,
        ep_id: str,
        starts_at: datetime,
        request_id: uuid.UUID | None = None,
    ) -> None:
        """Scheduling booked an appointment for the advice: it answers the booking asked for
        under ``request_id``; one booked without (or under an unknown) request answers the
        oldest booking still waiting, else is an assessment visit of its own."""
        if not self.is_open or self._by_appointment(appointment_id) is not None:
            return  # late news of a finished advice, or a repeat: nothing changes
        waiting = [b for b in self.bookings if not b.is_booked]
        booking = next((b for b in waiting if b.request_id == request_id), None) or next(
            iter(waiting), None
        )
        if booking is None:
            booking = Booking(AssessmentPurpose.ASSESSMENT_VISIT, request_id=request_id)
            self.bookings.append(booking)
        booking.appointment_id, booking.starts_at, booking.failure = appointment_id, starts_at, None
        if self.ep_id is None:
            self.ep_id = ep_id  # the statutory team's EP who took the visit
        if self.status is AdviceStatus.ALLOCATED:
            self.status = AdviceStatus.ASSESSMENT_BOOKED
        self.events.append(
            AdviceAssessmentBooked(
                advice_id=self.advice_id,
                appointment_id=appointment_id,
                ep_id=ep_id,
                starts_at=starts_at,
                purpose=booking.purpose,
            )
        )

    def record_rescheduled(
        self, appointment_id: uuid.UUID, ep_id: str, starts_at: datetime
    ) -> None:
        """A booking moved: keep its new time. A statutory-team advice not yet drafted goes to
        the team's EP who now makes the visit; an advice allocated to its named EP, or already
        drafted, keeps its EP."""
        booking = self._by_appointment(appointment_id)
        if not self.is_open or booking is None:
            return  # another appointment, or late news of a finished advice
        if booking.starts_at == starts_at and (
            self.route is not AllocationRoute.STATUTORY_TEAM or self.ep_id == ep_id
        ):
            return  # a repeat
        booking.starts_at = starts_at
        if self.route is AllocationRoute.STATUTORY_TEAM and self.drafted_by is None:
            self.ep_id = ep_id
        due = self.due_on
        self.events.append(
            AdviceAssessmentRescheduled(
                advice_id=self.advice_id,
                appointment_id=appointment_id,
                ep_id=ep_id,
                starts_at=starts_at,
                starts_after_last_day=due is not None and starts_at >= end_of_day(due),
                purpose=booking.purpose,
            )
        )

    def record_booking_failed(self, request_id: uuid.UUID, reason: str) -> None:
        if not self.is_open:
            return
        for booking in self.bookings:
            if booking.request_id == request_id and not booking.is_booked:
                booking.failure = reason

    def record_cancelled(self, appointment_id: uuid.UUID) -> AssessmentPurpose | None:
        """Forget a cancelled booking; the purpose to book again when a new booking is needed
        (before drafting). With no booking left the advice returns to ``allocated``."""
        booking = self._by_appointment(appointment_id)
        if not self.is_open or booking is None:
            return None
        self.bookings.remove(booking)
        if self.status is AdviceStatus.ASSESSMENT_BOOKED and not self.is_booked:
            self.status = AdviceStatus.ALLOCATED
        if self.status in (AdviceStatus.ALLOCATED, AdviceStatus.ASSESSMENT_BOOKED):
            return booking.purpose
        return None

    def record_completed(self, appointment_id: uuid.UUID, completed_at: datetime) -> None:
        booking = self._by_appointment(appointment_id)
        if booking is not None:
            booking.completed_at = completed_at
            self.assessment_completed_at = completed_at

    # --- exceptions ----------------------------------------------------------------------------

    def record_exception(self, exception: ClockException, today: date) -> None:
        self._require_open()
        clock.check_exception(
            exception, received_on=self.received_on, current_due=self.due_on, today=today
        )
        self.exceptions.append(exception)
        self.events.append(
            AdviceExceptionRecorded(
                advice_id=self.advice_id,
                exception_id=exception.exception_id,
                kind=exception.kind,
                starts_on=exception.starts_on,
                ends_on=exception.ends_on,
                parents_notified_on=exception.parents_notified_on,
                due_on=self.due_on,
            )
        )

    # --- the document --------------------------------------------------------------------------

    def save_draft(self, doc: AdviceDocument, author: Person) -> None:
        self._require_open()
        if self.status not in WRITABLE:
            raise Conflict(f"book the assessment before drafting (the advice is {self.status})")
        if not author.is_senior and self.ep_id not in (None, author.person_id):
            raise Forbidden("only the allocated EP or a senior EP may draft this advice")
        if self.ep_id is None:
            self.ep_id = author.person_id
        self.document, self.drafted_by = doc, author.person_id
        self.version += 1
        self.approved_by = None
        self.status = AdviceStatus.DRAFTED
        self.events.append(
            AdviceDrafted(advice_id=self.advice_id, ep_id=author.person_id, version=self.version)
        )

    def approve(self, approver: Person, schools: list[KnownSchool]) -> None:
        self._require_open()
        if not approver.is_senior:
            raise Forbidden("a senior EP approves advice")
        if self.status is not AdviceStatus.DRAFTED or self.document is None:
            raise Conflict(f"there is no draft waiting for approval (the advice is {self.status})")
        if approver.person_id == self.drafted_by:
            raise Forbidden("the author may not approve their own advice")
        check_complete(self.document)
        check_names_no_school(self.document, schools)
        self.approved_by = approver.person_id
        self.status = AdviceStatus.APPROVED
        self.events.append(
            AdviceApproved(
                advice_id=self.advice_id, approved_by=approver.person_id, version=self.version
            )
        )

    def submit(self, today: date, schools: list[KnownSchool]) -> None:
        self._require_open()
        if self.status is not AdviceStatus.APPROVED or self.document is None:
            raise Conflict(f"a senior EP must approve the advice first (it is {self.status})")
        assert self.drafted_by is not None and self.approved_by is not None
        check_complete(self.document)
        check_names_no_school(self.document, schools)
        due = self.due_on
        self.submitted_on = today
        self.status = AdviceStatus.SUBMITTED
        self.events.append(
            AdviceSubmitted(
                advice_id=self.advice_id,
                request_id=self.request_id,
                la_case_ref=self.la_case_ref,
                child_id=self.child_id,
                submitted_on=today,
                received_on=self.received_on,
                due_on=due,
                within_six_weeks=today <= self.six_week_due_on,
                within_time_limit=due is None or today <= due,
                exception_applied=bool(self.exceptions),
                author_ep_id=self.drafted_by,
                approved_by=self.approved_by,
                document=Unsealed(self.document, self.child_id),  # sealed on its way out
            )
        )

    # --- the deadline watch --------------------------------------------------------------------

    @property
    def visit_after_last_day(self) -> bool:
        due = self.due_on
        if due is None or self.document is not None:
            return False  # once drafted, the visits have happened whatever the diary says
        return any(
            b.completed_at is None and b.starts_at is not None and b.starts_at >= end_of_day(due)
            for b in self.bookings
            if b.is_booked
        )

    def at_risk_reasons(self) -> tuple[AtRiskReason, ...]:
        reasons = []
        if not self.is_booked and self.assessment_completed_at is None:
            reasons.append(AtRiskReason.NO_ASSESSMENT_BOOKED)
        if self.visit_after_last_day:
            reasons.append(AtRiskReason.ASSESSMENT_AFTER_LAST_DAY)
        if self.document is None:
            reasons.append(AtRiskReason.NO_DRAFT)
        return tuple(reasons)

    def is_at_risk(self, today: date, at_risk_days: int) -> bool:
        """In the last ``at_risk_days`` with work missing, or at any time once the visit is
        booked after the last day: the breach is then certain unless someone acts."""
        due = self.due_on
        if not self.is_open or due is None:
            return False
        left = clock.days_remaining(due, today)
        if left < 0:
            return False
        return self.visit_after_last_day or (left <= at_risk_days and bool(self.at_risk_reasons()))

    def withdraw(self, withdrawn_on: date, reason: str) -> None:
        """The LA withdrew its request: no advice is due, and its appointments are cancelled
        (by scheduling, on the event). Advice already submitted stays submitted; withdrawing
        again changes nothing."""
        if self.status is AdviceStatus.WITHDRAWN:
            return
        if self.status is AdviceStatus.SUBMITTED:
            raise Conflict("the advice was submitted before the request was withdrawn")
        self.status = AdviceStatus.WITHDRAWN
        self.withdrawn_on, self.withdrawal_reason = withdrawn_on, reason
        self.events.append(
            AdviceWithdrawn(
                advice_id=self.advice_id,
                request_id=self.request_id,
                withdrawn_on=withdrawn_on,
                reason=reason[:500],
            )
        )

    def watch(self, today: date, policy: LaPolicy) -> None:
        """Raise a breach once per missed last day, else an at-risk event once per last day."""
        due = self.due_on
        if not self.is_open or due is None:
            return
        if today > due:
            if self.breach_raised_for != due:
                self.breach_raised_for = due
                self.events.append(
                    AdviceDeadlineBreached(
                        advice_id=self.advice_id, ep_id=self.ep_id, due_on=due, detected_on=today
                    )
                )
            return
        if self.is_at_risk(today, policy.at_risk_days) and self.at_risk_raised_for != due:
            self.at_risk_raised_for = due
            self.events.append(
                AdviceAtRisk(
                    advice_id=self.advice_id,
                    ep_id=self.ep_id,
                    due_on=due,
                    days_remaining=clock.days_remaining(due, today),
                    reasons=self.at_risk_reasons(),
                )
            )
