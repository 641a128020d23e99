"""The consent service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

import asyncpg
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_consent.adapters.repository import (
    ConsentCaseRepository,
    ConsentPolicyRepository,
    PostgresConsentCaseRepository,
    PostgresConsentPolicyRepository,
)


class ConsentUnitOfWork(UnitOfWork):
    cases: ConsentCaseRepository
    policies: ConsentPolicyRepository


class PostgresConsentUnitOfWork(PostgresUnitOfWork, ConsentUnitOfWork):
    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(conn, context, source, clock)
        self.cases = PostgresConsentCaseRepository(self)
        self.policies = PostgresConsentPolicyRepository(self)
