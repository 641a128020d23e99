"""The statutory service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

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
    repositories = {
        "advice": PostgresAdviceRepository,
        "policies": PostgresPolicyRepository,
        "schools": PostgresSchoolRepository,
        "tribunal_tasks": PostgresTribunalTaskRepository,
    }
