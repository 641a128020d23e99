"""The referral aggregate: a pure model that records the events it causes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from eps_chassis.errors import DomainError
from eps_contracts import Event
from eps_contracts.referrals import ReferralReceived

from eps_referrals.domain.commands import RegisterReferral

MAX_AGE_YEARS = 25  # EPS works with children and young people aged 0 to 25
CHILD_ID_NAMESPACE = uuid.UUID("6f1c3a52-93a4-4b0e-9a53-3f3f0b8e7d21")


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    AWAITING_CONSENT = "awaiting_consent"


def age_on(date_of_birth: date, on: date) -> int:
    """Completed years of age on a date (a 29 February birthday counts from 1 March)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def check_age(date_of_birth: date, requested_on: date) -> None:
    if date_of_birth > requested_on:
        raise DomainError("date of birth is after the request date", field="child.date_of_birth")
    age = age_on(date_of_birth, requested_on)
    if age > MAX_AGE_YEARS:
        raise DomainError(
            f"the child is {age} on the request date; the service works with ages 0 to "
            f"{MAX_AGE_YEARS}",
            field="child.date_of_birth",
        )


def child_id_for(tenant: str, cmd: RegisterReferral) -> uuid.UUID:
    """A stable pseudonymous id: by UPN when known, else by name and date of birth."""
    child = cmd.child
    natural = child.upn or (
        f"{child.given_name.strip().lower()}|{child.family_name.strip().lower()}|"
        f"{child.date_of_birth.isoformat()}"
    )
    return uuid.uuid5(CHILD_ID_NAMESPACE, f"{tenant}|{natural}")


@dataclass
class Referral:
    referral_id: uuid.UUID
    tenant: str
    request_id: uuid.UUID
    child_id: uuid.UUID
    status: ReferralStatus
    received_on: date
    request: RegisterReferral
    events: list[Event] = field(default_factory=list)

    @classmethod
    def receive(cls, tenant: str, cmd: RegisterReferral) -> Referral:
        check_age(cmd.child.date_of_birth, cmd.requested_on)
        referral = cls(
            referral_id=uuid.uuid4(),
            tenant=tenant,
            request_id=cmd.request_id,
            child_id=child_id_for(tenant, cmd),
            status=ReferralStatus.AWAITING_CONSENT,
            received_on=cmd.requested_on,
            request=cmd,
        )
        referral.events.append(
            ReferralReceived(
                referral_id=referral.referral_id,
                request_id=cmd.request_id,
                received_on=cmd.requested_on,
                requester_kind=cmd.requester.kind,
                school_urn=cmd.child.school_urn,
                child_id=referral.child_id,
                child_date_of_birth=cmd.child.date_of_birth,
                looked_after=cmd.child.looked_after,
                parental_responsibility_holder_ids=tuple(
                    h.person_id for h in cmd.child.parental_responsibility
                ),
                social_worker_id=cmd.child.social_worker_id,
                priority_groups=cmd.priority_groups,
            )
        )
        return referral
