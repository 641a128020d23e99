"""Live changes for open pages: one PostgreSQL ``LISTEN`` per process while any page listens.

The read model announces each change on commit (``pg_notify``, see ``repository``); this fans
each one out to that local authority's open pages only. An incident page is told which incident
changed (``incident``) and asks for it again. An open board is pushed its rows (``board``),
rendered once per change for every board of the LA in this process, not fetched by each: a
burst of changes while a render is under way is rendered once more after it, so the last state
is always pushed. Every replica listens for itself, so a page on any replica hears every change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from eps_chassis.logging import get_logger

from eps_console.adapters.repository import CHANGES

log = get_logger()

Rendered = Callable[[str], Awaitable[str]]
"""The board's rows for a local authority, as the page shows them."""


@dataclass(eq=False)
class Listener:
    """One open page: what it hears (``(event, data)``), and whether it is a board."""

    tenant: str
    board: bool
    queue: asyncio.Queue[tuple[str, str]]


class Changes:
    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.render_board: Rendered | None = None
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._rendering: dict[str, asyncio.Task[None]] = {}
        self._stale: set[str] = set()

    @property
    def open_pages(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    @contextlib.asynccontextmanager
    async def subscribed(self, tenant: str, *, board: bool = False) -> AsyncIterator[Listener]:
        """What happens in ``tenant`` while the block lasts: ``("incident", id)`` ('' for the
        LA's rota) and, for a board, ``("board", rows)``."""
        listener = Listener(tenant, board, asyncio.Queue(maxsize=1000))
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.dsn)
                await self._conn.add_listener(CHANGES, self._heard)
            self._listeners[tenant].add(listener)
        try:
            yield listener
        finally:
            async with self._lock:
                self._listeners[tenant].discard(listener)
                if not self._listeners[tenant]:
                    del self._listeners[tenant]
                if not self._listeners and self._conn is not None:
                    conn, self._conn = self._conn, None
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=5)

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        schema, _, rest = payload.partition(":")
        if schema != self.schema:
            return  # another deployment (or test) sharing the database
        tenant, _, incident = rest.partition(":")
        listeners = self._listeners.get(tenant, set())
        self._tell([x for x in listeners if not x.board], ("incident", incident))
        if any(x.board for x in listeners) and self.render_board is not None:
            self._stale.add(tenant)
            if tenant not in self._rendering:
                self._rendering[tenant] = asyncio.create_task(self._push_boards(tenant))

    async def _push_boards(self, tenant: str) -> None:
        assert self.render_board is not None
        try:
            while tenant in self._stale:
                self._stale.discard(tenant)
                try:
                    rows = await self.render_board(tenant)
                except Exception as exc:  # the boards keep what they show; the next change retries
                    log.warning("board not rendered", tenant=tenant, error=repr(exc))
                    return
                boards = [x for x in self._listeners.get(tenant, ()) if x.board]
                self._tell(boards, ("board", rows))
        finally:
            del self._rendering[tenant]

    @staticmethod
    def _tell(listeners: list[Listener], news: tuple[str, str]) -> None:
        for listener in listeners:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page reloads anyway
                listener.queue.put_nowait(news)
