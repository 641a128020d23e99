"""The keys service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_keys.adapters.repository import (
    ChildKeyRepository,
    DeadLetterKeyRepository,
    PostgresChildKeyRepository,
    PostgresDeadLetterKeyRepository,
)


class KeysUnitOfWork(UnitOfWork):
    children: ChildKeyRepository
    dead_letters: DeadLetterKeyRepository


class PostgresKeysUnitOfWork(PostgresUnitOfWork, KeysUnitOfWork):
    repositories = {
        "children": PostgresChildKeyRepository,
        "dead_letters": PostgresDeadLetterKeyRepository,
    }
