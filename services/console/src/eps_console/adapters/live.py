"""Live changes for open boards: one PostgreSQL ``LISTEN`` per process while any board is open.

The read model announces each change on commit (``pg_notify``, see ``repository``); this fans
each one out to the open boards of that local authority only, which then fetch what changed.
Every replica listens for itself, so a board on any replica hears every change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg

from eps_console.adapters.repository import CHANGES


class Changes:
    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self._boards: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def open_boards(self) -> int:
        return sum(len(queues) for queues in self._boards.values())

    @contextlib.asynccontextmanager
    async def subscribed(self, tenant: str) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of the incident ids changed in ``tenant`` ('' for the LA's rota), while the
        block lasts."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.dsn)
                await self._conn.add_listener(CHANGES, self._heard)
            self._boards[tenant].add(queue)
        try:
            yield queue
        finally:
            async with self._lock:
                self._boards[tenant].discard(queue)
                if not self._boards[tenant]:
                    del self._boards[tenant]
                if not self._boards and self._conn is not None:
                    conn, self._conn = self._conn, None
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=5)

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        schema, _, rest = payload.partition(":")
        if schema != self.schema:
            return  # another deployment (or test) sharing the database
        tenant, _, incident = rest.partition(":")
        for queue in self._boards.get(tenant, ()):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled board reloads anyway
                queue.put_nowait(incident)
