"""Tariffs kept by the local authority over HTTP: created, replaced, carried forward, confirmed.

A tariff is one authority's rules for a span of dates; spans of one authority never overlap. A
**draft** prices nothing: carrying a year forward makes the next year's draft with the same
rules, to be checked and confirmed. A **confirmed** tariff prices everything on its dates, so
confirming one (or creating one confirmed) prices what was held for want of it
(``price_what_waited``), and replacing one re-prices everything it priced: the differences are
ledger lines, never edits of issued documents. A replacement may not give up days on which it
has priced anything (that time would be left with no price); the refusal names the date.

Every change writes the tariff's history (who, what, when, and the rules as they then were).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from eps_chassis.errors import Conflict, NotFound
from eps_chassis.unit_of_work import UnitOfWork

from eps_billing.adapters.repository import (
    AgreementRepository,
    DeliveryRepository,
    TariffRecord,
    TariffRepository,
    lock_pricing,
)
from eps_billing.domain.agreements import sla_minutes, year_label
from eps_billing.domain.commands import (
    CarryTariffForward,
    ConfirmTariff,
    CreateTariff,
    ReplaceTariff,
)
from eps_billing.domain.pricing import hours
from eps_billing.domain.tariff import (
    Tariff,
    TariffStatus,
    carried_forward,
    check_no_overlap,
    uncovered,
)
from eps_billing.service_layer import handlers


@dataclass(frozen=True, slots=True)
class PricedNow:
    """What was held for want of a tariff and is priced now."""

    deliveries: int = 0
    late_cancellations: int = 0
    agreements: int = 0


async def create_tariff(cmd: CreateTariff, uow: UnitOfWork) -> tuple[TariffRecord, PricedNow]:
    conn, tenant = uow.conn, uow.tenant
    await lock_pricing(conn, tenant, exclusive=True)  # also keeps two overlapping ones apart
    tariff = Tariff.from_rules(tenant, cmd.effective_from, cmd.effective_to, dict(cmd.rules))
    repository = TariffRepository(conn)
    check_no_overlap(tariff, [r.tariff for r in await repository.records(tenant)])
    tariff_id = uuid.uuid4()
    await repository.add(tariff_id, tariff, cmd.status, uow.context.actor, uow.clock())
    priced = PricedNow()
    if cmd.status is TariffStatus.CONFIRMED:
        priced = await price_what_waited(uow, tariff)
    return await _record(repository, tenant, tariff_id), priced


async def carry_tariff_forward(cmd: CarryTariffForward, uow: UnitOfWork) -> TariffRecord:
    """The next year's tariff as a draft: the same rules, each date moved on a year."""
    conn, tenant = uow.conn, uow.tenant
    await lock_pricing(conn, tenant, exclusive=True)
    repository = TariffRepository(conn)
    source = await _record(repository, tenant, cmd.tariff_id)
    first, last = carried_forward(source.tariff)
    tariff = replace(source.tariff, effective_from=first, effective_to=last)
    check_no_overlap(tariff, [r.tariff for r in await repository.records(tenant)])
    tariff_id = uuid.uuid4()
    await repository.add(
        tariff_id,
        tariff,
        TariffStatus.DRAFT,
        uow.context.actor,
        uow.clock(),
        carried_forward_from=source.tariff_id,
    )
    return await _record(repository, tenant, tariff_id)


async def confirm_tariff(cmd: ConfirmTariff, uow: UnitOfWork) -> tuple[TariffRecord, PricedNow]:
    """Put a draft in force and price what waited for it. Confirming again changes nothing."""
    conn, tenant = uow.conn, uow.tenant
    await lock_pricing(conn, tenant, exclusive=True)
    repository = TariffRepository(conn)
    record = await _record(repository, tenant, cmd.tariff_id)
    if record.status is TariffStatus.CONFIRMED:
        return record, PricedNow()
    await repository.confirm(tenant, cmd.tariff_id, uow.context.actor, uow.clock())
    priced = await price_what_waited(uow, record.tariff)
    return await _record(repository, tenant, cmd.tariff_id), priced


async def replace_tariff(cmd: ReplaceTariff, uow: UnitOfWork) -> tuple[TariffRecord, PricedNow]:
    """New rules or dates for a tariff, keeping its status.

    A confirmed tariff's SLAs take the new day (their minutes follow it, and are announced),
    and every delivery on its old and new dates is re-priced. Replacing with the same rules and
    dates changes nothing.
    """
    conn, tenant = uow.conn, uow.tenant
    await lock_pricing(conn, tenant, exclusive=True)
    repository = TariffRepository(conn)
    record = await _record(repository, tenant, cmd.tariff_id)
    tariff = Tariff.from_rules(tenant, cmd.effective_from, cmd.effective_to, dict(cmd.rules))
    others = [r.tariff for r in await repository.records(tenant) if r.tariff_id != cmd.tariff_id]
    check_no_overlap(tariff, others)
    confirmed = record.status is TariffStatus.CONFIRMED
    if confirmed:
        for field, first, last in uncovered(record.tariff, tariff):
            priced = await repository.priced_with(tenant, first, last)
            if any(priced.values()):
                raise Conflict(
                    f"the tariff has priced {_describe(priced)} between {first} and {last}; a"
                    " replacement must keep covering those days",
                    field=field,
                )
    if tariff == record.tariff:
        return record, PricedNow()
    await repository.replace(cmd.tariff_id, tariff, uow.context.actor, uow.clock())
    if not confirmed:
        return await _record(repository, tenant, cmd.tariff_id), PricedNow()
    await _agreements_follow(uow, tariff)
    first = min(record.tariff.effective_from, tariff.effective_from)
    last = max(record.tariff.effective_to, tariff.effective_to)
    span = replace(tariff, effective_from=first, effective_to=last)
    priced_now = await price_what_waited(uow, span, everything=True)
    return await _record(repository, tenant, cmd.tariff_id), priced_now


def _describe(priced: dict[str, int]) -> str:
    names = {"deliveries": "deliveries", "agreements": "SLAs", "cancellations": "cancellations"}
    return ", ".join(f"{n} {names[k]}" for k, n in priced.items() if n)


async def _agreements_follow(uow: UnitOfWork, tariff: Tariff) -> None:
    """The SLAs a replaced tariff priced take its day: their minutes are the days at the new
    length of a day (plus what they carry over), at the new day price. Their days stay as
    bought, even outside new limits: the limits apply to purchases and changes from now on."""
    agreements = AgreementRepository(uow.conn)
    tariffs = await handlers.load_tariffs(uow.conn, uow.tenant)
    for record in await agreements.priced_starting(
        uow.tenant, tariff.effective_from, tariff.effective_to
    ):
        if (record.day_minutes, record.day_pence) == (tariff.sla_day_minutes, tariff.sla_day_pence):
            continue
        await agreements.set_terms(
            uow.tenant,
            record.agreement_id,
            days=record.days,
            day_minutes=tariff.sla_day_minutes,
            day_pence=tariff.sla_day_pence,
            minutes=sla_minutes(record.days, tariff.sla_day_minutes, record.carried_minutes),
            reason=f"the tariff for {year_label(record.academic_year)} was replaced: a day is"
            f" {hours(tariff.sla_day_minutes)}",
        )
        # the whole year draws on the new balance, past the tariff's own days if it ends sooner
        await handlers.reprice_year(
            uow.conn, tariffs, record.school_urn, record.valid_from, record.valid_to, uow.clock()
        )


async def price_what_waited(
    uow: UnitOfWork, tariff: Tariff, *, everything: bool = False
) -> PricedNow:
    """Price what was held for want of a confirmed tariff on the tariff's days: SLAs starting
    then (if their school is known and their days within its limits), cancellations whose
    notice it judges, and delivered time (each in its own period and draw order). With
    ``everything``, every delivery on those days is re-priced too (a replaced tariff)."""
    conn, tenant, now = uow.conn, uow.tenant, uow.clock()
    first, last = tariff.effective_from, tariff.effective_to
    tariffs = await handlers.load_tariffs(conn, tenant)
    agreements = AgreementRepository(conn)
    deliveries = DeliveryRepository(conn)
    held_before = await deliveries.count_held(tenant, first, last)
    held_agreements = await agreements.held(tenant, starting=(first, last))
    priced_agreements = await handlers.price_held_agreements(conn, tariffs, held_agreements, now)
    judged = await handlers.judge_held_cancellations(conn, tariffs, first, last, now)
    if everything:
        touched = await deliveries.between(tenant, first, last)
    else:
        touched = await deliveries.held_between(tenant, first, last)
    if touched:
        rows = await agreements.for_schools(tenant, sorted({d.school_urn for d in touched}))
        await handlers.reprice(conn, tariffs, touched, rows, now=now)
    if everything:
        schools = await agreements.schools_near(tenant, first, last)
        await handlers.carry_over_balances(conn, tariffs, schools, now)
    await handlers.announce_agreements(uow)
    held_after = await deliveries.count_held(tenant, first, last) if held_before else 0
    return PricedNow(held_before - held_after, judged, priced_agreements)


async def _record(repository: TariffRepository, tenant: str, tariff_id: uuid.UUID) -> TariffRecord:
    record = await repository.get(tenant, tariff_id)
    if record is None:
        raise NotFound(f"{tenant} has no tariff {tariff_id}", field="tariff_id")
    return record
