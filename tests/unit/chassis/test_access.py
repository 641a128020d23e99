"""Audited access to a child's record: audited with the work on success, on the pool when
refused (after the work's transaction rolled back), and the refusal re-raised."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from eps_chassis.access import OneRecord, audited_access
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


# --- one record, acted on by its id -----------------------------------------------------


class Shelf:
    """A record store the fake unit of work reads: what each view call saw, in order."""

    def __init__(self, **records: dict[str, Any]) -> None:
        self.records = records
        self.reads: list[str] = []

    async def view(self, uow: FakeUow, record_id: uuid.UUID) -> dict[str, Any] | None:
        self.reads.append(str(record_id))
        record = self.records.get(str(record_id))
        return dict(record) if record is not None else None


def record_kind(shelf: Shelf, **kwargs: Any) -> OneRecord[Any, dict[str, Any]]:
    return OneRecord("case", shelf.view, **kwargs)


ONE = uuid.UUID(int=1)


async def test_a_record_read_is_shown_once_and_audited_by_its_name() -> None:
    uows, shelf = FakeUows(), Shelf(**{str(ONE): {"school": "123456", "state": "open"}})
    case = record_kind(shelf, school=lambda r: r["school"])
    shown = await case.act(cast(Any, uows), SENCO, ONE, action="read", purpose="review")
    assert shown == {"school": "123456", "state": "open"}
    assert shelf.reads == [str(ONE)]  # no second read when nothing was done
    assert audited(uows) == [
        ("transaction", "user:senco-1", "read", f"case/{ONE}", "review", "allowed")
    ]


async def test_another_schools_record_is_refused_before_any_work() -> None:
    uows, shelf = FakeUows(), Shelf(**{str(ONE): {"school": "654321"}})
    case = record_kind(shelf, school=lambda r: r["school"])
    done: list[str] = []

    async def work(uow: Any) -> None:
        done.append("work")

    with pytest.raises(Forbidden):
        await case.act(cast(Any, uows), SENCO, ONE, action="close", work=work)
    assert done == []
    assert audited(uows) == [("pool", "user:senco-1", "close", f"case/{ONE}", None, "denied")]


async def test_work_is_done_and_the_record_shown_as_it_left_it() -> None:
    shelf = Shelf(**{str(ONE): {"school": "123456", "state": "open"}})
    case = record_kind(shelf, school=lambda r: r["school"])

    async def close(uow: Any) -> None:
        shelf.records[str(ONE)]["state"] = "closed"

    shown = await case.act(cast(Any, FakeUows()), SENCO, ONE, action="close", work=close)
    assert shown["state"] == "closed"
    assert shelf.reads == [str(ONE), str(ONE)]  # the school checked first, then shown


async def test_a_missing_record_is_a_404_naming_the_field_and_audited_as_not_found() -> None:
    uows = FakeUows()
    case = record_kind(Shelf(), missing="no case for this referral (yet)", field="referral_id")
    with pytest.raises(NotFound) as raised:
        await case.act(cast(Any, uows), EP, ONE, action="read")
    assert str(raised.value) == "no case for this referral (yet)"
    assert raised.value.field == "referral_id"
    assert audited(uows)[0][3:] == (f"case/{ONE}", None, "not_found")
    with pytest.raises(NotFound, match="no such case"):
        await record_kind(Shelf()).act(cast(Any, uows), EP, ONE, action="read")


async def test_a_record_may_be_audited_under_a_fuller_name_once_shown() -> None:
    uows, shelf = FakeUows(), Shelf(**{str(ONE): {"referral": "r-9"}})
    case = record_kind(shelf, audited_as=lambda i, r: f"referral/{r['referral']}/case/{i}")
    await case.act(cast(Any, uows), EP, ONE, action="read")
    assert audited(uows)[0][3] == f"referral/r-9/case/{ONE}"
