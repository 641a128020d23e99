"""The privacy service's handlers against a fake unit of work: the request's clock and its
extensions, reminders once per due date, erasure on the London day unless held, an erasure
complete only when every holder confirms, and rectification."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from eps_chassis.errors import Conflict, DomainError
from eps_contracts.privacy import (
    ChildDetailsRectified,
    ChildErasureConfirmed,
    ChildErasureOrdered,
    ErasureRule,
    RectifiedDetails,
    SubjectAccessRequestDueSoon,
    SubjectAccessRequestOpened,
)
from eps_contracts.sealed import Unsealed
from eps_privacy.domain import commands
from eps_privacy.service_layer import handlers

from tests.support.clock import FakeClock
from tests.support.fakes.privacy import FakePrivacyUnitOfWork

HOLDERS = ["consent", "referrals", "scheduling", "statutory"]
CHILD = uuid.UUID("7b1f0d4e-3c2a-4f6b-9e8d-1a2b3c4d5e6f")


def uow_at(moment: datetime) -> FakePrivacyUnitOfWork:
    return FakePrivacyUnitOfWork(clock=FakeClock(moment))


async def test_a_request_is_due_a_calendar_month_after_receipt_and_extended_twice_at_most() -> None:
    uow = uow_at(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    request_id = uuid.uuid4()
    cmd = commands.OpenSubjectAccessRequest(request_id, CHILD, "the child", date(2027, 1, 31))
    assert await handlers.open_request(cmd, uow) == date(2027, 2, 28)
    [opened] = uow.events_of(SubjectAccessRequestOpened)
    assert (opened.due_on, opened.opened_by) == (date(2027, 2, 28), "user:test")

    extend = commands.ExtendSubjectAccessRequest(request_id, 1, "five services, many redactions")
    assert await handlers.extend_request(extend, uow) == date(2027, 3, 31)
    with pytest.raises(DomainError, match="at most 2 further months in all") as refused:
        await handlers.extend_request(
            commands.ExtendSubjectAccessRequest(request_id, 2, "more"), uow
        )
    assert refused.value.field == "further_months"
    assert await handlers.extend_request(
        commands.ExtendSubjectAccessRequest(request_id, 1, "more"), uow
    ) == date(2027, 4, 30)


async def test_a_request_received_tomorrow_is_refused() -> None:
    uow = uow_at(datetime(2027, 2, 1, 23, 30, tzinfo=UTC))  # 23:30 GMT: still the 1st
    cmd = commands.OpenSubjectAccessRequest(uuid.uuid4(), CHILD, "a parent", date(2027, 2, 2))
    with pytest.raises(DomainError) as refused:
        await handlers.open_request(cmd, uow)
    assert refused.value.field == "received_on"


async def test_a_reminder_comes_once_per_due_date() -> None:
    clock = FakeClock(datetime(2027, 2, 20, 12, 0, tzinfo=UTC))
    uow = FakePrivacyUnitOfWork(clock=clock)
    request_id = uuid.uuid4()
    cmd = commands.OpenSubjectAccessRequest(request_id, CHILD, "a parent", date(2027, 1, 31))
    await handlers.open_request(cmd, uow)
    assert await handlers.remind_due_requests(uow) == 0  # 8 days left
    clock.now = datetime(2027, 2, 21, 12, 0, tzinfo=UTC)
    assert await handlers.remind_due_requests(uow) == 1
    assert await handlers.remind_due_requests(uow) == 0
    [reminder] = uow.events_of(SubjectAccessRequestDueSoon)
    assert (reminder.due_on, reminder.days_left) == (date(2027, 2, 28), 7)


async def test_erasure_is_ordered_on_the_london_day_and_not_while_held() -> None:
    clock = FakeClock(datetime(2041, 6, 14, 22, 59, tzinfo=UTC))  # 23:59 BST on the 14th
    uow = FakePrivacyUnitOfWork(clock=clock)
    await uow.records.learn_birth_date(CHILD, date(2016, 6, 15), "referrals")
    assert await handlers.order_due_erasures(uow, HOLDERS) == []
    hold_id = uuid.uuid4()
    await handlers.place_hold(
        commands.PlaceLegalHold(hold_id, CHILD, "tribunal", date(2041, 6, 1)), uow
    )
    clock.now = datetime(2041, 6, 14, 23, 0, 30, tzinfo=UTC)  # 00:00:30 BST on the 15th
    assert await handlers.order_due_erasures(uow, HOLDERS) == []
    with pytest.raises(Conflict, match="legal hold"):
        await handlers.erase_on_request(commands.EraseChild(CHILD, "asked"), uow, HOLDERS)
    await handlers.lift_hold(commands.LiftLegalHold(hold_id, "decided"), uow)
    assert await handlers.order_due_erasures(uow, HOLDERS) == [CHILD]
    assert await handlers.order_due_erasures(uow, HOLDERS) == []  # once
    [order] = uow.events_of(ChildErasureOrdered)
    assert (order.child_id, order.rule) == (CHILD, ErasureRule.RETENTION_ENDED)
    with pytest.raises(Conflict, match="erased already"):
        await handlers.erase_on_request(commands.EraseChild(CHILD, "asked"), uow, HOLDERS)


async def test_an_erasure_is_complete_when_every_holder_has_confirmed() -> None:
    uow = uow_at(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    await uow.records.learn_birth_date(CHILD, date(2016, 6, 15), "referrals")
    erasure_id = await handlers.erase_on_request(
        commands.EraseChild(CHILD, "the parent's request"), uow, HOLDERS
    )

    def confirmed(service: str) -> ChildErasureConfirmed:
        return ChildErasureConfirmed(
            erasure_id=erasure_id, child_id=CHILD, service=service, rows=1, at=uow.clock()
        )

    completed = [await handlers.record_confirmation(confirmed(s), uow) for s in HOLDERS[:-1]]
    assert completed == [False, False, False]
    assert await handlers.record_confirmation(confirmed("consent"), uow) is False  # twice
    assert uow.records.births[CHILD] is not None
    assert await handlers.record_confirmation(confirmed(HOLDERS[-1]), uow) is True
    assert uow.records.births[CHILD] is None  # privacy forgets the date of birth too
    assert await handlers.record_confirmation(confirmed(HOLDERS[-1]), uow) is False


async def test_rectification_names_what_changed_and_privacy_keeps_the_new_date_of_birth() -> None:
    uow = uow_at(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    with pytest.raises(DomainError, match="at least one"):
        await handlers.rectify(commands.RectifyChild(CHILD, None, None, None, "nothing given"), uow)
    await handlers.rectify(
        commands.RectifyChild(CHILD, None, "Exemplar", date(2016, 5, 14), "mistyped"), uow
    )
    [event] = uow.events_of(ChildDetailsRectified)
    assert event.details == Unsealed(
        RectifiedDetails(
            family_name="Exemplar", date_of_birth=date(2016, 5, 14), reason="mistyped"
        ),
        CHILD,
    )  # sealed for the child when written to the outbox
    assert uow.records.births[CHILD] == date(2016, 5, 14)


async def test_an_erased_child_is_not_rectified() -> None:
    uow = uow_at(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    erasure_id = await handlers.erase_on_request(commands.EraseChild(CHILD, "asked"), uow, ["x"])
    confirmed = ChildErasureConfirmed(
        erasure_id=erasure_id, child_id=CHILD, service="x", rows=1, at=uow.clock()
    )
    assert await handlers.record_confirmation(confirmed, uow) is True
    with pytest.raises(Conflict, match="erased") as refused:
        await handlers.rectify(
            commands.RectifyChild(CHILD, "Amelia", None, date(2016, 5, 14), "late news"), uow
        )
    assert refused.value.field == "child_id"
    assert uow.records.births.get(CHILD) is None
