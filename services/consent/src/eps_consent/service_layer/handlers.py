"""Service-layer handlers of the consent service: load, call the domain, save, publish."""

from __future__ import annotations

import uuid
from datetime import date

from eps_chassis.context import MessageContext
from eps_chassis.errors import NotFound
from eps_chassis.jobs import JobContext
from eps_chassis.unit_of_work import UnitOfWork

from eps_consent.adapters.repository import ConsentCaseRepository
from eps_consent.domain.commands import (
    CloseConsentCase,
    OpenConsentCase,
    ReassessConsent,
    RecordCapacityAssessment,
    RecordConsentDecision,
    SetConsentPolicy,
)
from eps_consent.domain.model import ConsentCase
from eps_consent.domain.rules import ConsentPolicy, london_date


def _publish_all(case: ConsentCase, uow: UnitOfWork) -> None:
    for event in case.events:
        uow.publish(event)
    case.events.clear()


async def open_consent_case(cmd: OpenConsentCase, uow: UnitOfWork) -> None:
    case = ConsentCase.open(uow.tenant, cmd)
    if await ConsentCaseRepository(uow.conn).add(case, cmd.received_on):
        _publish_all(case, uow)


async def _load(repo: ConsentCaseRepository, tenant: str, referral_id: uuid.UUID) -> ConsentCase:
    case = await repo.get(tenant, referral_id)
    if case is None:
        raise NotFound("no consent case for this referral (yet)")
    return case


async def record_consent_decision(cmd: RecordConsentDecision, uow: UnitOfWork, on: date) -> None:
    repo = ConsentCaseRepository(uow.conn)
    case = await _load(repo, uow.tenant, cmd.referral_id)
    case.record_decision(cmd, await repo.policy(uow.tenant), on)
    await repo.save(case, on)
    _publish_all(case, uow)


async def record_capacity_assessment(
    cmd: RecordCapacityAssessment, uow: UnitOfWork, on: date
) -> None:
    repo = ConsentCaseRepository(uow.conn)
    case = await _load(repo, uow.tenant, cmd.referral_id)
    case.record_capacity_assessment(cmd, on)
    await repo.save(case, on)
    _publish_all(case, uow)


async def close_consent_case(cmd: CloseConsentCase, uow: UnitOfWork) -> None:
    """The referral's work finished. A referral never received here (a linked duplicate) has
    no case, and nothing to close."""
    repo = ConsentCaseRepository(uow.conn)
    case = await repo.get(uow.tenant, cmd.referral_id)
    if case is None:
        return
    case.close(cmd)
    await repo.save(case, cmd.closed_on)
    _publish_all(case, uow)


async def reassess_consent(cmd: ReassessConsent, uow: UnitOfWork, on: date) -> None:
    repo = ConsentCaseRepository(uow.conn)
    case = await repo.get(uow.tenant, cmd.referral_id)
    if case is None:
        return
    case.reassess(on)
    await repo.save(case, on)
    _publish_all(case, uow)


async def set_consent_policy(cmd: SetConsentPolicy, uow: UnitOfWork) -> ConsentPolicy:
    """Configuration, not code: applies to decisions recorded from now on."""
    policy = ConsentPolicy(cmd.looked_after_reconsent_months, cmd.default_reconsent_months)
    await ConsentCaseRepository(uow.conn).set_policy(uow.tenant, policy)
    return policy


async def reassess_due_cases(context: JobContext) -> None:
    """The expiry job: every case whose status may have changed by today, in every tenant."""
    today = london_date(context.clock())
    async with context.uow.pool.acquire() as conn:
        due = await ConsentCaseRepository(conn).due_for_reassessment(today)
    for tenant, referral_id in due:
        async with context.uow(MessageContext(tenant=tenant, actor=context.actor)) as uow:
            await reassess_consent(ReassessConsent(referral_id), uow, today)
