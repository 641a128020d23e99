"""The relay's claim on a lane: when it is confirmed, renewed and given up, and its setting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from eps_chassis.relay import ClaimLost, _Claim
from eps_chassis.settings import ServiceSettings
from pydantic import ValidationError

from tests.support.clock import FakeTimer


class FakeConnection:
    """Answers like a live claim session, or fails like an ended one."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.ended = False
        self.holds_lock = True

    async def fetchval(self, query: str, *args: object) -> Any:
        self.queries.append(query)
        if self.ended:
            raise ConnectionResetError("the session was ended")
        return 1 if self.holds_lock else 0

    async def execute(self, query: str, *args: object) -> str:
        self.queries.append(query)
        if self.ended:
            raise ConnectionResetError("the session was ended")
        return "UPDATE 1"


def _claim(
    timeout_s: float = 10.0, clock: Callable[[], float] | None = None
) -> tuple[_Claim, FakeConnection]:
    conn = FakeConnection()
    return _Claim(conn, timeout_s, clock or FakeTimer()), conn


async def test_a_recent_round_trip_needs_no_confirmation_before_publishing() -> None:
    clock = FakeTimer()
    claim, conn = _claim(clock=clock)
    await claim.fetchval("SELECT pg_try_advisory_lock(1)")
    clock.now += 2.4
    await claim.confirm()
    claim.check()
    assert len(conn.queries) == 1


async def test_after_a_quarter_of_the_bound_the_claim_is_confirmed_before_publishing() -> None:
    clock = FakeTimer()
    claim, conn = _claim(clock=clock)
    await claim.fetchval("SELECT pg_try_advisory_lock(1)")
    clock.now += 2.6
    await claim.confirm()
    assert len(conn.queries) == 2 and "pg_locks" in conn.queries[1]
    assert claim.age == 0  # confirmed again


async def test_a_process_resumed_after_its_session_ended_learns_it_before_publishing() -> None:
    clock = FakeTimer()
    claim, conn = _claim(clock=clock)
    await claim.fetchval("SELECT pg_try_advisory_lock(1)")
    clock.now += 30  # stopped for longer than the bound: PostgreSQL ended the session
    conn.ended = True
    with pytest.raises(ClaimLost):
        claim.check()  # no record goes to the producer
    with pytest.raises(ClaimLost):
        await claim.confirm()
    with pytest.raises(ClaimLost):
        await claim.execute("UPDATE outbox SET published_at = now()")  # nor is anything marked


async def test_a_session_that_no_longer_holds_the_lock_is_no_claim() -> None:
    claim, conn = _claim()
    conn.holds_lock = False
    with pytest.raises(ClaimLost, match="no longer holds"):
        await claim.renew()


async def test_the_claim_is_renewed_while_a_long_operation_is_pending() -> None:
    claim, conn = _claim(timeout_s=1.0, clock=time.monotonic)  # renews every 0.25 s
    await claim.renew()
    assert await claim.keep(asyncio.sleep(1.3, result="done")) == "done"  # longer than the bound
    assert 4 <= len(conn.queries) <= 8
    assert claim.age < 0.5


async def test_an_operation_is_abandoned_when_the_claim_is_lost_meanwhile() -> None:
    claim, conn = _claim(timeout_s=1.0, clock=time.monotonic)
    await claim.renew()
    operation = asyncio.ensure_future(asyncio.sleep(10))
    conn.ended = True
    with pytest.raises(ClaimLost):
        await claim.keep(operation)
    await asyncio.sleep(0)
    assert operation.cancelled()


async def test_a_wait_that_runs_out_raises_timeout_and_renews_meanwhile() -> None:
    claim, conn = _claim(timeout_s=1.0, clock=time.monotonic)
    await claim.renew()
    with pytest.raises(TimeoutError):
        await claim.keep(asyncio.Event().wait(), 0.6)
    assert len(conn.queries) >= 3


def test_the_claim_timeout_defaults_to_ten_seconds_and_is_checked_against_the_poll() -> None:
    assert ServiceSettings().relay_claim_timeout_s == 10.0
    assert ServiceSettings(relay_claim_timeout_s=2, outbox_poll_interval_s=1).relay_claim_timeout_s
    # shorter than the publish timeout is fine: the claim is renewed while a publish is pending
    ServiceSettings(relay_claim_timeout_s=3, publish_timeout_s=15, outbox_poll_interval_s=0.2)
    with pytest.raises(ValidationError, match="twice outbox_poll_interval_s"):
        ServiceSettings(relay_claim_timeout_s=5, outbox_poll_interval_s=3)
    with pytest.raises(ValidationError, match="at least 1 s"):
        ServiceSettings(relay_claim_timeout_s=0.5, outbox_poll_interval_s=0.1)
