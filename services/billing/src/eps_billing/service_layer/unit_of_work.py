"""The billing service's unit of work: its repositories, bound to one local authority, and the
authority's pricing lock."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

from eps_billing.adapters.repository import (
    AgreementRepository,
    CancellationRepository,
    DeliveryRepository,
    DocumentRepository,
    PostgresAgreementRepository,
    PostgresCancellationRepository,
    PostgresDeliveryRepository,
    PostgresDocumentRepository,
    PostgresPriceRepository,
    PostgresSchoolRepository,
    PostgresTariffRepository,
    PriceRepository,
    SchoolRepository,
    TariffRepository,
)


class BillingUnitOfWork(UnitOfWork):
    tariffs: TariffRepository
    schools: SchoolRepository
    deliveries: DeliveryRepository
    cancellations: CancellationRepository
    agreements: AgreementRepository
    prices: PriceRepository
    documents: DocumentRepository

    async def lock_pricing(self, *, exclusive: bool) -> None:
        """Hold the authority's pricing lock until the transaction ends.

        Pricing delivered time and cancellations holds it shared, before reading the tariffs
        and SLAs it prices against; whatever changes those (a tariff written or confirmed, an
        SLA bought, changed or cancelled, a school registered) holds it exclusive. So a delivery
        is never held for want of a tariff committed while it was being priced, unseen by the
        tariff's own pass over what was held. Those changes are rare; consumers wait only
        briefly. (One transaction alone, as in a unit test, needs no lock.)
        """


class PostgresBillingUnitOfWork(PostgresUnitOfWork, BillingUnitOfWork):
    repositories = {
        "tariffs": PostgresTariffRepository,
        "schools": PostgresSchoolRepository,
        "deliveries": PostgresDeliveryRepository,
        "cancellations": PostgresCancellationRepository,
        "agreements": PostgresAgreementRepository,
        "prices": PostgresPriceRepository,
        "documents": PostgresDocumentRepository,
    }

    async def lock_pricing(self, *, exclusive: bool) -> None:
        sql = "SELECT pg_advisory_xact_lock(hashtext($1))"
        if not exclusive:
            sql = "SELECT pg_advisory_xact_lock_shared(hashtext($1))"
        await self.conn.execute(sql, f"billing-pricing:{self.tenant}")
