"""A routine consumer's batches, one applied while the next is polled and decoded: applied one
at a time in the order polled, offsets committed after each; a batch that cannot be applied is
read again with the one waiting behind it, from the earliest offset of each partition; closing
waits for the batch being applied and takes no more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord, TopicPartition
from eps_chassis.pipelining import OneBatchAhead


def record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


class Kafka:
    """The consumer's side of the broker: the offsets committed and the seeks made."""

    def __init__(self) -> None:
        self.committed: list[dict[TopicPartition, int]] = []
        self.seeks: dict[TopicPartition, int] = {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.append(offsets)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks[partition] = offset


class Effects:
    """What was applied, in order; a batch's application can be held open or made to fail."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.failing: set[str] = set()
        self.gates: dict[str, asyncio.Event] = {}

    def of(self, name: str) -> Callable[[], Awaitable[bool]]:
        async def apply() -> bool:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            try:
                if name in self.gates:
                    await self.gates[name].wait()
                await asyncio.sleep(0.001)
                if name in self.failing:
                    return False  # as ``EventConsumer.apply`` after retrying in place
                self.applied.append(name)
                return True
            finally:
                self.running -= 1

        return apply


async def test_batches_are_applied_one_at_a_time_in_the_order_polled_then_committed() -> None:
    kafka, effects, ahead = Kafka(), Effects(), OneBatchAhead("c")
    effects.gates["first"] = asyncio.Event()
    await ahead.submit(kafka, [record(0, 0), record(1, 0)], effects.of("first"))
    second = asyncio.create_task(ahead.submit(kafka, [record(0, 1)], effects.of("second")))
    await asyncio.sleep(0.01)
    assert effects.applied == [] and not second.done()  # the next waits for the one before
    assert kafka.committed == []
    effects.gates["first"].set()
    await second
    await ahead.submit(kafka, [record(1, 1)], effects.of("third"))
    await ahead.close()

    assert effects.applied == ["first", "second", "third"]
    assert effects.most_at_once == 1
    assert kafka.committed == [
        {TopicPartition("t", 0): 1, TopicPartition("t", 1): 1},
        {TopicPartition("t", 0): 2},
        {TopicPartition("t", 1): 2},
    ]
    assert kafka.seeks == {}


async def test_a_batch_not_applied_is_read_again_with_the_one_polled_behind_it() -> None:
    kafka, effects, ahead = Kafka(), Effects(), OneBatchAhead("c")
    effects.failing.add("first")
    await ahead.submit(kafka, [record(0, 10), record(0, 11), record(1, 20)], effects.of("first"))
    # polled before the rewind: partition 0 again further on, and partition 2 for the first time
    await ahead.submit(kafka, [record(0, 12), record(2, 5)], effects.of("second"))
    await ahead.close()

    assert effects.applied == []  # the second is never applied ahead of the first
    assert kafka.committed == []
    assert kafka.seeks == {
        TopicPartition("t", 0): 10,  # the earlier of the two batches' first offsets
        TopicPartition("t", 1): 20,
        TopicPartition("t", 2): 5,  # not lost: read again though its batch had not failed
    }


async def test_with_nothing_behind_it_a_failing_batch_is_retried_in_place_until_applied() -> None:
    kafka, effects, ahead = Kafka(), Effects(), OneBatchAhead("c")
    effects.failing.add("first")
    await ahead.submit(kafka, [record(0, 0)], effects.of("first"))
    await asyncio.sleep(0.02)  # several attempts, the poll loop free meanwhile
    effects.failing.clear()
    await asyncio.sleep(0.02)
    assert effects.applied == ["first"]
    await ahead.submit(kafka, [record(0, 1)], effects.of("second"))
    await ahead.close()

    assert effects.applied == ["first", "second"]
    assert kafka.committed == [{TopicPartition("t", 0): 1}, {TopicPartition("t", 0): 2}]
    assert kafka.seeks == {}


async def test_closing_waits_for_the_batch_being_applied_and_takes_no_more() -> None:
    kafka, effects, ahead = Kafka(), Effects(), OneBatchAhead("c")
    effects.gates["first"] = asyncio.Event()
    await ahead.submit(kafka, [record(0, 0)], effects.of("first"))
    closing = asyncio.create_task(ahead.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    effects.gates["first"].set()
    await closing
    await ahead.submit(kafka, [record(0, 1)], effects.of("late"))  # polled while stopping

    assert effects.applied == ["first"]
    assert kafka.committed == [{TopicPartition("t", 0): 1}]  # answered before close returned
    assert kafka.seeks == {TopicPartition("t", 0): 1}  # left for whoever reads it next
