"""The console's unit of work: its read model, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_console.adapters.repository import PostgresReadModelRepository, ReadModelRepository


class ConsoleUnitOfWork(UnitOfWork):
    board: ReadModelRepository


class PostgresConsoleUnitOfWork(PostgresUnitOfWork, ConsoleUnitOfWork):
    repositories = {"board": PostgresReadModelRepository}
