"""Stopping a service's background tasks for certain.

The chassis stops its loops (relay lanes, jobs, priority pollers, the broker) by cancelling
them. On Python 3.11 a cancellation can be lost: a task cancelled just as what it awaits through
``asyncio.wait_for`` completes carries on as if it had not been cancelled (``wait_for`` returns
the result; fixed in 3.12), and drivers await that way inside. A stop that cancelled once and
then awaited the task would wait for ever, so :func:`cancel_and_wait` cancels again until every
task has ended. The chassis's own code awaits with ``asyncio.timeout``, which loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from eps_chassis.logging import get_logger

log = get_logger()


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, again_after_s: float = 1.0
) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again any still running
    ``again_after_s`` later. A task that ended with an error is logged, not raised."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=again_after_s)
        for task in pending:
            log.warning(
                "task still running after its cancellation; cancelling again", task=task.get_name()
            )
            task.cancel()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "task ended with an error", task=task.get_name(), error=repr(task.exception())
            )
