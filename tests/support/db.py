"""Reading a service's tables directly, for assertions."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.support.infra import Infra


async def query(infra: Infra, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def scalar(infra: Infra, sql: str, *args: object) -> Any:
    return (await query(infra, sql, *args))[0][0]
