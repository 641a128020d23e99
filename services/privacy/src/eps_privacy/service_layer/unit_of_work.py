"""The privacy service's unit of work: its repository, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_privacy.adapters.repository import PostgresPrivacyRepository


class PrivacyUnitOfWork(UnitOfWork):
    records: PostgresPrivacyRepository


class PostgresPrivacyUnitOfWork(PostgresUnitOfWork, PrivacyUnitOfWork):
    repositories = {"records": PostgresPrivacyRepository}
