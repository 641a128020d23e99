"""The consent service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

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
    repositories = {
        "cases": PostgresConsentCaseRepository,
        "policies": PostgresConsentPolicyRepository,
    }
