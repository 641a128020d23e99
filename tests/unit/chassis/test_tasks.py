"""Stopping background tasks for certain: a cancellation lost on the way (as ``wait_for`` loses
one on Python 3.11 when what it awaits completes at that moment) is made again."""

from __future__ import annotations

import asyncio

from eps_chassis.tasks import cancel_and_wait


async def test_a_task_that_lost_its_cancellation_is_cancelled_again() -> None:
    lost: list[str] = []

    async def loop_that_swallows_one_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            lost.append("first cancellation lost")
        await asyncio.sleep(3600)

    task = asyncio.create_task(loop_that_swallows_one_cancel())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], again_after_s=0.05), 5)
    assert lost == ["first cancellation lost"] and task.cancelled()


async def test_a_loop_stops_when_its_cancel_races_what_wait_for_awaits() -> None:
    """The race itself: the awaited future completes in the same turn as the cancel (on 3.11
    ``wait_for`` then returns the result and the loop carries on)."""
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    rounds: list[int] = []

    async def relay_like_loop() -> None:
        rounds.append(await asyncio.wait_for(ready, 60))
        await asyncio.sleep(3600)  # where a loop that lost the cancel carries on

    task = asyncio.create_task(relay_like_loop())
    await asyncio.sleep(0)
    ready.set_result(1)
    await asyncio.wait_for(cancel_and_wait([task], again_after_s=0.05), 5)
    assert task.cancelled()


async def test_ended_tasks_and_failed_ones_do_not_stop_the_others_stopping() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    await asyncio.sleep(0)
    sleeper = asyncio.create_task(asyncio.sleep(3600))
    await cancel_and_wait([failed, sleeper])
    assert failed.done() and not failed.cancelled() and sleeper.cancelled()
