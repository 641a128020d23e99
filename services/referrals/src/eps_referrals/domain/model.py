"""The referral aggregate: a pure state machine that records the events it causes.

    received -> awaiting_consent <-> awaiting_triage -> accepted | declined | redirected
    accepted -> consultation -> assessment -> joint_plan -> review -> closed
    (a stage may be skipped, never gone back to; any active stage <-> paused by consent)

Work starts and continues only with valid involvement consent: the referral waits for triage
only while consent holds, a casework stage starts only while it holds, and active casework is
paused when it stops holding (and resumed when it holds again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_contracts import Event
from eps_contracts.referrals import (
    CaseworkPaused,
    CaseworkResumed,
    CaseworkStage,
    CaseworkStageStarted,
    ChildForConsent,
    DuplicateReferralLinked,
    FeedbackRecord,
    RedirectDestination,
    ReferralAccepted,
    ReferralAwaitingConsent,
    ReferralAwaitingTriage,
    ReferralClosed,
    ReferralDeclined,
    ReferralReceived,
    ReferralRedirected,
    ReferralRouted,
)
from eps_contracts.sealed import Unsealed

from eps_referrals.domain.commands import RegisterReferral

CHILD_ID_NAMESPACE = uuid.UUID("6f1c3a52-93a4-4b0e-9a53-3f3f0b8e7d21")
REFERRAL_ID_NAMESPACE = uuid.UUID("0d3b8f5e-2c1a-4f7e-8b6d-5a9c4e1f2b37")


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    AWAITING_CONSENT = "awaiting_consent"
    AWAITING_TRIAGE = "awaiting_triage"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REDIRECTED = "redirected"
    CONSULTATION = "consultation"
    ASSESSMENT = "assessment"
    JOINT_PLAN = "joint_plan"
    REVIEW = "review"
    PAUSED = "paused"
    CLOSED = "closed"
    DUPLICATE = "duplicate"


STAGES = tuple(CaseworkStage)
ACTIVE = frozenset(ReferralStatus(s.value) for s in STAGES)
FINISHED = frozenset(
    {
        ReferralStatus.DECLINED,
        ReferralStatus.REDIRECTED,
        ReferralStatus.CLOSED,
        ReferralStatus.DUPLICATE,
    }
)


def child_id_for(tenant: str, cmd: RegisterReferral) -> uuid.UUID:
    """A stable pseudonymous id: by UPN when known, else by name and date of birth."""
    child = cmd.child
    natural = child.upn or (
        f"{child.given_name.strip().lower()}|{child.family_name.strip().lower()}|"
        f"{child.date_of_birth.isoformat()}"
    )
    return uuid.uuid5(CHILD_ID_NAMESPACE, f"{tenant}|{natural}")


def referral_id_for(tenant: str, request_id: uuid.UUID) -> uuid.UUID:
    """Derived from the request, so an event about a referral may arrive before the request."""
    return uuid.uuid5(REFERRAL_ID_NAMESPACE, f"{tenant}|{request_id}")


@dataclass(frozen=True, slots=True)
class ConsentView:
    """What referrals knows of consent (the consent service's latest published status)."""

    involvement: str
    valid: bool
    reason: str | None = None


NO_CONSENT_YET = ConsentView("awaiting", False, "no consent recorded yet")


@dataclass
class Referral:
    referral_id: uuid.UUID
    tenant: str
    request_id: uuid.UUID
    child_id: uuid.UUID
    status: ReferralStatus
    received_on: date
    request: RegisterReferral
    consent: ConsentView = NO_CONSENT_YET
    named_ep_id: str | None = None
    paused_stage: CaseworkStage | None = None
    duplicate_of: uuid.UUID | None = None
    feedback: FeedbackRecord | None = None
    events: list[Event] = field(default_factory=list)

    # -- arrival --------------------------------------------------------------------------

    @classmethod
    def _new(cls, tenant: str, cmd: RegisterReferral, status: ReferralStatus) -> Referral:
        return cls(
            referral_id=referral_id_for(tenant, cmd.request_id),
            tenant=tenant,
            request_id=cmd.request_id,
            child_id=child_id_for(tenant, cmd),
            status=status,
            received_on=cmd.requested_on,
            request=cmd,
        )

    @classmethod
    def receive(
        cls,
        tenant: str,
        cmd: RegisterReferral,
        *,
        named_ep_id: str | None = None,
        consent: ConsentView = NO_CONSENT_YET,
    ) -> Referral:
        """A valid request (see ``evidence.check_request``) becomes a referral awaiting consent.

        It is routed to the school's named EP at once, and consent already known (its event
        arrived first) applies at once.
        """
        referral = cls._new(tenant, cmd, ReferralStatus.AWAITING_CONSENT)
        referral.events.append(
            ReferralReceived(
                referral_id=referral.referral_id,
                request_id=cmd.request_id,
                received_on=cmd.requested_on,
                requester_kind=cmd.requester.kind,
                school_urn=cmd.child.school_urn,
                child_id=referral.child_id,
                child=Unsealed(  # sealed for the child when it is written to the outbox
                    ChildForConsent(
                        date_of_birth=cmd.child.date_of_birth,
                        looked_after=cmd.child.looked_after,
                    ),
                    referral.child_id,
                ),
                parental_responsibility_holder_ids=tuple(
                    h.person_id for h in cmd.child.parental_responsibility
                ),
                social_worker_id=cmd.child.social_worker_id,
                priority_groups=cmd.priority_groups,
            )
        )
        referral.route_to(named_ep_id)
        referral.apply_consent(consent)
        return referral

    @classmethod
    def link_duplicate(cls, tenant: str, cmd: RegisterReferral, of: uuid.UUID) -> Referral:
        """The same requester asked again about a child with an open referral: link, not double."""
        referral = cls._new(tenant, cmd, ReferralStatus.DUPLICATE)
        referral.duplicate_of = of
        referral.events.append(
            DuplicateReferralLinked(referral_id=referral.referral_id, duplicate_of=of)
        )
        return referral

    @property
    def is_open(self) -> bool:
        return self.status not in FINISHED

    @property
    def requester_id(self) -> str:
        return self.request.requester.person_id

    # -- routing and consent (from events) --------------------------------------------------

    def route_to(self, named_ep_id: str | None) -> None:
        """Route to the school's named EP; None is the visible state 'no named EP yet'."""
        if not self.is_open:
            return
        self.named_ep_id = named_ep_id
        self.events.append(
            ReferralRouted(
                referral_id=self.referral_id,
                school_urn=self.request.child.school_urn,
                named_ep_id=named_ep_id,
            )
        )

    def apply_consent(self, consent: ConsentView) -> None:
        self.consent = consent
        reason = consent.reason or f"involvement consent {consent.involvement}"
        if self.status is ReferralStatus.AWAITING_CONSENT and consent.valid:
            self.status = ReferralStatus.AWAITING_TRIAGE
            self.events.append(
                ReferralAwaitingTriage(referral_id=self.referral_id, named_ep_id=self.named_ep_id)
            )
        elif self.status is ReferralStatus.AWAITING_TRIAGE and not consent.valid:
            self.status = ReferralStatus.AWAITING_CONSENT
            self.events.append(ReferralAwaitingConsent(referral_id=self.referral_id, reason=reason))
        elif self.status in ACTIVE and not consent.valid:
            stage = CaseworkStage(self.status.value)
            self.paused_stage, self.status = stage, ReferralStatus.PAUSED
            self.events.append(
                CaseworkPaused(referral_id=self.referral_id, stage=stage, reason=reason[:500])
            )
        elif self.status is ReferralStatus.PAUSED and consent.valid:
            assert self.paused_stage is not None
            stage, self.paused_stage = self.paused_stage, None
            self.status = ReferralStatus(stage.value)
            self.events.append(CaseworkResumed(referral_id=self.referral_id, stage=stage))

    # -- triage ---------------------------------------------------------------------------

    def _require(self, allowed: set[ReferralStatus], doing: str) -> None:
        if self.status not in allowed:
            expected = " or ".join(sorted(allowed))
            raise Conflict(
                f"cannot {doing} a referral that is {self.status}; it must be {expected}"
            )

    def _require_consent(self, doing: str) -> None:
        if not self.consent.valid:
            raise Conflict(
                f"cannot {doing} without valid involvement consent "
                f"(consent is {self.consent.involvement})"
            )

    def check_triager(self, ep_id: str, *, senior: bool) -> None:
        """The school's named EP triages; a senior or principal EP may triage any referral."""
        if senior:
            return
        if self.named_ep_id is None:
            raise Forbidden("the school has no named EP yet: a senior EP triages this referral")
        if ep_id != self.named_ep_id:
            raise Forbidden("only the school's named EP or a senior EP triages this referral")

    def accept(self, ep_id: str) -> None:
        self._require({ReferralStatus.AWAITING_TRIAGE}, "accept")
        self._require_consent("accept")
        self.status = ReferralStatus.ACCEPTED
        self.events.append(ReferralAccepted(referral_id=self.referral_id, ep_id=ep_id))

    def decline(self, reason: str) -> None:
        self._require({ReferralStatus.AWAITING_CONSENT, ReferralStatus.AWAITING_TRIAGE}, "decline")
        self.status = ReferralStatus.DECLINED
        self.events.append(ReferralDeclined(referral_id=self.referral_id, reason=reason))

    def redirect(
        self, destination: RedirectDestination, reason: str, service_name: str | None
    ) -> None:
        self._require({ReferralStatus.AWAITING_TRIAGE}, "redirect")
        if destination is RedirectDestination.ANOTHER_SERVICE and not service_name:
            raise Conflict("a redirection to another service names the service")
        self.status = ReferralStatus.REDIRECTED
        self.events.append(
            ReferralRedirected(
                referral_id=self.referral_id,
                destination=destination,
                service_name=service_name,
                reason=reason,
            )
        )

    # -- casework -------------------------------------------------------------------------

    def start_stage(self, stage: CaseworkStage, skip_reason: str | None = None) -> None:
        """Move casework on to ``stage``, never back. Stages follow their order (consultation,
        assessment, joint plan, review); moving past one needs the EP's reason, recorded with
        the stages skipped."""
        if self.status is ReferralStatus.PAUSED:
            raise Conflict(
                "casework is paused until involvement consent is valid again "
                f"(consent is {self.consent.involvement})"
            )
        self._require({ReferralStatus.ACCEPTED, *ACTIVE}, f"start {stage} on")
        current = STAGES.index(CaseworkStage(self.status.value)) if self.status in ACTIVE else -1
        if STAGES.index(stage) <= current:
            raise Conflict(f"casework is already at {self.status}; it cannot go to {stage}")
        skipped = STAGES[current + 1 : STAGES.index(stage)]
        reason = (skip_reason or "").strip() or None
        if skipped and reason is None:
            names = ", ".join(str(s) for s in skipped)
            raise DomainError(
                f"going to {stage} skips {names}: record why it is not needed",
                field="skip_reason",
            )
        self._require_consent(f"start {stage}")
        self.status = ReferralStatus(stage.value)
        self.events.append(
            CaseworkStageStarted(
                referral_id=self.referral_id,
                stage=stage,
                skipped=skipped,
                skip_reason=reason if skipped else None,
            )
        )

    def close(self, feedback: FeedbackRecord, closed_on: date) -> None:
        """Close with the written feedback record (also possible while paused: work stops)."""
        self._require({*ACTIVE, ReferralStatus.PAUSED}, "close")
        self.status = ReferralStatus.CLOSED
        self.paused_stage = None
        self.feedback = feedback
        self.events.append(
            ReferralClosed(
                referral_id=self.referral_id,
                closed_on=closed_on,
                feedback_sent_to=tuple(dict.fromkeys(r.kind for r in feedback.sent_to)),
            )
        )
