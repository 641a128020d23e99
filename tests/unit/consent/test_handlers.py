"""The consent service's handlers against a fake unit of work: no broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from eps_chassis.errors import NotFound
from eps_consent.domain.commands import CloseConsentCase, SetConsentPolicy
from eps_consent.service_layer import handlers
from eps_contracts.consent import (
    ConsentCaseClosed,
    ConsentCaseOpened,
    ConsentDecisionKind,
    ConsentStatusChanged,
    InvolvementConsent,
)

from tests.support.builders import consent as builders
from tests.support.clock import FakeClock
from tests.support.fakes.consent import FakeConsentUnitOfWork

MORNING = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def uow_at(moment: datetime = MORNING) -> FakeConsentUnitOfWork:
    return FakeConsentUnitOfWork(clock=FakeClock(moment))


async def test_a_received_referral_opens_its_case_once() -> None:
    uow, opened = uow_at(), builders.open_case()
    await handlers.open_consent_case(opened, uow)
    await handlers.open_consent_case(opened, uow)  # told twice
    assert [type(e) for e in uow.events_of(ConsentCaseOpened)] == [ConsentCaseOpened]
    assert list(uow.cases.cases) == [opened.referral_id]


async def test_consent_is_valid_once_both_holders_granted_and_published_as_it_changes() -> None:
    uow, opened = uow_at(), builders.open_case()
    await handlers.open_consent_case(opened, uow)
    uow.commit()
    for holder in ("p-1", "p-2"):
        await handlers.record_consent_decision(builders.decision(opened.referral_id, holder), uow)
    [status] = uow.events_of(ConsentStatusChanged)
    assert isinstance(status, ConsentStatusChanged)
    assert status.involvement is InvolvementConsent.GRANTED and status.involvement_valid


async def test_a_decision_for_a_referral_without_a_case_is_refused_naming_it() -> None:
    uow = uow_at()
    with pytest.raises(NotFound) as refused:
        await handlers.record_consent_decision(builders.decision(uuid.uuid4(), "p-1"), uow)
    assert refused.value.field == "referral_id"
    assert uow.events_of(ConsentStatusChanged) == []


async def test_the_expiry_job_finds_a_grant_past_its_date_by_the_units_clock() -> None:
    clock = FakeClock(MORNING)
    uow, opened = FakeConsentUnitOfWork(clock=clock), builders.open_case()
    await handlers.open_consent_case(opened, uow)
    for holder in ("p-1", "p-2"):
        grant = builders.decision(opened.referral_id, holder, expires_on=date(2026, 12, 1))
        await handlers.record_consent_decision(grant, uow)
    uow.commit()
    assert await handlers.reassess_due_cases(uow) == 0  # nothing due yet
    clock.now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 00:30 GMT on the expiry day
    assert await handlers.reassess_due_cases(uow) == 1
    *_granted, expired = uow.events_of(ConsentStatusChanged)
    assert isinstance(expired, ConsentStatusChanged)
    assert expired.involvement is InvolvementConsent.EXPIRED and not expired.involvement_valid


async def test_the_las_policy_sets_how_long_a_grant_without_a_date_lasts() -> None:
    uow, opened = uow_at(), builders.open_case()
    policy = await handlers.set_consent_policy(SetConsentPolicy(24, 12), uow)
    assert await uow.policies.get() == policy
    await handlers.open_consent_case(opened, uow)
    for holder in ("p-1", "p-2"):
        await handlers.record_consent_decision(builders.decision(opened.referral_id, holder), uow)
    [status] = uow.events_of(ConsentStatusChanged)
    assert isinstance(status, ConsentStatusChanged)
    assert status.valid_until == date(2027, 11, 2)


async def test_closing_stops_asking_and_closing_a_case_never_opened_changes_nothing() -> None:
    uow, opened = uow_at(), builders.open_case()
    await handlers.open_consent_case(opened, uow)
    closed_on = MORNING.date() + timedelta(days=30)
    await handlers.close_consent_case(
        CloseConsentCase(opened.referral_id, closed_on, "referral closed"), uow
    )
    await handlers.close_consent_case(CloseConsentCase(uuid.uuid4(), closed_on, "duplicate"), uow)
    [closed] = uow.events_of(ConsentCaseClosed)
    assert isinstance(closed, ConsentCaseClosed) and closed.referral_id == opened.referral_id
    refused = builders.decision(opened.referral_id, "p-1", decision=ConsentDecisionKind.REFUSED)
    await handlers.record_consent_decision(refused, uow)  # a refusal is still recorded
    assert uow.cases.cases[opened.referral_id].published.involvement is InvolvementConsent.REFUSED
