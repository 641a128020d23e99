"""The incidents service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

import asyncpg
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_incidents.adapters.repository import (
    ConfigurationRepository,
    IncidentRepository,
    PostgresConfigurationRepository,
    PostgresIncidentRepository,
    PostgresRotaRepository,
    RotaRepository,
)


class IncidentsUnitOfWork(UnitOfWork):
    incidents: IncidentRepository
    rota: RotaRepository
    configuration: ConfigurationRepository


class PostgresIncidentsUnitOfWork(PostgresUnitOfWork, IncidentsUnitOfWork):
    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(conn, context, source, clock)
        self.incidents = PostgresIncidentRepository(self)
        self.rota = PostgresRotaRepository(self)
        self.configuration = PostgresConfigurationRepository(self)
