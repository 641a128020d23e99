"""The privacy service's unit of work: its repository, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_privacy.adapters.repository import PostgresPrivacyRepository, PrivacyRepository


class PrivacyUnitOfWork(UnitOfWork):
    records: PrivacyRepository


class PostgresPrivacyUnitOfWork(PostgresUnitOfWork, PrivacyUnitOfWork):
    records: PostgresPrivacyRepository
    repositories = {"records": PostgresPrivacyRepository}
