"""Critical-incident work goes first: the priority gate, and the priority topics' own poller.

Two mechanisms keep an incident from queueing behind routine work in a replica:

- :class:`PriorityGate`: consumers of priority topics hold it while they handle a batch;
  consumers of routine topics wait for it to be clear before they start a batch, and a routine
  batch that finds it held between two events commits what it has done (releasing its row locks)
  and goes on once clear;
- :class:`PriorityPoller`: a priority topic is consumed by a poller owned here, in aiokafka,
  rather than by a FastStream subscriber. FastStream's batch subscriber sleeps
  ``batch_timeout_ms`` after every empty poll, and a record arriving in that sleep waits it out
  (up to a poll's length on each hop of the fast track); it has no supported way to wait in
  ``getmany`` instead, which returns as soon as a record arrives. So this one piece is ours: it
  waits in ``getmany``, processes each batch as every consumer does, and commits the offsets of
  exactly what it processed once the effects are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from eps_chassis.logging import get_logger
from eps_chassis.retry import Backoff
from eps_chassis.tasks import cancel_and_wait

if TYPE_CHECKING:
    from eps_chassis.consumer import ConsumerRuntime, EventConsumer

log = get_logger()


class PriorityGate:
    """Lets critical-incident work in this process go first (see the module)."""

    def __init__(self) -> None:
        self._holders = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @property
    def held(self) -> bool:
        return self._holders > 0

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        self._holders += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._holders -= 1
            if not self._holders:
                self._clear.set()

    async def wait_clear(self) -> None:
        await self._clear.wait()


class PriorityPoller:
    """One priority consumer's group member (see the module)."""

    def __init__(
        self, consumer: EventConsumer, runtime: ConsumerRuntime, bootstrap_servers: str
    ) -> None:
        self.consumer = consumer
        self.runtime = runtime
        self.bootstrap_servers = bootstrap_servers
        self._kafka: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer, runtime = self.consumer, self.runtime
        self._kafka = AIOKafkaConsumer(
            *(runtime.topic_prefix + t.name for t in consumer.topics),
            bootstrap_servers=self.bootstrap_servers,
            group_id=consumer.group_id(runtime),
            client_id=f"{runtime.service}-{consumer.name}",
            enable_auto_commit=False,  # offsets are committed after the effects, below
            auto_offset_reset="earliest",
        )
        await self._kafka.start()
        self._task = asyncio.create_task(self._poll(), name=f"priority-{consumer.name}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
        if self._kafka is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(15):
                    await self._kafka.stop()

    async def _poll(self) -> None:
        assert self._kafka is not None
        kafka, consumer = self._kafka, self.consumer
        timeout_ms = consumer.batch_timeout_ms
        max_records = min(consumer.batch_size, self.runtime.max_batch_size)
        backoff = Backoff(self.runtime.backoff_initial_s, self.runtime.backoff_max_s)
        while True:
            try:
                started = time.monotonic()
                polled = await kafka.getmany(timeout_ms=timeout_ms, max_records=max_records)
                if not polled:
                    if time.monotonic() - started < timeout_ms / 2000:
                        await asyncio.sleep(timeout_ms / 1000)  # no partitions yet: no spin
                    continue
                records = [r for batch in polled.values() for r in batch]
                if await consumer.process(records):
                    await kafka.commit({tp: batch[-1].offset + 1 for tp, batch in polled.items()})
                else:  # not applied in time: read again from the batch start, not lost
                    for tp, batch in polled.items():
                        kafka.seek(TopicPartition(tp.topic, tp.partition), batch[0].offset)
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a rebalance or a broker away: redelivery is absorbed
                log.warning(
                    "priority poll failed; going on", consumer=consumer.name, error=repr(exc)
                )
                await backoff.sleep()
