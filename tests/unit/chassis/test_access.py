"""Audited access to a child's record: audited with the work on success, on the pool when
refused (after the work's transaction rolled back), and the refusal re-raised."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from eps_chassis.access import audited_access
from eps_chassis.auth import Principal, Role
from eps_chassis.context import MessageContext
from eps_chassis.errors import Conflict, DomainError, Forbidden, NotFound
from eps_chassis.unit_of_work import UnitOfWorkFactory

SENCO = Principal("senco-1", Role.SENCO, "leicester-city", school_urn="123456")
EP = Principal("ep-1", Role.EP, "leicester-city")


class Recorder:
    """Stands in for a connection or the pool: keeps what was written to the audit log."""

    def __init__(self, name: str, log: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.name, self.log = name, log

    async def execute(self, sql: str, *args: Any) -> None:
        assert sql.startswith("INSERT INTO audit_log")
        self.log.append((self.name, args))


class FakeUow:
    def __init__(self, conn: Recorder, context: MessageContext) -> None:
        self.conn, self.context = conn, context


class FakeUows:
    """A unit-of-work factory: ``committed`` says whether the transaction's writes were kept."""

    def __init__(self) -> None:
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        self.pool = Recorder("pool", self.log)
        self.committed: bool | None = None

    @asynccontextmanager
    async def __call__(self, context: MessageContext) -> AsyncIterator[FakeUow]:
        pending: list[tuple[str, tuple[Any, ...]]] = []
        try:
            yield FakeUow(Recorder("transaction", pending), context)
        except BaseException:
            self.committed = False
            raise
        self.committed = True
        self.log.extend(pending)


def access_as(uows: FakeUows, principal: Principal, **kwargs: Any) -> Any:
    return audited_access(cast(UnitOfWorkFactory, uows), principal, **kwargs)


def audited(uows: FakeUows) -> list[tuple[str, str, str, str, str | None, str]]:
    """(where, actor, role, action, resource, purpose, outcome) of each audit row."""
    return [(where, a[1], a[3], a[4], a[5], a[6]) for where, a in uows.log]


async def test_a_successful_access_is_audited_in_the_same_transaction() -> None:
    uows = FakeUows()
    correlation = uuid.uuid4()
    async with access_as(
        uows,
        EP,
        action="read",
        resource="referral/1",
        purpose="triage",
        correlation_id=correlation,
    ) as access:
        assert access.uow.context.correlation_id == correlation
        assert access.uow.context.actor == "user:ep-1" and access.uow.context.tenant == EP.tenant
        access.check_school("999999")  # EPs are not school staff
    assert uows.committed is True
    assert audited(uows) == [
        ("transaction", "user:ep-1", "read", "referral/1", "triage", "allowed")
    ]
    assert uows.log[0][1][7] == correlation


async def test_the_resource_may_be_named_once_known() -> None:
    uows = FakeUows()
    async with access_as(uows, EP, action="submit", resource="referral/?") as access:
        access.resource = "referral/42"
    assert audited(uows)[0][3] == "referral/42"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (NotFound("no such referral"), "not_found"),
        (Forbidden("not yours"), "denied"),
        (Conflict("cannot accept"), "refused"),
        (DomainError("age 26", field="child.date_of_birth"), "refused"),
    ],
)
async def test_a_refusal_rolls_back_is_audited_on_the_pool_and_re_raised(
    error: DomainError, outcome: str
) -> None:
    uows = FakeUows()
    with pytest.raises(type(error)) as raised:
        async with access_as(uows, EP, action="accept", resource="referral/7"):
            raise error
    assert raised.value is error
    assert uows.committed is False
    assert audited(uows) == [("pool", "user:ep-1", "accept", "referral/7", None, outcome)]


async def test_school_staff_are_denied_another_schools_child_and_that_is_audited() -> None:
    uows = FakeUows()
    with pytest.raises(Forbidden):
        async with access_as(uows, SENCO, action="read", resource="consent/7") as access:
            access.check_school("654321")
    with pytest.raises(Forbidden):
        async with access_as(uows, SENCO, action="read", resource="consent/8") as access:
            access.check_school(None)  # a child with no school is not the SENCO's either
    async with access_as(uows, SENCO, action="read", resource="consent/9") as access:
        access.check_school("123456")
    assert [(r[0], r[3], r[5]) for r in audited(uows)] == [
        ("pool", "consent/7", "denied"),
        ("pool", "consent/8", "denied"),
        ("transaction", "consent/9", "allowed"),
    ]


async def test_other_failures_are_not_audited_as_refusals() -> None:
    uows = FakeUows()
    with pytest.raises(RuntimeError):
        async with access_as(uows, EP, action="read", resource="referral/1"):
            raise RuntimeError("database went away")
    assert uows.log == []
