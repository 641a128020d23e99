"""The critical-incident aggregate: a pure model that records the events it causes.

Lifecycle: reported -> acknowledged -> EPs allocated -> first contact made -> visit(s) done ->
follow-up planned -> closed. Scheduling's allocation may arrive before anyone acknowledges (the
fast track is asked for at once); it is recorded then and the status catches up on
acknowledgement. Level 1 (a telephone consultation) needs no visit: its follow-up can be
planned straight after the first contact.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_contracts import Event
from eps_contracts.incidents import (
    FastTrackAllocationRequested,
    IncidentAcknowledged,
    IncidentClosed,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentFirstContactMade,
    IncidentFollowUpPlanned,
    IncidentReport,
    IncidentReported,
    IncidentResponseTargetBreached,
    IncidentVisitRecorded,
    ResponseClock,
)
from eps_contracts.scheduling import AllocatedEp

from eps_incidents.domain.policy import LONDON, IncidentPolicy, LevelTargets, Target
from eps_incidents.domain.rota import Rota, RotaPosition


class IncidentStatus(StrEnum):
    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    EPS_ALLOCATED = "eps_allocated"
    FIRST_CONTACT_MADE = "first_contact_made"
    VISITS_DONE = "visits_done"
    FOLLOW_UP_PLANNED = "follow_up_planned"
    CLOSED = "closed"


class ClockState(StrEnum):
    RUNNING = "running"  # not done, not yet due
    OVERDUE = "overdue"  # not done, past due
    MET = "met"
    MISSED = "missed"  # done, but after the target


@dataclass(frozen=True, slots=True)
class Escalation:
    at: datetime
    from_person: str | None
    to_person: str
    reason: str


@dataclass(frozen=True, slots=True)
class Visit:
    at: datetime
    ep_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FollowUp:
    review_on: date
    plan: str


@dataclass(frozen=True, slots=True)
class ClockReading:
    clock: ResponseClock
    due_at: datetime
    done_at: datetime | None
    state: ClockState
    elapsed: timedelta  # from the report to done (or to now, while not done)


@dataclass
class Incident:
    incident_id: uuid.UUID
    tenant: str
    report: IncidentReport
    reported_at: datetime
    targets: LevelTargets
    acknowledge_within: timedelta
    chain: tuple[str, ...]  # who must acknowledge, in turn
    status: IncidentStatus = IncidentStatus.REPORTED
    chain_position: int = 0
    assigned_at: datetime | None = None
    escalations: list[Escalation] = field(default_factory=list)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    allocated_eps: tuple[AllocatedEp, ...] = ()
    shortfall: int = 0
    shortfall_reason: str | None = None
    answered_at: datetime | None = None  # scheduling's latest answer (even one with nobody)
    allocated_at: datetime | None = None  # the first answer with EPs (the allocation clock)
    first_contact_at: datetime | None = None
    visits: list[Visit] = field(default_factory=list)
    follow_up: FollowUp | None = None
    closed_at: datetime | None = None
    summary: str | None = None
    breaches: set[ResponseClock] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)

    # --- report -------------------------------------------------------------------------

    @classmethod
    def report_new(
        cls, tenant: str, report: IncidentReport, now: datetime, policy: IncidentPolicy, rota: Rota
    ) -> Incident:
        if report.occurred_at > now + timedelta(minutes=5):  # a little clock skew is tolerated
            raise DomainError(
                "the incident cannot have happened in the future", field="occurred_at"
            )
        targets = policy.targets_for(report.level)
        now = now.astimezone(UTC)
        incident = cls(
            incident_id=uuid.uuid4(),
            tenant=tenant,
            report=report,
            reported_at=now,
            targets=targets,
            acknowledge_within=policy.acknowledge_within,
            chain=rota.escalation_chain(now, policy.principal_ep_id),
            assigned_at=now,
        )
        first = incident.assigned_to
        if first is not None and first != rota.on_call(RotaPosition.PRIMARY, now):
            # nobody on call as coordinator: straight to the next person, and say so
            incident.escalations.append(Escalation(now, None, first, "no coordinator on call"))
        incident.events.append(
            IncidentReported(
                incident_id=incident.incident_id,
                at=now,
                school_urn=report.school_urn,
                kind=report.kind,
                level=report.level,
                occurred_at=report.occurred_at,
                pupils_affected=report.pupils_affected,
                staff_affected=report.staff_affected,
                assigned_to=incident.assigned_to,
            )
        )
        incident.events.append(
            FastTrackAllocationRequested(
                incident_id=incident.incident_id,
                school_urn=report.school_urn,
                level=report.level,
                eps_needed=targets.eps_needed,
                needed_by=incident.needed_by,
                duration_minutes=targets.response_minutes,
                senior_lead_required=targets.senior_lead_required,
            )
        )
        if incident.escalations:
            incident.events.append(
                IncidentEscalated(
                    incident_id=incident.incident_id,
                    at=now,
                    from_person=None,
                    to_person=incident.escalations[0].to_person,
                    reason=incident.escalations[0].reason,
                )
            )
        return incident

    @property
    def assigned_to(self) -> str | None:
        return self.chain[self.chain_position] if self.chain else None

    @property
    def needed_by(self) -> datetime:
        """When the EPs must start: the first visit for an on-site level, else first contact."""
        target = self.targets.first_visit or self.targets.first_contact
        return target.due(self.reported_at)

    @property
    def is_open(self) -> bool:
        return self.status != IncidentStatus.CLOSED

    # --- acknowledgement and escalation ----------------------------------------------------

    @property
    def escalation_due_at(self) -> datetime | None:
        """When the person now assigned must have acknowledged, if someone follows them."""
        if self.status != IncidentStatus.REPORTED or self.chain_position + 1 >= len(self.chain):
            return None
        assert self.assigned_at is not None
        return self.assigned_at + self.acknowledge_within

    def escalate_if_due(self, now: datetime) -> bool:
        """Hand the incident to the next person if the one assigned has not acknowledged."""
        due = self.escalation_due_at
        if due is None or now < due:
            return False
        minutes = int(self.acknowledge_within.total_seconds() // 60)
        escalation = Escalation(
            at=now,
            from_person=self.assigned_to,
            to_person=self.chain[self.chain_position + 1],
            reason=f"not acknowledged within {minutes} minutes",
        )
        self.chain_position += 1
        self.assigned_at = now
        self.escalations.append(escalation)
        self.events.append(
            IncidentEscalated(
                incident_id=self.incident_id,
                at=now,
                from_person=escalation.from_person,
                to_person=escalation.to_person,
                reason=escalation.reason,
            )
        )
        return True

    def acknowledge(self, by: str, now: datetime, *, may_act_for_anyone: bool) -> None:
        self._require(IncidentStatus.REPORTED, action="acknowledge")
        if by not in self.chain[: self.chain_position + 1] and not may_act_for_anyone:
            raise Forbidden(
                "only the coordinator on call, someone it has escalated to, or a principal or"
                " senior EP may acknowledge this incident"
            )
        self.acknowledged_at, self.acknowledged_by = now, by
        self.status = (
            IncidentStatus.EPS_ALLOCATED if self.allocated_eps else IncidentStatus.ACKNOWLEDGED
        )
        self.events.append(
            IncidentAcknowledged(incident_id=self.incident_id, at=now, acknowledged_by=by)
        )
        self.check_breaches(now)

    # --- allocation (from scheduling's fast track) ---------------------------------------

    def record_allocation(
        self,
        eps: tuple[AllocatedEp, ...],
        shortfall: int,
        allocated_at: datetime,
        shortfall_reason: str | None = None,
    ) -> bool:
        """Record who is going and when; the same answer twice changes nothing.

        An answer with nobody (no EP free in time, or a school scheduling does not know) is
        recorded too, with scheduling's reason, so the coordinator sees at once that EPs must
        be arranged by hand; the allocation clock keeps running.
        """
        if not self.is_open:
            raise Conflict("the incident is closed; an allocation can no longer be recorded")
        answer = (eps, shortfall, shortfall_reason)
        if self.answered_at is not None and answer == (
            self.allocated_eps,
            self.shortfall,
            self.shortfall_reason,
        ):
            return False
        self.allocated_eps, self.shortfall = eps, shortfall
        self.shortfall_reason, self.answered_at = shortfall_reason, allocated_at
        if eps and self.allocated_at is None:
            self.allocated_at = allocated_at
        if eps and self.status == IncidentStatus.ACKNOWLEDGED:
            self.status = IncidentStatus.EPS_ALLOCATED
        self.events.append(
            IncidentEpsAllocated(
                incident_id=self.incident_id,
                at=allocated_at,
                ep_ids=tuple(e.ep_id for e in eps),
                shortfall=shortfall,
                shortfall_reason=shortfall_reason,
            )
        )
        self.check_breaches(allocated_at)
        return True

    # --- the response ----------------------------------------------------------------------

    def record_first_contact(self, made_at: datetime, now: datetime) -> None:
        self._require(IncidentStatus.EPS_ALLOCATED, action="record a first contact")
        self._check_time(made_at, now, not_before=self.reported_at, name="made_at")
        self.first_contact_at = made_at
        self.status = IncidentStatus.FIRST_CONTACT_MADE
        self.events.append(IncidentFirstContactMade(incident_id=self.incident_id, at=made_at))
        self.check_breaches(now)

    def record_visit(self, visited_at: datetime, ep_ids: tuple[str, ...], now: datetime) -> None:
        self._require(
            IncidentStatus.FIRST_CONTACT_MADE, IncidentStatus.VISITS_DONE, action="record a visit"
        )
        assert self.first_contact_at is not None
        self._check_time(visited_at, now, not_before=self.first_contact_at, name="visited_at")
        if not ep_ids:
            raise DomainError("name the EPs who visited", field="ep_ids")
        self.visits.append(Visit(visited_at, ep_ids))
        self.status = IncidentStatus.VISITS_DONE
        self.events.append(
            IncidentVisitRecorded(incident_id=self.incident_id, at=visited_at, ep_ids=ep_ids)
        )
        self.check_breaches(now)

    def plan_follow_up(self, review_on: date, plan: str, now: datetime) -> None:
        allowed = [IncidentStatus.VISITS_DONE]
        if not self.targets.on_site:
            allowed.append(IncidentStatus.FIRST_CONTACT_MADE)  # a telephone response
        self._require(*allowed, action="plan the follow-up")
        if review_on < now.astimezone(LONDON).date():
            raise DomainError("the follow-up review cannot be in the past", field="review_on")
        if not plan.strip():
            raise DomainError("describe the follow-up plan", field="plan")
        self.follow_up = FollowUp(review_on, plan.strip())
        self.status = IncidentStatus.FOLLOW_UP_PLANNED
        self.events.append(
            IncidentFollowUpPlanned(incident_id=self.incident_id, at=now, review_on=review_on)
        )

    def close(self, summary: str, now: datetime) -> None:
        self._require(IncidentStatus.FOLLOW_UP_PLANNED, action="close")
        if not summary.strip():
            raise DomainError("closing an incident needs a summary", field="summary")
        self.summary, self.closed_at = summary.strip(), now
        self.status = IncidentStatus.CLOSED
        self.events.append(IncidentClosed(incident_id=self.incident_id, at=now))

    # --- response clocks -----------------------------------------------------------------

    def _clock_targets(self) -> list[tuple[ResponseClock, datetime, datetime | None]]:
        t = self.targets
        clocks: list[tuple[ResponseClock, Target | None, datetime | None]] = [
            (ResponseClock.ACKNOWLEDGE, Target(self.acknowledge_within), self.acknowledged_at),
            (ResponseClock.ALLOCATE, t.allocate, self.allocated_at),
            (ResponseClock.FIRST_CONTACT, t.first_contact, self.first_contact_at),
            (ResponseClock.FIRST_VISIT, t.first_visit, self.visits[0].at if self.visits else None),
        ]
        return [(c, target.due(self.reported_at), done) for c, target, done in clocks if target]

    def clocks(self, now: datetime) -> list[ClockReading]:
        readings = []
        for clock, due, done in self._clock_targets():
            if done is not None:
                state = ClockState.MET if done <= due else ClockState.MISSED
            else:
                state = ClockState.OVERDUE if now > due else ClockState.RUNNING
            readings.append(ClockReading(clock, due, done, state, (done or now) - self.reported_at))
        return readings

    @property
    def next_clock_due_at(self) -> datetime | None:
        """The earliest deadline not yet met nor reported as breached (for the watch job)."""
        if not self.is_open:
            return None
        pending = [
            due
            for clock, due, done in self._clock_targets()
            if done is None and clock not in self.breaches
        ]
        return min(pending, default=None)

    def check_breaches(self, now: datetime) -> list[ResponseClock]:
        """Record a breach event, once per clock, for each target passed or met late."""
        found = []
        for reading in self.clocks(now):
            if reading.clock in self.breaches:
                continue
            if reading.state in (ClockState.OVERDUE, ClockState.MISSED):
                self.breaches.add(reading.clock)
                found.append(reading.clock)
                self.events.append(
                    IncidentResponseTargetBreached(
                        incident_id=self.incident_id,
                        at=reading.done_at or now,
                        clock=reading.clock,
                        due_at=reading.due_at,
                    )
                )
        return found

    # --- helpers -----------------------------------------------------------------------

    def _require(self, *allowed: IncidentStatus, action: str) -> None:
        if self.status not in allowed:
            raise Conflict(
                f"cannot {action}: the incident is {self.status.value}"
                f" (needs {' or '.join(s.value for s in allowed)})"
            )

    @staticmethod
    def _check_time(at: datetime, now: datetime, *, not_before: datetime, name: str) -> None:
        if at > now:
            raise DomainError("cannot be in the future", field=name)
        if at < not_before:
            raise DomainError(
                f"cannot be before {not_before.isoformat()} (the previous step)", field=name
            )
