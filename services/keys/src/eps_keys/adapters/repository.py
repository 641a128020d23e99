"""Persistence of the wrapped keys. Each repository is an abstract port and its PostgreSQL
adapter, bound to one unit of work; in-memory fakes in ``tests/support/fakes/keys.py``."""

from __future__ import annotations

import abc
import uuid
from datetime import date, datetime
from typing import Any

from eps_chassis.unit_of_work import PostgresRepository

from eps_keys.domain.model import ChildKey, DeadLetterKey


class ChildKeyRepository(abc.ABC):
    """One local authority's children's keys."""

    @abc.abstractmethod
    async def get(self, child_id: uuid.UUID) -> ChildKey | None:
        """The child's key, locked for this transaction (None: never made)."""

    @abc.abstractmethod
    async def add(self, key: ChildKey) -> ChildKey:
        """Keep a new key; the one kept first when another transaction made it meanwhile."""

    @abc.abstractmethod
    async def save(self, key: ChildKey) -> None: ...


class DeadLetterKeyRepository(abc.ABC):
    """Every service's dead-letter keys (they belong to no one local authority)."""

    @abc.abstractmethod
    async def get(self, service: str, day: date) -> DeadLetterKey | None: ...

    @abc.abstractmethod
    async def add(self, key: DeadLetterKey) -> DeadLetterKey: ...

    @abc.abstractmethod
    async def destroy_before(self, day: date, at: datetime) -> int:
        """Destroy every key of a day before ``day``; how many were destroyed."""


def _child_key(row: Any) -> ChildKey:
    return ChildKey(
        tenant=row["tenant"],
        child_id=row["child_id"],
        wrapped_key=row["wrapped_key"],
        kek_id=row["kek_id"],
        created_at=row["created_at"],
        shredded_at=row["shredded_at"],
        shredded_by=row["shredded_by"],
        erasure_id=row["erasure_id"],
    )


class PostgresChildKeyRepository(PostgresRepository, ChildKeyRepository):
    async def get(self, child_id: uuid.UUID) -> ChildKey | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM child_keys WHERE child_id = $1 FOR UPDATE", child_id
        )
        if row is None:
            return None
        self.owned(row, "child", child_id, field="child_id")
        return self.uow.track(_child_key(row))

    async def add(self, key: ChildKey) -> ChildKey:
        await self.conn.execute(
            "INSERT INTO child_keys (tenant, child_id, wrapped_key, kek_id, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (child_id) DO NOTHING",
            self.tenant,
            key.child_id,
            key.wrapped_key,
            key.kek_id,
            key.created_at,
        )
        kept = await self.get(key.child_id)
        assert kept is not None
        return kept

    async def save(self, key: ChildKey) -> None:
        await self.conn.execute(
            "UPDATE child_keys SET wrapped_key = $2, shredded_at = $3, shredded_by = $4,"
            " erasure_id = $5 WHERE child_id = $1 AND tenant = $6",
            key.child_id,
            key.wrapped_key,
            key.shredded_at,
            key.shredded_by,
            key.erasure_id,
            self.tenant,
        )


def _dead_letter_key(row: Any) -> DeadLetterKey:
    return DeadLetterKey(
        service=row["service"],
        day=row["day"],
        wrapped_key=row["wrapped_key"],
        kek_id=row["kek_id"],
        created_at=row["created_at"],
        destroyed_at=row["destroyed_at"],
    )


class PostgresDeadLetterKeyRepository(PostgresRepository, DeadLetterKeyRepository):
    async def get(self, service: str, day: date) -> DeadLetterKey | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM dead_letter_keys WHERE service = $1 AND day = $2", service, day
        )
        return None if row is None else _dead_letter_key(row)

    async def add(self, key: DeadLetterKey) -> DeadLetterKey:
        await self.conn.execute(
            "INSERT INTO dead_letter_keys (service, day, wrapped_key, kek_id, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service, day) DO NOTHING",
            key.service,
            key.day,
            key.wrapped_key,
            key.kek_id,
            key.created_at,
        )
        kept = await self.get(key.service, key.day)
        assert kept is not None
        return kept

    async def destroy_before(self, day: date, at: datetime) -> int:
        status = await self.conn.execute(
            "UPDATE dead_letter_keys SET wrapped_key = NULL, destroyed_at = $2"
            " WHERE day < $1 AND wrapped_key IS NOT NULL",
            day,
            at,
        )
        return int(status.split()[-1])
