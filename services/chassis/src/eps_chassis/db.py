"""PostgreSQL access: one asyncpg pool per service, confined to the service's own schema.

Migrations: plain SQL files applied in name order, all pending ones in one transaction (a
failing file leaves the schema as it was), each recorded with a checksum in
``<schema>.schema_migrations``; an advisory lock lets several replicas start at once. A small
runner instead of alembic/yoyo: both need SQLAlchemy or a second driver (psycopg) and we want
to stay on asyncpg with raw SQL; this runner is forty lines and tested.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import asyncpg

CHASSIS_MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool connections keep no session state to reset: settings are startup parameters,
    advisory locks are per transaction (the job lock is released by its holder) and nothing
    listens on them. asyncpg's default reset is a round trip on every release."""


async def create_pool(dsn: str, schema: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    check_schema_name(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "timezone": "UTC"},
        reset=_keep_session,  # an open transaction is still rolled back on release
    )
    assert pool is not None
    return pool


def migration_files(directories: Iterable[Path]) -> list[tuple[str, str]]:
    """(version, sql) for every ``*.sql`` file; the version is ``<dir name>/<file name>``."""
    found: list[tuple[str, str]] = []
    for directory in directories:
        for path in sorted(directory.glob("*.sql")):
            found.append((f"{directory.name}/{path.name}", path.read_text()))
    return found


async def migrate(dsn: str, schema: str, directories: Iterable[Path]) -> list[str]:
    """Apply pending migrations; returns the versions applied now. Refuses edited migrations."""
    check_schema_name(schema)
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
                " version text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                r["version"]: r["checksum"]
                for r in await conn.fetch(
                    f"SELECT version, checksum FROM {schema}.schema_migrations"
                )
            }
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            for version, sql in migration_files(directories):
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        raise RuntimeError(f"migration {version} was edited after it was applied")
                    continue
                await conn.execute(sql)
                await conn.execute(
                    f"INSERT INTO {schema}.schema_migrations (version, checksum) VALUES ($1, $2)",
                    version,
                    checksum,
                )
                applied_now.append(version)
    finally:
        await conn.close()
    return applied_now
