"""The statutory service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

import asyncpg
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_statutory.adapters.repository import (
    AdviceRepository,
    PolicyRepository,
    PostgresAdviceRepository,
    PostgresPolicyRepository,
    PostgresSchoolRepository,
    PostgresTribunalTaskRepository,
    SchoolRepository,
    TribunalTaskRepository,
)


class StatutoryUnitOfWork(UnitOfWork):
    advice: AdviceRepository
    policies: PolicyRepository
    schools: SchoolRepository
    tribunal_tasks: TribunalTaskRepository


class PostgresStatutoryUnitOfWork(PostgresUnitOfWork, StatutoryUnitOfWork):
    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(conn, context, source, clock)
        self.advice = PostgresAdviceRepository(self)
        self.policies = PostgresPolicyRepository(self)
        self.schools = PostgresSchoolRepository(self)
        self.tribunal_tasks = PostgresTribunalTaskRepository(self)
