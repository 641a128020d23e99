"""Service-layer handlers of the consent service: each takes a command and the unit of work,
loads through its repositories, asks the domain, and saves. The unit of work publishes what the
cases recorded when it commits."""

from __future__ import annotations

import uuid
from datetime import date

from eps_chassis.errors import NotFound
from eps_chassis.london import london_date

from eps_consent.domain.commands import (
    CloseConsentCase,
    OpenConsentCase,
    ReassessConsent,
    RecordCapacityAssessment,
    RecordConsentDecision,
    SetConsentPolicy,
)
from eps_consent.domain.model import ConsentCase
from eps_consent.domain.rules import ConsentPolicy
from eps_consent.service_layer.unit_of_work import ConsentUnitOfWork


def _today(uow: ConsentUnitOfWork) -> date:
    return london_date(uow.clock())


async def _load(uow: ConsentUnitOfWork, referral_id: uuid.UUID) -> ConsentCase:
    case = await uow.cases.get(referral_id)
    if case is None:
        raise NotFound("no consent case for this referral (yet)", field="referral_id")
    return case


async def open_consent_case(cmd: OpenConsentCase, uow: ConsentUnitOfWork) -> None:
    """A referral was received: its consent case opens (once, however often it is told)."""
    await uow.cases.add(ConsentCase.open(uow.tenant, cmd), cmd.received_on)


async def record_consent_decision(cmd: RecordConsentDecision, uow: ConsentUnitOfWork) -> None:
    case, today = await _load(uow, cmd.referral_id), _today(uow)
    case.record_decision(cmd, await uow.policies.get(), today)
    await uow.cases.save(case, today)


async def record_capacity_assessment(cmd: RecordCapacityAssessment, uow: ConsentUnitOfWork) -> None:
    case, today = await _load(uow, cmd.referral_id), _today(uow)
    case.record_capacity_assessment(cmd, today)
    await uow.cases.save(case, today)


async def close_consent_case(cmd: CloseConsentCase, uow: ConsentUnitOfWork) -> None:
    """The referral's work finished. A referral never received here (a linked duplicate) has
    no case, and nothing to close."""
    case = await uow.cases.get(cmd.referral_id)
    if case is None:
        return
    case.close(cmd)
    await uow.cases.save(case, cmd.closed_on)


async def reassess_consent(cmd: ReassessConsent, uow: ConsentUnitOfWork) -> None:
    """Time passed: a grant may have expired, or the young person may now decide."""
    case = await uow.cases.get(cmd.referral_id)
    if case is None:
        return
    today = _today(uow)
    case.reassess(today)
    await uow.cases.save(case, today)


async def reassess_due_cases(uow: ConsentUnitOfWork) -> int:
    """The expiry job, for one local authority: every case whose status may have changed by
    today. Returns how many were looked at."""
    due = await uow.cases.due_for_reassessment(_today(uow))
    for referral_id in due:
        await reassess_consent(ReassessConsent(referral_id), uow)
    return len(due)


async def set_consent_policy(cmd: SetConsentPolicy, uow: ConsentUnitOfWork) -> ConsentPolicy:
    """Configuration, not code: applies to decisions recorded from now on."""
    policy = ConsentPolicy(cmd.looked_after_reconsent_months, cmd.default_reconsent_months)
    await uow.policies.set(policy)
    return policy
