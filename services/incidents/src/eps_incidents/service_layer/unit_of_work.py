"""The incidents service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

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
    repositories = {
        "incidents": PostgresIncidentRepository,
        "rota": PostgresRotaRepository,
        "configuration": PostgresConfigurationRepository,
    }
