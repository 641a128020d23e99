"""Shards: a large routine batch applied as a few transactions side by side, each over events
that touch nothing the others touch.

A consumer whose batch handler spends as long in Python as it waits on PostgreSQL (billing's
pricing) leaves one of them idle at a time: while one transaction waits on its statements, the
process has nothing else to price. Split by a key that keeps related events together (billing's
is the school, whose SLA a delivery draws on), the shards run concurrently, each on its own
connection and in its own transaction, claiming its own events in the inbox: one prices while
the other waits. Each shard keeps the batch's order; events of one key stay in one shard, so
their order holds as it did, and so does the order of a held event's subject. Records that
decode to no event (invalid, or of a type the consumer skips) go with the first shard.

Nothing is lost or done twice: the batch's offsets are committed only once every shard has
committed; if one fails, the whole batch is applied again, and the events of shards that did
commit are then duplicates in the inbox. A batch smaller than ``at_least`` events a shard is
applied in one transaction, as without shards: a shard's statements have a fixed cost, and
under steady load batches are small and should be billable as soon as they are applied.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from eps_contracts import Envelope

from eps_chassis.decoding import Decoded, Valid

ShardKey = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[Sequence[Hashable]]]
"""One key per event: events with the same key are applied in the same transaction."""


@dataclass(frozen=True)
class Shards:
    """How a consumer splits a large batch (``EventConsumer(shards=...)``)."""

    count: int
    key: ShardKey
    at_least: int = 2000  # events a shard, on average; a smaller batch is not split

    async def split(self, pool: asyncpg.Pool, items: Sequence[Decoded]) -> list[list[Decoded]]:
        """The batch's items as shards (in the batch's order within each); one when small."""
        if self.count < 2 or len(items) < self.count * self.at_least:
            return [list(items)]
        valid = [item for item in items if isinstance(item, Valid)]
        async with pool.acquire() as conn:
            keys = await self.key(conn, [item.envelope for item in valid])
        shard_of = {
            id(item): _stable_hash(key) % self.count for item, key in zip(valid, keys, strict=True)
        }
        shards: list[list[Decoded]] = [[] for _ in range(self.count)]
        for item in items:
            shards[shard_of.get(id(item), 0)].append(item)
        return [shard for shard in shards if shard]


def _stable_hash(key: Hashable) -> int:
    """The same shard for a key in every process and run (``hash`` of text is salted per
    process): a batch's split can be told from its keys alone."""
    return zlib.crc32(str(key).encode())
