"""Consent cases: who agreed to what for a referral, and whether it still holds.

The case keeps every decision and capacity assessment; its status is derived on a date. A
:class:`ConsentStatusChanged` is recorded whenever the derived status differs from the last one
published, so that a withdrawal is published in the same transaction that records it and an
expiry as soon as the expiry job looks.

A case is closed when its referral's work finishes: from then on nobody is asked for consent
(no grants, no capacity assessments, no expiry by time), but a refusal or a withdrawal is still
recorded and published, since consent can be withdrawn at any time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from eps_chassis.errors import Conflict, DomainError
from eps_contracts import Event
from eps_contracts.consent import (
    CapacityAssessmentRecorded,
    ConsentCaseClosed,
    ConsentCaseOpened,
    ConsentDecisionKind,
    ConsentDecisionRecorded,
    ConsentScope,
    ConsentStatusChanged,
    InvolvementConsent,
)

from eps_consent.domain.commands import (
    CloseConsentCase,
    OpenConsentCase,
    RecordCapacityAssessment,
    RecordConsentDecision,
)
from eps_consent.domain.rules import (
    CapacityAssessment,
    ChildFacts,
    ConsentPolicy,
    end_of_compulsory_school_age,
    explain_who_may_consent,
    who_may_consent,
)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: uuid.UUID
    consenter_id: str
    scope: ConsentScope
    agency: str | None
    decision: ConsentDecisionKind
    method: str
    decided_on: date
    evidence_ref: str | None
    expires_on: date | None
    recorded_by: str

    def in_force(self, on: date) -> bool:
        return self.decision is ConsentDecisionKind.GRANTED and (
            self.expires_on is None or on < self.expires_on
        )


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    involvement: InvolvementConsent
    involvement_valid: bool
    valid_until: date | None
    sharing_agencies: tuple[str, ...]
    reason: str = field(default="", compare=False)


AWAITING = ConsentStatus(InvolvementConsent.AWAITING, False, None, ())

# When several consenters differ, the strongest answer wins: any objection stops the work.
_PRECEDENCE = (
    InvolvementConsent.REFUSED,
    InvolvementConsent.WITHDRAWN,
    InvolvementConsent.EXPIRED,
    InvolvementConsent.AWAITING,
)


def _state_of(latest: DecisionRecord | None, on: date) -> InvolvementConsent:
    if latest is None:
        return InvolvementConsent.AWAITING
    if latest.decision is ConsentDecisionKind.GRANTED:
        return InvolvementConsent.GRANTED if latest.in_force(on) else InvolvementConsent.EXPIRED
    return InvolvementConsent(str(latest.decision))


@dataclass
class ConsentCase:
    referral_id: uuid.UUID
    tenant: str
    child: ChildFacts
    school_urn: str | None
    decisions: list[DecisionRecord] = field(default_factory=list)
    assessments: dict[ConsentScope, CapacityAssessment] = field(default_factory=dict)
    published: ConsentStatus = AWAITING
    closed_on: date | None = None
    closed_reason: str | None = None
    new_decisions: list[DecisionRecord] = field(default_factory=list)
    new_assessments: list[CapacityAssessment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @classmethod
    def open(cls, tenant: str, cmd: OpenConsentCase) -> ConsentCase:
        case = cls(
            referral_id=cmd.referral_id,
            tenant=tenant,
            child=ChildFacts(
                child_id=cmd.child_id,
                date_of_birth=cmd.child_date_of_birth,
                looked_after=cmd.looked_after,
                parental_responsibility=cmd.parental_responsibility_holder_ids,
                social_worker_id=cmd.social_worker_id,
            ),
            school_urn=cmd.school_urn,
        )
        case.events.append(
            ConsentCaseOpened(
                referral_id=case.referral_id,
                child_id=cmd.child_id,
                consenters=case.consenters(ConsentScope.INVOLVEMENT, cmd.received_on),
            )
        )
        return case

    @property
    def is_closed(self) -> bool:
        return self.closed_on is not None

    def close(self, cmd: CloseConsentCase) -> None:
        """The referral's work finished; closing again (a redelivered event) changes nothing."""
        if self.is_closed:
            return
        self.closed_on, self.closed_reason = cmd.closed_on, cmd.reason
        self.events.append(
            ConsentCaseClosed(
                referral_id=self.referral_id, closed_on=cmd.closed_on, reason=cmd.reason[:500]
            )
        )

    def _refuse_if_closed(self, doing: str) -> None:
        if self.closed_on is not None:
            raise Conflict(
                f"cannot {doing}: the referral's work finished on {self.closed_on.isoformat()}"
                f" ({self.closed_reason}); only a refusal or withdrawal is still recorded"
            )

    def consenters(self, scope: ConsentScope, on: date) -> tuple[str, ...]:
        return who_may_consent(self.child, scope, on, self.assessments)

    # -- commands -------------------------------------------------------------------------

    def record_decision(self, cmd: RecordConsentDecision, policy: ConsentPolicy, on: date) -> None:
        """Record one person's decision made on ``cmd.decided_on``; ``on`` is today."""
        _check_decision_fields(cmd, on)
        if cmd.decision is ConsentDecisionKind.GRANTED:
            self._refuse_if_closed("record a grant")
        allowed = self.consenters(cmd.scope, cmd.decided_on)
        if cmd.consenter_id not in allowed:
            raise DomainError(
                f"{cmd.consenter_id} may not consent to {cmd.scope} for this child: "
                + explain_who_may_consent(self.child, cmd.scope, cmd.decided_on),
                field="consenter_id",
            )
        if cmd.decision is ConsentDecisionKind.WITHDRAWN:
            previous = self._latest(cmd.consenter_id, cmd.scope, cmd.agency)
            if previous is None or previous.decision is not ConsentDecisionKind.GRANTED:
                raise Conflict(
                    f"{cmd.consenter_id} has no grant of {cmd.scope} to withdraw; "
                    "record a refusal instead"
                )
        expires_on = cmd.expires_on
        if cmd.decision is ConsentDecisionKind.GRANTED and expires_on is None:
            expires_on = policy.default_expiry(cmd.decided_on, self.child.looked_after)
        record = DecisionRecord(
            decision_id=uuid.uuid4(),
            consenter_id=cmd.consenter_id,
            scope=cmd.scope,
            agency=cmd.agency,
            decision=cmd.decision,
            method=str(cmd.method),
            decided_on=cmd.decided_on,
            evidence_ref=cmd.evidence_ref,
            expires_on=expires_on if cmd.decision is ConsentDecisionKind.GRANTED else None,
            recorded_by=cmd.recorded_by,
        )
        self.decisions.append(record)
        self.new_decisions.append(record)
        self.events.append(
            ConsentDecisionRecorded(
                referral_id=self.referral_id,
                decision_id=record.decision_id,
                consenter_id=record.consenter_id,
                scope=record.scope,
                agency=record.agency,
                decision=record.decision,
                method=cmd.method,
                decided_on=record.decided_on,
                expires_on=record.expires_on,
            )
        )
        self.reassess(on)

    def record_capacity_assessment(self, cmd: RecordCapacityAssessment, on: date) -> None:
        self._refuse_if_closed("record a capacity assessment")
        if cmd.assessed_on > on:
            raise DomainError("the assessment date is in the future", field="assessed_on")
        if cmd.assessed_on < self.child.date_of_birth:
            raise DomainError("the assessment is before the child's birth", field="assessed_on")
        assessment = CapacityAssessment(
            scope=cmd.scope,
            has_capacity=cmd.has_capacity,
            assessed_on=cmd.assessed_on,
            assessor_id=cmd.assessor_id,
            evidence_ref=cmd.evidence_ref,
        )
        current = self.assessments.get(cmd.scope)
        if current is None or current.assessed_on <= assessment.assessed_on:
            self.assessments[cmd.scope] = assessment
        self.new_assessments.append(assessment)
        self.events.append(
            CapacityAssessmentRecorded(
                referral_id=self.referral_id,
                scope=cmd.scope,
                has_capacity=cmd.has_capacity,
                assessed_on=cmd.assessed_on,
            )
        )
        self.reassess(on)

    def reassess(self, on: date) -> None:
        """Publish the status on ``on`` if it differs from the one last published."""
        status = self.status(on)
        if status != self.published:
            self.published = status
            self.events.append(
                ConsentStatusChanged(
                    referral_id=self.referral_id,
                    child_id=self.child.child_id,
                    involvement=status.involvement,
                    involvement_valid=status.involvement_valid,
                    valid_until=status.valid_until,
                    sharing_agencies=status.sharing_agencies,
                    reason=status.reason[:500] or None,
                )
            )

    # -- queries --------------------------------------------------------------------------

    def _latest(
        self, person: str, scope: ConsentScope, agency: str | None
    ) -> DecisionRecord | None:
        for record in reversed(self.decisions):
            if (record.consenter_id, record.scope, record.agency) == (person, scope, agency):
                return record
        return None

    def _agreement(
        self, scope: ConsentScope, agency: str | None, on: date
    ) -> tuple[InvolvementConsent, date | None, str]:
        """Combined answer of everyone who must agree, the earliest re-consent date, and why."""
        people = self.consenters(scope, on)
        if not people:
            return InvolvementConsent.AWAITING, None, "nobody recorded who may consent"
        latest = {p: self._latest(p, scope, agency) for p in people}
        states = {p: _state_of(r, on) for p, r in latest.items()}
        for state in _PRECEDENCE:
            who = [p for p, s in states.items() if s is state]
            if who:
                return state, None, f"{state} ({', '.join(who)})"
        expiries = [r.expires_on for r in latest.values() if r is not None and r.expires_on]
        return InvolvementConsent.GRANTED, min(expiries, default=None), "granted by all"

    def status(self, on: date) -> ConsentStatus:
        state, valid_until, reason = self._agreement(ConsentScope.INVOLVEMENT, None, on)
        agencies = sorted(
            {
                r.agency
                for r in self.decisions
                if r.scope is ConsentScope.INFORMATION_SHARING and r.agency is not None
            }
        )
        sharing = tuple(
            a
            for a in agencies
            if self._agreement(ConsentScope.INFORMATION_SHARING, a, on)[0]
            is InvolvementConsent.GRANTED
        )
        return ConsentStatus(
            involvement=state,
            involvement_valid=state is InvolvementConsent.GRANTED,
            valid_until=valid_until,
            sharing_agencies=sharing,
            reason=reason,
        )

    def next_reassessment(self, on: date) -> date | None:
        """The first day after ``on`` on which the status may change by time alone (never,
        once the case is closed)."""
        if self.is_closed:
            return None
        candidates = [r.expires_on for r in self.decisions if r.expires_on and r.expires_on > on]
        young_person_from = end_of_compulsory_school_age(self.child.date_of_birth)
        if young_person_from >= on:
            candidates.append(date.fromordinal(young_person_from.toordinal() + 1))
        return min(candidates, default=None)


def _check_decision_fields(cmd: RecordConsentDecision, on: date) -> None:
    if cmd.decided_on > on:
        raise DomainError("a decision cannot be dated in the future", field="decided_on")
    if cmd.scope is ConsentScope.INFORMATION_SHARING and not cmd.agency:
        raise DomainError("information sharing consent names the agency", field="agency")
    if cmd.scope is ConsentScope.INVOLVEMENT and cmd.agency:
        raise DomainError("involvement consent is not given to an agency", field="agency")
    if cmd.decision is ConsentDecisionKind.GRANTED and not cmd.evidence_ref:
        raise DomainError("a grant records its evidence reference", field="evidence_ref")
    if cmd.expires_on is not None and cmd.decision is not ConsentDecisionKind.GRANTED:
        raise DomainError("only a grant has an expiry", field="expires_on")
    if cmd.expires_on is not None and cmd.expires_on <= cmd.decided_on:
        raise DomainError("the expiry must be after the decision date", field="expires_on")
