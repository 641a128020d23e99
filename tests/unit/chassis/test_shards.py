"""Splitting a batch into shards: by key, in the batch's order, small batches whole."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from aiokafka import ConsumerRecord
from eps_chassis.decoding import Decoded, Invalid, Valid
from eps_chassis.shards import Shards
from eps_contracts import Envelope

from tests.support.builders import referrals as builders


class FakePool:
    """Lends a connection the key function does not use."""

    lent = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        self.lent += 1
        yield None


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"{}", None, 1, 2, [])


async def by_school(conn: Any, envelopes: Sequence[Envelope[Any]]) -> list[str]:
    return [e.data.school_urn for e in envelopes]


def batch(schools: list[str]) -> list[Decoded]:
    return [
        Valid(record(n), builders.received_envelope(school), None)
        for n, school in enumerate(schools)
    ]


def schools_of(shard: list[Decoded]) -> list[str]:
    return [item.envelope.data.school_urn for item in shard if isinstance(item, Valid)]


async def test_events_of_one_key_stay_together_in_the_batch_order() -> None:
    items = batch(["100001", "100002", "100003", "100001", "100004", "100002", "100005"] * 3)
    shards = await Shards(count=2, key=by_school, at_least=1).split(cast(Any, FakePool()), items)
    assert len(shards) == 2 and sum(map(len, shards)) == len(items)
    for shard in shards:
        offsets = [item.record.offset for item in shard]
        assert offsets == sorted(offsets)  # each shard keeps the batch's order
    keys = [set(schools_of(shard)) for shard in shards]
    assert not keys[0] & keys[1]  # a key is in one shard only


async def test_records_that_are_no_event_go_with_the_first_shard() -> None:
    items = [Invalid(record(99), "not json"), *batch(["100001", "100002", "100003", "100004"])]
    shards = await Shards(count=2, key=by_school, at_least=1).split(cast(Any, FakePool()), items)
    assert shards[0][0] == items[0]


async def test_a_batch_smaller_than_its_shards_should_be_is_applied_whole() -> None:
    pool = FakePool()
    items = batch(["100001", "100002", "100003"])
    shards = await Shards(count=2, key=by_school, at_least=2).split(cast(Any, pool), items)
    assert shards == [items] and pool.lent == 0  # no key looked up either
