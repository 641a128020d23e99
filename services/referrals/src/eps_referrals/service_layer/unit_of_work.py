"""The referrals service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

import asyncpg
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
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
    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(conn, context, source, clock)
        self.referrals = PostgresReferralRepository(self)
        self.schools = PostgresSchoolRepository(self)
        self.consent = PostgresConsentStatusRepository(self)
        self.configuration = PostgresConfigurationRepository(self)
