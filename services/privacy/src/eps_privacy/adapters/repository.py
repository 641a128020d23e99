"""The privacy service's tables: what it knows of each child (date of birth), its subject access
requests, legal holds, retention schedules and erasures. One repository, the port and its
PostgreSQL adapter bound to one local authority."""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import asyncpg
from eps_chassis.unit_of_work import PostgresRepository

from eps_privacy.domain.rules import RetentionSchedule

Row = Mapping[str, Any]
"""A row as stored (a subject access request, a legal hold, an erasure): its columns by name."""


class PrivacyRepository(abc.ABC):
    """The privacy service's records of one local authority."""

    @abc.abstractmethod
    async def learn_birth_date(self, child_id: uuid.UUID, born: date, source: str) -> None: ...

    @abc.abstractmethod
    async def schedule(self) -> RetentionSchedule: ...

    @abc.abstractmethod
    async def set_schedule(self, schedule: RetentionSchedule) -> None: ...

    @abc.abstractmethod
    async def open_request(self, row: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def request(self, request_id: uuid.UUID, *, lock: bool = False) -> Row | None: ...

    @abc.abstractmethod
    async def extend(
        self, request_id: uuid.UUID, months: int, reason: str, due_on: date
    ) -> None: ...

    @abc.abstractmethod
    async def answered(self, request_id: uuid.UUID, on: date) -> None: ...

    @abc.abstractmethod
    async def due_soon(self, today: date, within_days: int) -> list[Row]: ...

    @abc.abstractmethod
    async def reminded(self, request_id: uuid.UUID, due_on: date) -> None: ...

    @abc.abstractmethod
    async def place_hold(self, row: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def hold(self, hold_id: uuid.UUID) -> Row | None: ...

    @abc.abstractmethod
    async def lift_hold(self, hold_id: uuid.UUID, by: str, reason: str, at: datetime) -> None: ...

    @abc.abstractmethod
    async def held(self, child_id: uuid.UUID) -> bool: ...

    @abc.abstractmethod
    async def due_for_erasure(self, today: date, years: int) -> list[Row]: ...

    @abc.abstractmethod
    async def erasure_of(self, child_id: uuid.UUID) -> Row | None: ...

    @abc.abstractmethod
    async def order_erasure(self, row: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def confirm_erasure(
        self, erasure_id: uuid.UUID, service: str, rows: int, at: datetime
    ) -> Row | None: ...

    @abc.abstractmethod
    async def complete_erasure(
        self, erasure_id: uuid.UUID, child_id: uuid.UUID, at: datetime
    ) -> None: ...


class PostgresPrivacyRepository(PostgresRepository, PrivacyRepository):
    async def learn_birth_date(self, child_id: uuid.UUID, born: date, source: str) -> None:
        """What an event says of the child's date of birth (the latest word counts)."""
        await self.conn.execute(
            "INSERT INTO children (tenant, child_id, date_of_birth, known_from) VALUES"
            " ($1, $2, $3, $4) ON CONFLICT (tenant, child_id) DO UPDATE SET date_of_birth ="
            " EXCLUDED.date_of_birth, known_from = EXCLUDED.known_from,"
            " updated_at = clock_timestamp()",
            self.tenant,
            child_id,
            born,
            source,
        )

    async def schedule(self) -> RetentionSchedule:
        found = await self.conn.fetchval(
            "SELECT schedule FROM retention_schedules WHERE tenant = $1", self.tenant
        )
        return RetentionSchedule(**json.loads(found)) if found else RetentionSchedule()

    async def set_schedule(self, schedule: RetentionSchedule) -> None:
        await self.conn.execute(
            "INSERT INTO retention_schedules (tenant, schedule) VALUES ($1, $2)"
            " ON CONFLICT (tenant) DO UPDATE SET schedule = EXCLUDED.schedule",
            self.tenant,
            json.dumps(asdict(schedule)),
        )

    async def open_request(self, row: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO subject_access_requests (request_id, tenant, child_id, requester,"
            " received_on, due_on, status, opened_by) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
            row["request_id"], self.tenant, row["child_id"], row["requester"],
            row["received_on"], row["due_on"], row["opened_by"],
        )  # fmt: skip

    async def request(self, request_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM subject_access_requests WHERE request_id = $1"
            + (" FOR UPDATE" if lock else ""),
            request_id,
        )
        return self.owned(row, "subject access request", request_id, field="request_id")

    async def extend(self, request_id: uuid.UUID, months: int, reason: str, due_on: date) -> None:
        await self.conn.execute(
            "UPDATE subject_access_requests SET extension_months = $2, extension_reason = $3,"
            " due_on = $4 WHERE request_id = $1",
            request_id, months, reason, due_on,
        )  # fmt: skip

    async def answered(self, request_id: uuid.UUID, on: date) -> None:
        await self.conn.execute(
            "UPDATE subject_access_requests SET status = 'answered', answered_on = $2"
            " WHERE request_id = $1",
            request_id,
            on,
        )

    async def due_soon(self, today: date, within_days: int) -> list[asyncpg.Record]:
        """Open requests due within ``within_days`` not yet reminded for their due date."""
        return list(
            await self.conn.fetch(
                "SELECT * FROM subject_access_requests WHERE tenant = $1 AND status = 'open'"
                " AND due_on <= $2 AND reminded_for IS DISTINCT FROM due_on FOR UPDATE",
                self.tenant,
                date.fromordinal(today.toordinal() + within_days),
            )
        )

    async def reminded(self, request_id: uuid.UUID, due_on: date) -> None:
        await self.conn.execute(
            "UPDATE subject_access_requests SET reminded_for = $2 WHERE request_id = $1",
            request_id,
            due_on,
        )

    async def place_hold(self, row: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO legal_holds (hold_id, tenant, child_id, reason, placed_by, held_from)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            row["hold_id"], self.tenant, row["child_id"], row["reason"], row["placed_by"],
            row["held_from"],
        )  # fmt: skip

    async def hold(self, hold_id: uuid.UUID) -> asyncpg.Record | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM legal_holds WHERE hold_id = $1 FOR UPDATE", hold_id
        )
        return self.owned(row, "legal hold", hold_id, field="hold_id")

    async def lift_hold(self, hold_id: uuid.UUID, by: str, reason: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE legal_holds SET lifted_by = $2, lift_reason = $3, lifted_at = $4"
            " WHERE hold_id = $1",
            hold_id, by, reason, at,
        )  # fmt: skip

    async def due_for_erasure(self, today: date, years: int) -> list[asyncpg.Record]:
        """Children whose casework retention has ended by ``today``, not held, not erased."""
        return list(
            await self.conn.fetch(
                "SELECT c.child_id, (c.date_of_birth + make_interval(years => $3))::date AS due"
                " FROM children c WHERE c.tenant = $1 AND c.date_of_birth IS NOT NULL"
                " AND (c.date_of_birth + make_interval(years => $3))::date <= $2"
                " AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant = c.tenant"
                "   AND h.child_id = c.child_id AND h.lifted_at IS NULL)"
                " AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.tenant = c.tenant"
                "   AND e.child_id = c.child_id AND e.record_type = 'casework')",
                self.tenant,
                today,
                years,
            )
        )

    async def held(self, child_id: uuid.UUID) -> bool:
        """Whether a legal hold on the child stands."""
        found: bool = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM legal_holds WHERE tenant = $1 AND child_id = $2"
            " AND lifted_at IS NULL)",
            self.tenant,
            child_id,
        )
        return found

    async def erasure_of(self, child_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.conn.fetchrow(
            "SELECT * FROM erasures WHERE tenant = $1 AND child_id = $2"
            " AND record_type = 'casework'",
            self.tenant,
            child_id,
        )

    async def order_erasure(self, row: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO erasures (erasure_id, tenant, child_id, rule, record_type, due_on,"
            " ordered_at, awaiting, ordered_by, reason)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            row["erasure_id"], self.tenant, row["child_id"], row["rule"], row["record_type"],
            row["due_on"], row["ordered_at"], row["awaiting"], row["ordered_by"], row["reason"],
        )  # fmt: skip

    async def confirm_erasure(
        self, erasure_id: uuid.UUID, service: str, rows: int, at: datetime
    ) -> asyncpg.Record | None:
        """Record one service's confirmation; the erasure as it now stands (None: unknown)."""
        await self.conn.execute(
            "INSERT INTO erasure_confirmations (erasure_id, service, rows, at)"
            " SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM erasures WHERE erasure_id = $1)"
            " ON CONFLICT DO NOTHING",
            erasure_id, service, rows, at,
        )  # fmt: skip
        row = await self.conn.fetchrow(
            "SELECT e.*, ARRAY(SELECT service FROM erasure_confirmations c"
            " WHERE c.erasure_id = e.erasure_id) AS confirmed"
            " FROM erasures e WHERE e.erasure_id = $1 FOR UPDATE",
            erasure_id,
        )
        return self.owned(row, "erasure", erasure_id, field="erasure_id")

    async def complete_erasure(
        self, erasure_id: uuid.UUID, child_id: uuid.UUID, at: datetime
    ) -> None:
        """Every holder confirmed: privacy forgets the child's date of birth too."""
        await self.conn.execute(
            "UPDATE erasures SET completed_at = $2 WHERE erasure_id = $1", erasure_id, at
        )
        await self.conn.execute(
            "UPDATE children SET date_of_birth = NULL, known_from = 'erased',"
            " updated_at = clock_timestamp() WHERE tenant = $1 AND child_id = $2",
            self.tenant,
            child_id,
        )
