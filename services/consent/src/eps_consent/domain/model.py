"""Consent cases: who must agree before any work on a referral starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from eps_contracts import Event
from eps_contracts.consent import ConsentCaseOpened

from eps_consent.domain.commands import OpenConsentCase


class ConsentState(StrEnum):
    AWAITING_DECISION = "awaiting_decision"


def consenters_for(cmd: OpenConsentCase) -> tuple[str, ...]:
    """Everyone with parental responsibility, and the social worker of a looked-after child."""
    people = list(cmd.parental_responsibility_holder_ids)
    if cmd.looked_after and cmd.social_worker_id and cmd.social_worker_id not in people:
        people.append(cmd.social_worker_id)
    return tuple(people)


@dataclass
class ConsentCase:
    referral_id: uuid.UUID
    tenant: str
    child_id: uuid.UUID
    consenters: tuple[str, ...]
    state: ConsentState
    events: list[Event] = field(default_factory=list)

    @classmethod
    def open(cls, tenant: str, cmd: OpenConsentCase) -> ConsentCase:
        case = cls(
            referral_id=cmd.referral_id,
            tenant=tenant,
            child_id=cmd.child_id,
            consenters=consenters_for(cmd),
            state=ConsentState.AWAITING_DECISION,
        )
        case.events.append(
            ConsentCaseOpened(
                referral_id=case.referral_id, child_id=case.child_id, consenters=case.consenters
            )
        )
        return case
