"""Service-layer handlers: load, call the domain, save, publish, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from eps_chassis.errors import Conflict, DomainError, NotFound
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts.billing import CreditNoteIssued, InvoiceIssued

from eps_billing.adapters.repository import (
    AgreementRepository,
    AgreementRow,
    CancellationRepository,
    DeliveryRepository,
    DocumentRepository,
    DrawState,
    NewLine,
    PriceRepository,
    TariffRepository,
)
from eps_billing.domain.cancellation import (
    CancellationCharge,
    CancelledAppointment,
    cancellation_charge,
    charge_delivery,
    waiver,
)
from eps_billing.domain.commands import (
    BuyServiceLevelAgreement,
    ChargeCancellation,
    CorrectDeliveredTime,
    DeliveredTimeCommand,
    RecordDeliveredTime,
    VoidDeliveredTime,
    WaiveCancellationCharge,
)
from eps_billing.domain.invoicing import (
    DocumentKind,
    DocumentLine,
    document_id,
    document_number,
    price_change,
    settle,
)
from eps_billing.domain.pricing import (
    Agreement,
    Delivery,
    Priced,
    carried_over,
    follows,
    price_deliveries,
)
from eps_billing.domain.tariff import BillingPeriod, Tariff, closes_at, london_date

AGREEMENT_NAMESPACE = uuid.UUID("0b6f8e0c-7d0c-4d52-8f0e-2f9c6a1d3b57")


class Tariffs:
    """One tenant's tariffs, looked up by date."""

    def __init__(self, tenant: str, tariffs: Sequence[Tariff]) -> None:
        self.tenant = tenant
        self.tariffs = tuple(tariffs)
        self._by_day: dict[date, Tariff | None] = {}  # pricing asks several times per delivery

    def find(self, day: date) -> Tariff | None:
        try:
            return self._by_day[day]
        except KeyError:
            found = self._by_day[day] = next((t for t in self.tariffs if t.covers(day)), None)
            return found

    def at(self, day: date) -> Tariff:
        tariff = self.find(day)
        if tariff is None:
            raise DomainError(f"{self.tenant} has no tariff in force on {day}", field="date")
        return tariff

    def latest_before(self, day: date) -> Tariff | None:
        started = [t for t in self.tariffs if t.effective_from <= day]
        return started[-1] if started else (self.tariffs[0] if self.tariffs else None)


@dataclass(frozen=True, slots=True)
class Refusal:
    event_id: uuid.UUID
    reason: str


# --- pricing delivered time -----------------------------------------------------------------


async def price_delivered_time(
    cmds: Sequence[DeliveredTimeCommand], conn: asyncpg.Connection
) -> Refusal | None:
    """Store a batch of delivered-time facts and re-price every delivery they touch.

    Returns the first event that cannot be priced (no tariff for its local authority and date)
    without changing anything, so that the caller can dead-letter it and run the batch again.
    """
    by_tenant: dict[str, list[DeliveredTimeCommand]] = {}
    for cmd in cmds:
        by_tenant.setdefault(cmd.tenant, []).append(cmd)
    loaded = {t: Tariffs(t, await TariffRepository(conn).for_tenant(t)) for t in by_tenant}
    for tenant, group in by_tenant.items():
        for cmd in group:
            if (
                isinstance(cmd, RecordDeliveredTime)
                and loaded[tenant].find(cmd.delivered_on) is None
            ):
                return Refusal(
                    cmd.event_id, f"{tenant} has no tariff in force on {cmd.delivered_on}"
                )
    for tenant, group in by_tenant.items():
        await _price_tenant_batch(conn, loaded[tenant], group)
    return None


async def _price_tenant_batch(
    conn: asyncpg.Connection, tariffs: Tariffs, cmds: Sequence[DeliveredTimeCommand]
) -> None:
    tenant = tariffs.tenant
    deliveries = DeliveryRepository(conn)
    recorded = [c for c in cmds if isinstance(c, RecordDeliveredTime)]
    changes = [c for c in cmds if isinstance(c, CorrectDeliveredTime | VoidDeliveredTime)]
    await deliveries.add_changes(tenant, changes)
    new_ids = await deliveries.add_recorded(tenant, recorded)
    # deliveries new to the database are built from their events, with any change that
    # overtook them; deliveries seen before are loaded as they stand
    waiting = await deliveries.changes_of(tenant, list(new_ids))
    fresh: dict[uuid.UUID, Delivery] = {}
    for c in recorded:  # the first of two recordings in one batch is the one stored
        if c.delivery_id in new_ids and c.delivery_id not in fresh:
            fresh[c.delivery_id] = Delivery(
                c.delivery_id,
                c.school_urn,
                c.delivered_on,
                c.minutes,
                c.funding_stream,
                c.recorded_at,
                late_cancellation=c.late_cancellation,
            ).with_changes(waiting.get(c.delivery_id, ()))
    known = list({c.delivery_id for c in cmds} - new_ids)
    touched = [*fresh.values(), *await deliveries.by_ids(tenant, known)]
    if not touched:
        return  # only corrections or voids of deliveries not seen yet: they wait
    agreements = await AgreementRepository(conn).for_schools(
        tenant, list({d.school_urn for d in touched})
    )
    await reprice(conn, tariffs, touched, agreements, new_ids)


async def reprice(
    conn: asyncpg.Connection,
    tariffs: Tariffs,
    touched: Sequence[Delivery],
    agreements: Sequence[AgreementRow],
    new_ids: AbstractSet[uuid.UUID] = frozenset(),
    *,
    carry: bool = True,
) -> None:
    """Re-price deliveries and everything their SLA draw-down affects; record the differences.

    Deliveries outside any SLA are priced alone. Under an SLA, a change can only move the
    balance under deliveries drawn after it: the deliveries from the earliest touched one on (in
    draw order) are re-priced, on top of the minutes drawn before it. New deliveries recorded
    after every delivery already priced against the SLA are simply priced on top of its balance.
    When a school has SLAs for consecutive years, a changed balance moves the time carried into
    the next year (``carry``).
    """
    tenant = tariffs.tenant
    alone: list[Delivery] = []
    by_agreement: dict[uuid.UUID, list[Delivery]] = {}
    rows = {a.agreement.agreement_id: a for a in agreements}
    by_school: dict[str, list[AgreementRow]] = {}
    for a in agreements:
        by_school.setdefault(a.agreement.school_urn, []).append(a)
    for delivery in touched:
        row = next(
            (
                a
                for a in by_school.get(delivery.school_urn, ())
                if a.agreement.covers(delivery.delivered_on)
            ),
            None,
        )
        if row is None:
            alone.append(delivery)
        else:
            by_agreement.setdefault(row.agreement.agreement_id, []).append(delivery)
    suffixes: dict[uuid.UUID, list[Delivery]] = {}
    to_load: list[uuid.UUID] = []
    for agreement_id, group in by_agreement.items():
        row = rows[agreement_id]
        first = min(d.draw_order for d in group)
        if row.exhausted_key is not None and first > row.exhausted_key:
            suffixes[agreement_id] = group  # the SLA ran out before them: they draw nothing
        elif all(d.delivery_id in new_ids for d in group) and (
            row.last_key is None or first > row.last_key
        ):
            suffixes[agreement_id] = group  # nothing priced after them yet
        else:
            to_load.append(agreement_id)
    loaded = await DeliveryRepository(conn).drawn_after(
        tenant,
        [
            (a.school_urn, a.valid_from, a.valid_to, min(d.draw_order for d in by_agreement[i]))
            for i in to_load
            for a in [rows[i].agreement]
        ],
    )
    suffixes.update(zip(to_load, loaded, strict=True))
    scope = {d.delivery_id: d for d in alone}
    for group in suffixes.values():
        scope.update({d.delivery_id: d for d in group})
    prices = PriceRepository(conn)
    before = await prices.current(tenant, [i for i in scope if i not in new_ids])
    new_prices, _ = price_deliveries(alone, tariffs.at)
    draw_states = []
    for agreement_id, group in suffixes.items():
        row = rows[agreement_id]
        drawn_before = row.drawn_minutes - sum(
            before[d.delivery_id].sla_minutes for d in group if d.delivery_id in before
        )
        priced, drawn = price_deliveries(
            group, tariffs.at, [row.agreement], already_drawn={agreement_id: drawn_before}
        )
        new_prices.extend(priced)
        draw_states.append(_draw_state(row, group, priced, drawn_before, drawn[agreement_id]))
    changed: list[Priced] = []
    lines: list[NewLine] = []
    for after in new_prices:
        delta = price_change(before.get(after.delivery_id), after)
        if after.delivery_id not in before or delta is not None:
            changed.append(after)
        if delta is None:
            continue
        delivery = scope[after.delivery_id]
        lines.append(
            NewLine(
                delivery.school_urn,
                delivery.delivery_id,
                delivery.delivered_on,
                tariffs.at(delivery.delivered_on).period_of(delivery.delivered_on).start,
                delta.pence,
                delta.sla_minutes,
                delta.spot_minutes,
                f"late cancellation: {delta.description}"
                if delivery.late_cancellation
                else delta.description,
            )
        )
    await prices.save(tenant, changed, lines)
    await AgreementRepository(conn).set_drawn(tenant, draw_states)
    if carry:
        schools = {rows[state.agreement_id].agreement.school_urn for state in draw_states}
        chained = [school for school in schools if len(by_school.get(school, ())) > 1]
        if chained:
            await carry_over_balances(conn, tariffs, chained)


async def carry_over_balances(
    conn: asyncpg.Connection, tariffs: Tariffs, schools: Sequence[str]
) -> None:
    """Bring the time carried from each SLA into the school's next year's SLA up to date.

    Walks each school's SLAs in date order. Where the carried minutes (``carried_over`` of the
    previous year as it now stands) differ from those recorded, the next SLA's minutes change
    and the deliveries of its year are re-priced: the differences become ledger lines, and the
    year after that is brought up to date in turn.
    """
    tenant = tariffs.tenant
    agreements = AgreementRepository(conn)
    for school in sorted(set(schools)):
        rows = await agreements.for_schools(tenant, [school])
        for i in range(1, len(rows)):
            previous, row = rows[i - 1], rows[i]
            if not follows(previous.agreement, row.agreement):
                continue
            tariff = tariffs.find(previous.agreement.valid_from)
            carried = carried_over(
                previous.agreement,
                previous.drawn_minutes,
                tariff is not None and tariff.sla_carry_over,
            )
            if carried == row.carried_minutes:
                continue
            minutes = row.agreement.minutes - row.carried_minutes + carried
            await agreements.set_carried(tenant, row.agreement.agreement_id, minutes, carried)
            rows[i] = AgreementRow(
                replace(row.agreement, minutes=minutes), row.drawn_minutes, None, None, carried
            )
            in_year = await DeliveryRepository(conn).in_window(
                tenant, school, row.agreement.valid_from, row.agreement.valid_to
            )
            if in_year:
                await reprice(conn, tariffs, in_year, rows, carry=False)
                rows = await agreements.for_schools(tenant, [school])  # the balances now


def _draw_state(
    row: AgreementRow,
    group: Sequence[Delivery],
    priced: Sequence[Priced],
    drawn_before: int,
    drawn: int,
) -> DrawState:
    """An SLA's balance after re-pricing ``group`` (every delivery it holds from some point on,
    in draw order, on top of ``drawn_before`` minutes drawn earlier)."""
    keys = [d.draw_order for d in group] + ([row.last_key] if row.last_key else [])
    exhausted = row.exhausted_key if drawn_before >= row.agreement.minutes else None
    if exhausted is None and drawn >= row.agreement.minutes:
        orders = {d.delivery_id: d.draw_order for d in group}
        running = drawn_before
        for p in sorted(priced, key=lambda p: orders[p.delivery_id]):
            running += p.sla_minutes
            if running >= row.agreement.minutes:
                exhausted = orders[p.delivery_id]
                break
    return DrawState(row.agreement.agreement_id, drawn, max(keys, default=None), exhausted)


# --- late cancellations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancellationOutcome:
    charge: CancellationCharge
    first: bool  # False: the appointment's cancellation was judged before; nothing changed


async def charge_cancellation(
    cmd: ChargeCancellation, conn: asyncpg.Connection
) -> CancellationOutcome:
    """Judge a cancelled appointment by the tariff's cancellation rule, once per appointment.

    The judgement is recorded whether or not it charges, and the first one recorded for an
    appointment counts: a second cancellation event for it (re-sent with a new id) changes
    nothing. A charge is stored as traded time delivered on the appointment's date and priced
    with the school's other deliveries (SLA first, then spot), so it reaches the draft and the
    next invoice like delivered time. Raises ``DomainError`` when traded time has no tariff.
    """
    tariffs = Tariffs(cmd.tenant, await TariffRepository(conn).for_tenant(cmd.tenant))
    cancelled = CancelledAppointment(
        cmd.appointment_id,
        cmd.school_urn,
        cmd.funding_stream,
        cmd.starts_at,
        cmd.ends_at,
        cmd.cancelled_at,
        cmd.cancelled_by,
    )
    charge = cancellation_charge(tariffs.at, cancelled)
    delivery = charge_delivery(cancelled, charge) if charge.charged else None
    recorded = await CancellationRepository(conn).add(
        cmd, charge, delivery.delivery_id if delivery else None
    )
    if recorded and delivery is not None:
        record = RecordDeliveredTime(
            event_id=cmd.event_id,
            tenant=cmd.tenant,
            delivery_id=delivery.delivery_id,
            school_urn=delivery.school_urn,
            delivered_on=delivery.delivered_on,
            minutes=delivery.minutes,
            funding_stream=delivery.funding_stream,
            recorded_at=delivery.recorded_at,
            late_cancellation=True,
        )
        await _price_tenant_batch(conn, tariffs, [record])
    return CancellationOutcome(charge, recorded)


async def waive_cancellation_charge(cmd: WaiveCancellationCharge, uow: UnitOfWork) -> str:
    """Void an appointment's cancellation charge; returns the school it was charged to.

    Before the charge is invoiced it leaves the draft (and gives back any SLA time it drew);
    after, the next document credits it. Waiving again changes nothing.
    """
    found = await CancellationRepository(uow.conn).charge_of(uow.tenant, cmd.appointment_id)
    if found is None:
        raise NotFound(f"appointment {cmd.appointment_id} has no cancellation charge")
    charge, school_urn = found
    refusal = await price_delivered_time([waiver(uow.tenant, charge, cmd.reason, cmd.at)], uow.conn)
    assert refusal is None, "only a recording can lack a tariff"
    return school_urn


# --- agreements ---------------------------------------------------------------------------


async def buy_service_level_agreement(cmd: BuyServiceLevelAgreement, uow: UnitOfWork) -> Agreement:
    """Record a school's SLA for an academic year, within the authority's limits.

    Unused minutes of the previous year's SLA are added when that year's tariff carries them
    over (and kept up to date as that year's balance moves; see ``carry_over_balances``), and
    this year's unused minutes go to an SLA already bought for the next year. Deliveries of the
    year already priced are re-priced against the new balance.
    """
    tariffs = Tariffs(uow.tenant, await TariffRepository(uow.conn).for_tenant(uow.tenant))
    valid_from = date(cmd.academic_year, 9, 1)
    valid_to = date(cmd.academic_year + 1, 8, 31)
    tariff = tariffs.find(valid_from)
    if tariff is None:
        raise DomainError(
            f"{uow.tenant} has no tariff for the academic year starting {valid_from}",
            field="academic_year",
        )
    tariff.check_sla_days(cmd.days)
    agreements = AgreementRepository(uow.conn)
    await agreements.hold_new_deliveries()
    await agreements.for_schools(uow.tenant, [cmd.school_urn])  # lock the school's SLAs
    agreement = Agreement(
        uuid.uuid5(AGREEMENT_NAMESPACE, f"{uow.tenant}/{cmd.school_urn}/{valid_from}"),
        cmd.school_urn,
        valid_from,
        valid_to,
        cmd.days * tariff.sla_day_minutes,
    )
    if not await agreements.add(uow.tenant, agreement, cmd.days, tariff.sla_day_pence, 0):
        raise Conflict(
            f"school {cmd.school_urn} already has an SLA for {cmd.academic_year}/"
            f"{(cmd.academic_year + 1) % 100:02d}",
            field="academic_year",
        )
    in_year = await DeliveryRepository(uow.conn).in_window(
        uow.tenant, cmd.school_urn, valid_from, valid_to
    )
    if in_year:
        rows = await agreements.for_schools(uow.tenant, [cmd.school_urn])
        await reprice(uow.conn, tariffs, in_year, rows)
    await carry_over_balances(uow.conn, tariffs, [cmd.school_urn])
    rows = await agreements.for_schools(uow.tenant, [cmd.school_urn])
    return next(r.agreement for r in rows if r.agreement.agreement_id == agreement.agreement_id)


# --- finalising invoices ------------------------------------------------------------------


async def finalise_due_invoices(tenant: str, now: datetime, uow: UnitOfWork) -> list[str]:
    """Close every billing period whose grace has passed; returns the document numbers issued.

    Each closed period settles the tenant's unsettled lines of that period and of any earlier
    one (late events after their period closed: adjustments on this next invoice). Numbers are
    taken from the tenant's counter row, locked until this transaction commits: gapless.
    """
    documents = DocumentRepository(uow.conn)
    await documents.lock_tenant(tenant)
    tariffs = Tariffs(tenant, await TariffRepository(uow.conn).for_tenant(tenant))
    earliest = await documents.earliest_open(tenant)
    if earliest is None:
        return []
    last = await documents.last_finalised(tenant)
    tariff = tariffs.latest_before(earliest)
    assert tariff is not None
    period = tariff.period_of(earliest)
    if last is not None and period.start <= last:
        closed = (tariffs.latest_before(last) or tariff).period_of(last)
        tariff, period = _period_from(tariffs, tariff, closed.end + timedelta(days=1))
    issued: list[str] = []
    while closes_at(period, tariff.grace_days) <= now:
        issued.extend(await _finalise_period(tenant, period, now, documents, uow))
        tariff, period = _period_from(tariffs, tariff, period.end + timedelta(days=1))
    return issued


def _period_from(tariffs: Tariffs, fallback: Tariff, day: date) -> tuple[Tariff, BillingPeriod]:
    """The period starting on ``day`` (the day after the last one closed), by the tariff then in
    force. Where a new tariff groups months differently, the first period under it is cut to
    start on ``day``, so that no period is closed twice."""
    tariff = tariffs.latest_before(day) or fallback
    period = tariff.period_of(day)
    return tariff, BillingPeriod(max(period.start, day), period.end)


async def _finalise_period(
    tenant: str,
    period: BillingPeriod,
    now: datetime,
    documents: DocumentRepository,
    uow: UnitOfWork,
) -> list[str]:
    issued_on = london_date(now)
    by_school = await documents.open_lines(tenant, period.start)
    all_ids = [line.delivery_id for lines in by_school.values() for line in lines]
    invoiced_before = await documents.invoiced_before(tenant, all_ids)
    numbers: list[str] = []
    for school_urn in sorted(by_school):
        settlement = settle(by_school[school_urn], invoiced_before, period.start)
        silent = list(settlement.settled_silently)
        for kind, lines in (
            (DocumentKind.INVOICE, settlement.invoice),
            (DocumentKind.CREDIT_NOTE, settlement.credit_note),
        ):
            if sum(line.pence for line in lines) == 0:
                silent.extend(i for line in lines for i in line.line_ids)
                continue
            numbers.append(
                await _issue(tenant, kind, school_urn, period, issued_on, lines, documents, uow)
            )
        if silent:
            await documents.settle(tenant, silent, issued_on, None)
    await documents.mark_finalised(tenant, period, now)
    return numbers


async def _issue(
    tenant: str,
    kind: DocumentKind,
    school_urn: str,
    period: BillingPeriod,
    issued_on: date,
    lines: Sequence[DocumentLine],
    documents: DocumentRepository,
    uow: UnitOfWork,
) -> str:
    number = document_number(tenant, kind, await documents.next_number(tenant, kind))
    doc_id = document_id(tenant, school_urn, period.start, kind)
    total = await documents.add_document(
        tenant, doc_id, kind, number, school_urn, period, issued_on, lines
    )
    await documents.settle(tenant, [i for line in lines for i in line.line_ids], issued_on, doc_id)
    common: dict[str, Any] = dict(
        number=number,
        school_urn=school_urn,
        period_start=period.start,
        period_end=period.end,
        issued_on=issued_on,
        line_count=len(lines),
    )
    uow.publish(
        InvoiceIssued(invoice_id=doc_id, total_pence=total, **common)
        if kind is DocumentKind.INVOICE
        else CreditNoteIssued(credit_note_id=doc_id, total_pence=-total, **common)
    )
    return number
