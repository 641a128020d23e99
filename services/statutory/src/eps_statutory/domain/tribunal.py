"""SEND Tribunal appeals: the tasks they give the advice's EP, with their dates."""

from __future__ import annotations

import uuid
from datetime import timedelta

from eps_chassis.errors import DomainError
from eps_contracts.statutory import TribunalTask, TribunalTaskKind

from eps_statutory.domain.commands import RegisterTribunalAppeal
from eps_statutory.domain.policy import LaPolicy


def tribunal_tasks(
    appeal: RegisterTribunalAppeal, ep_id: str | None, policy: LaPolicy
) -> tuple[TribunalTask, ...]:
    """Evidence (by the tribunal's date, else the LA's lead time before the hearing) and
    attendance at the hearing, both for the EP who wrote the advice."""
    if appeal.hearing_on < appeal.registered_on:
        raise DomainError("the hearing is before the appeal was registered", field="hearing_on")
    evidence_due = appeal.evidence_due_on or max(
        appeal.registered_on, appeal.hearing_on - timedelta(days=policy.tribunal_evidence_lead_days)
    )
    if evidence_due > appeal.hearing_on:
        raise DomainError("evidence is due after the hearing", field="evidence_due_on")
    if evidence_due < appeal.registered_on:
        raise DomainError(
            "evidence is due before the appeal was registered", field="evidence_due_on"
        )
    return (
        TribunalTask(
            task_id=uuid.uuid4(), kind=TribunalTaskKind.EVIDENCE, ep_id=ep_id, due_on=evidence_due
        ),
        TribunalTask(
            task_id=uuid.uuid4(),
            kind=TribunalTaskKind.ATTENDANCE,
            ep_id=ep_id,
            due_on=appeal.hearing_on,
        ),
    )
