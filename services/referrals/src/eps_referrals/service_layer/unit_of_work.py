"""The referrals service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_referrals.adapters.repository import (
    ConfigurationRepository,
    ConsentStatusRepository,
    PostgresConfigurationRepository,
    PostgresConsentStatusRepository,
    PostgresReferralRepository,
    PostgresSchoolRepository,
    ReferralRepository,
    SchoolRepository,
)


class ReferralsUnitOfWork(UnitOfWork):
    referrals: ReferralRepository
    schools: SchoolRepository
    consent: ConsentStatusRepository
    configuration: ConfigurationRepository


class PostgresReferralsUnitOfWork(PostgresUnitOfWork, ReferralsUnitOfWork):
    repositories = {
        "referrals": PostgresReferralRepository,
        "schools": PostgresSchoolRepository,
        "consent": PostgresConsentStatusRepository,
        "configuration": PostgresConfigurationRepository,
    }
