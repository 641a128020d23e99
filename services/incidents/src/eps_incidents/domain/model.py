"""The critical-incident aggregate: a pure model that records the events it causes.

Lifecycle: reported -> acknowledged -> EPs allocated -> first contact made -> visit(s) done ->
follow-up planned -> closed. Scheduling's allocation may arrive before anyone acknowledges (the
fast track is asked for at once); it is recorded then and the status catches up on
acknowledgement. Level 1 (a telephone consultation) needs no visit: its follow-up can be
planned straight after the first contact.

Scheduling may answer with fewer EPs than the level needs (or none). The coordinator can then
ask again for the EPs still missing (a new attempt, leaving out the EPs already going); each
answer adds its EPs to those already going, once per attempt. And the response never waits on
scheduling: once acknowledged, the first contact can be recorded even with no EP allocated (the
coordinator, or an EP arranged by hand, made it), and the rest of the lifecycle follows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_chassis.london import london_date
from eps_contracts import Event
from eps_contracts.incidents import (
    ClockDue,
    EpGoing,
    FastTrackAllocationRequested,
    IncidentAcknowledged,
    IncidentClosed,
    IncidentEpsAllocated,
    IncidentEscalated,
    IncidentFirstContactMade,
    IncidentFollowUpPlanned,
    IncidentLeftUnassigned,
    IncidentReport,
    IncidentReported,
    IncidentResponseTargetBreached,
    IncidentVisitRecorded,
    ResponseClock,
)
from eps_contracts.scheduling import AllocatedEp

from eps_incidents.domain.policy import IncidentPolicy, LevelTargets, Target
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
    principal_ep_id: str | None = None  # the LA's principal EP when reported (told of breaches)
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
    fast_track_attempt: int = 1  # the latest request for EPs sent to scheduling
    answered_attempts: set[int] = field(default_factory=set)  # the requests scheduling answered
    first_contact_at: datetime | None = None
    first_contact_by: str | None = None
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
            principal_ep_id=policy.principal_ep_id,
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
                due=tuple(ClockDue(clock=c, due_at=due) for c, due, _ in incident._clock_targets()),
            )
        )
        incident.events.append(incident._fast_track_request(now))
        if not incident.chain:
            incident.events.append(
                IncidentLeftUnassigned(
                    incident_id=incident.incident_id,
                    at=now,
                    reason="nobody on call and no principal EP configured",
                    principal_ep_id=incident.principal_ep_id,
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

    @property
    def eps_missing(self) -> int:
        """EPs the level needs that are not yet allocated."""
        return max(0, self.targets.eps_needed - len(self.allocated_eps))

    @property
    def awaiting_answer(self) -> bool:
        """The latest request for EPs has not been answered by scheduling yet."""
        return self.fast_track_attempt not in self.answered_attempts

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
        self._escalate(now, f"not acknowledged within {minutes} minutes")
        return True

    def escalate_unreachable(self, person: str, now: datetime, reason: str) -> bool:
        """Hand the incident to the next person at once when the one it waits on could not be
        told (every page to them failed for good): waiting out their timeout helps nobody.

        Nothing changes when the incident no longer waits on that person (acknowledged,
        already escalated past them) or nobody follows them on the chain."""
        if self.escalation_due_at is None or self.assigned_to != person:
            return False
        self._escalate(now, f"could not be reached: {reason}"[:200])
        return True

    def _escalate(self, now: datetime, reason: str) -> None:
        escalation = Escalation(
            at=now,
            from_person=self.assigned_to,
            to_person=self.chain[self.chain_position + 1],
            reason=reason,
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

    def acknowledge(self, by: str, now: datetime, *, may_act_for_anyone: bool) -> None:
        self._require(IncidentStatus.REPORTED, action="acknowledge")
        assigned = self.chain[: self.chain_position + 1]
        if assigned and by not in assigned and not may_act_for_anyone:  # unassigned: anyone
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

    def request_more_eps(self, now: datetime) -> FastTrackAllocationRequested:
        """Ask scheduling again for the EPs the level still needs (a new attempt).

        Refused when the incident is closed, when nothing is missing, and while the latest
        request is unanswered (two requests in flight could send more EPs than needed). The EPs
        already going are excluded, so none is booked twice. The EPs must start by the original
        deadline while it is ahead; once it has passed, by the same target counted from now.
        """
        if not self.is_open:
            raise Conflict("cannot ask for more EPs: the incident is closed")
        if self.eps_missing == 0:
            raise Conflict(
                "cannot ask for more EPs: none is missing"
                f" ({len(self.allocated_eps)} of {self.targets.eps_needed} allocated)"
            )
        if self.awaiting_answer:
            raise Conflict(
                f"cannot ask for more EPs: scheduling has not yet answered request"
                f" {self.fast_track_attempt}; ask again once it has"
            )
        self.fast_track_attempt += 1
        request = self._fast_track_request(now)
        self.events.append(request)
        return request

    def _fast_track_request(self, now: datetime) -> FastTrackAllocationRequested:
        needed_by = self.needed_by
        if needed_by <= now:  # the deadline has passed: the same window again, from now
            target = self.targets.first_visit or self.targets.first_contact
            needed_by = target.due(now)
        return FastTrackAllocationRequested(
            incident_id=self.incident_id,
            school_urn=self.report.school_urn,
            level=self.report.level,
            eps_needed=self.eps_missing,
            needed_by=needed_by,
            duration_minutes=self.targets.response_minutes,
            senior_lead_required=self.targets.senior_lead_required,
            attempt=self.fast_track_attempt,
            exclude_ep_ids=tuple(e.ep_id for e in self.allocated_eps),
        )

    def record_allocation(
        self,
        eps: tuple[AllocatedEp, ...],
        shortfall: int,
        allocated_at: datetime,
        shortfall_reason: str | None = None,
        attempt: int = 1,
    ) -> bool:
        """Add scheduling's answer to a request to who is going; each answer counts once.

        An answer with nobody (no EP free in time, or a school scheduling does not know) is
        recorded too, with scheduling's reason, so the coordinator sees at once that EPs must
        be arranged by hand (or asked for again); the allocation clock keeps running. The EPs of
        a later attempt join those already going (an EP already going is not added twice); the
        shortfall is then what the level still lacks.
        """
        if not self.is_open:
            raise Conflict("the incident is closed; an allocation can no longer be recorded")
        if attempt in self.answered_attempts:
            return False  # redelivered: already counted
        going = {e.ep_id for e in self.allocated_eps}
        added: list[AllocatedEp] = []
        for ep in eps:
            if ep.ep_id not in going:
                going.add(ep.ep_id)
                added.append(ep)
        self.allocated_eps += tuple(added)
        self.answered_attempts.add(attempt)
        self.fast_track_attempt = max(self.fast_track_attempt, attempt)
        # the first answer's shortfall is scheduling's; after that, what the level still lacks
        self.shortfall = shortfall if attempt == 1 else self.eps_missing
        if shortfall_reason and attempt > 1:
            shortfall_reason = f"request {attempt}: {shortfall_reason}"[:500]
        self.shortfall_reason, self.answered_at = shortfall_reason, allocated_at
        if self.allocated_eps and self.allocated_at is None:
            self.allocated_at = allocated_at
        if self.allocated_eps and self.status == IncidentStatus.ACKNOWLEDGED:
            self.status = IncidentStatus.EPS_ALLOCATED
        self.events.append(
            IncidentEpsAllocated(
                incident_id=self.incident_id,
                at=allocated_at,
                ep_ids=tuple(e.ep_id for e in self.allocated_eps),
                eps_going=tuple(
                    EpGoing(ep_id=e.ep_id, starts_at=e.starts_at) for e in self.allocated_eps
                ),
                shortfall=self.shortfall,
                shortfall_reason=self.shortfall_reason,
            )
        )
        self.check_breaches(allocated_at)
        return True

    # --- the response ----------------------------------------------------------------------

    def record_first_contact(
        self,
        made_at: datetime,
        now: datetime,
        made_by: str | None = None,
        recorded_by: str | None = None,
    ) -> None:
        """The first contact with the school's leaders, by an allocated EP or anyone else.

        Once acknowledged it may be recorded with no EP allocated (scheduling found nobody, or
        has not answered): the coordinator, or an EP arranged by hand, made it. A school in
        crisis is never left waiting on the allocation. Who made it is ``made_by``; when not
        said and no EP is allocated, it was whoever records it (the coordinator who phoned).
        """
        self._require(
            IncidentStatus.ACKNOWLEDGED,
            IncidentStatus.EPS_ALLOCATED,
            action="record a first contact",
        )
        self._check_time(made_at, now, not_before=self.reported_at, name="made_at")
        if made_by is None and not self.allocated_eps:
            made_by = recorded_by
        self.first_contact_at, self.first_contact_by = made_at, made_by
        self.status = IncidentStatus.FIRST_CONTACT_MADE
        self.events.append(
            IncidentFirstContactMade(incident_id=self.incident_id, at=made_at, made_by=made_by)
        )
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
        if review_on < london_date(now):
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
                        principal_ep_id=self.principal_ep_id,
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
