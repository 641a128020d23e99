"""Critical-incident work goes first within a process (see ``PriorityGate``)."""

from __future__ import annotations

import asyncio

from eps_chassis.consumer import EventConsumer
from eps_chassis.priority import PriorityGate
from eps_contracts import topics
from eps_contracts.incidents import FAST_TRACK_REQUESTS
from eps_contracts.scheduling import FAST_TRACK_ALLOCATIONS


def test_consumers_of_fast_track_topics_are_priority_consumers() -> None:
    assert EventConsumer(name="a", topics=[FAST_TRACK_REQUESTS]).priority
    assert EventConsumer(name="b", topics=[FAST_TRACK_ALLOCATIONS]).priority
    assert not EventConsumer(name="c", topics=[topics.REFERRALS]).priority


async def test_routine_work_waits_while_priority_work_is_held_and_resumes_after() -> None:
    gate = PriorityGate()
    order: list[str] = []

    async def routine() -> None:
        await gate.wait_clear()
        order.append("routine")

    async with gate.hold():
        assert gate.held
        waiting = asyncio.create_task(routine())
        async with gate.hold():  # a second incident at the same time
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert order == []  # still held by the first
        order.append("priority")
    await asyncio.wait_for(waiting, 1)
    assert order == ["priority", "routine"]
    assert not gate.held
