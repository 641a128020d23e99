"""Pipelining: a routine consumer decodes the batch it has just polled while the batch before it
is still being applied.

Decoding a thousand events takes the Python process 15-20 ms; applying them is mostly waiting
for PostgreSQL (the inbox claim, the effect, the commit). Done one after the other, each waits
for the other; here the poll loop hands each decoded batch over and goes back to polling and
decoding the next, while the batch before is applied in a task of its own. Only one batch is
ever being applied, in the order polled, so effects keep their order; a batch's offsets are
committed once its effects are durable (``offsets``), as before.

A batch that cannot be applied is retried in place for as long as nothing waits behind it (the
poll loop keeps polling meanwhile, so the consumer stays in its group); once the next batch has
been polled and waits, both are read again from the earliest offset of each of their partitions
(the rewind happens in the poll loop, between two polls, so no record polled before it is
applied and none after it is dropped). Closing stops taking batches, waits for the one being
applied and for its offsets; what was polled and not applied is read again by the next owner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from eps_chassis.logging import get_logger
from eps_chassis.offsets import OffsetCommits

log = get_logger()

Apply = Callable[[], Awaitable[bool]]  # True once the batch's effects are durable


def rewind(kafka: Any, records: Sequence[ConsumerRecord]) -> None:
    """Seek each partition of ``records`` back to its earliest record: read again, not lost."""
    earliest: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        earliest[partition] = min(earliest.get(partition, record.offset), record.offset)
    for partition, offset in earliest.items():
        try:
            kafka.seek(partition, offset)
        except Exception as exc:  # handed to another member meanwhile: it reads them
            log.info("partition not rewound", partition=str(partition), error=repr(exc))


class OneBatchAhead:
    """One routine consumer's batches: one applied while the next is polled and decoded."""

    def __init__(self, name: str) -> None:
        self.offsets = OffsetCommits(name)
        self._applying: tuple[asyncio.Task[bool], Sequence[ConsumerRecord]] | None = None
        self._next_waits = False
        self._closing = False

    async def submit(self, kafka: Any, records: Sequence[ConsumerRecord], apply: Apply) -> None:
        """Hand over a polled, decoded batch: it is applied once the batch before is done."""
        not_applied = await self._wait_for_previous()
        if self._closing or not_applied:
            rewind(kafka, [*not_applied, *records])
            return
        task = asyncio.create_task(self._apply(kafka, records, apply))
        self._applying = (task, records)

    async def close(self, timeout_s: float = 15.0) -> None:
        """Take no more batches; wait for the one being applied and its offsets' commit."""
        self._closing = True
        if self._applying is not None:
            task = self._applying[0]
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout_s):  # then cancelled: read again, not lost
                    await task
            self._applying = None
        await self.offsets.settled()

    async def _wait_for_previous(self) -> Sequence[ConsumerRecord]:
        """The records of the batch before, if it could not be applied (none if it was)."""
        if self._applying is None:
            return ()
        task, records = self._applying
        self._next_waits = True
        try:
            # shielded: a poll loop cancelled while it waits leaves the batch to ``close``
            applied = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("batch not applied; reading it again", error=repr(exc))
            applied = False
        finally:
            self._next_waits = False
        self._applying = None
        return () if applied else records

    async def _apply(self, kafka: Any, records: Sequence[ConsumerRecord], apply: Apply) -> bool:
        while not await apply():
            if self._next_waits or self._closing:
                return False  # read again from its start, with the batch polled after it
        self.offsets.commit(kafka, records)  # not awaited: the next batch goes on meanwhile
        return True
