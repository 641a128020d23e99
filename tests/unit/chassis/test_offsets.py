"""A batch's offsets are committed in the order the batches were applied, each naming its own
batch's offsets, without the next batch waiting for the broker; a failed commit stops none."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from eps_chassis.offsets import OffsetCommits, next_offsets


def record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


class SlowFirstBroker:
    """Answers the first commit last, and refuses the one it is told to."""

    def __init__(self, refuse: int | None = None) -> None:
        self.stored: list[dict[TopicPartition, int]] = []
        self.calls = 0
        self.refuse = refuse

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.calls += 1
        call = self.calls
        if call == 1:
            await asyncio.sleep(0.05)
        if call == self.refuse:
            raise RuntimeError("partition reassigned")
        self.stored.append(offsets)


def test_the_offsets_stored_are_those_after_each_partitions_last_record() -> None:
    batch = [record(0, 4), record(1, 9), record(0, 5), record(1, 8)]
    assert next_offsets(batch) == {TopicPartition("t", 0): 6, TopicPartition("t", 1): 10}


async def test_commits_are_answered_in_the_order_the_batches_were_applied() -> None:
    broker = SlowFirstBroker()
    commits = OffsetCommits("c")
    commits.commit(broker, [record(0, 0)])  # returns at once: the next batch goes on
    commits.commit(broker, [record(0, 1)])
    commits.commit(broker, [record(0, 2)])
    assert broker.stored == []
    await commits.settled()
    assert broker.stored == [{TopicPartition("t", 0): n} for n in (1, 2, 3)]


async def test_a_commit_that_fails_is_logged_and_the_next_still_made() -> None:
    broker = SlowFirstBroker(refuse=2)
    commits = OffsetCommits("c")
    for offset in range(3):
        commits.commit(broker, [record(0, offset)])
    await commits.settled()
    assert broker.stored == [{TopicPartition("t", 0): 1}, {TopicPartition("t", 0): 3}]
