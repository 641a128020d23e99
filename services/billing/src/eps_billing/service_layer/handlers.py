"""Service-layer handlers: load, call the domain, save, publish, in the caller's transaction.

Nothing that can be priced is lost for want of data. Delivered time (traded or critical
incident) on a day with no confirmed tariff is stored and **held** as unpriced with the reason,
and so is a traded cancellation whose notice no tariff can judge yet, and an SLA for a year with
no confirmed tariff or for a school billing has not heard of. Each is priced as soon as the
missing data arrives (``price_what_waited``: a tariff created, confirmed or replaced;
``record_school``: scheduling registers the school), in its own billing period and draw order,
with the usual ledger lines (a period already closed gets them on its next document).

Every change of what a school may book under its SLA (bought, days changed, carry-over moved,
cancelled) is announced on ``eps.billing.agreements.v1`` in the transaction that made it
(``announce_agreements``).
"""

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
from eps_contracts.base import Event
from eps_contracts.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    ServiceLevelAgreementBought,
    ServiceLevelAgreementCancelled,
    ServiceLevelAgreementChanged,
)

from eps_billing.adapters.repository import (
    AgreementRecord,
    AgreementRepository,
    AgreementRow,
    CancellationRepository,
    DeliveryRepository,
    DocumentRepository,
    DrawState,
    NewLine,
    PriceRepository,
    SchoolRepository,
    TariffRepository,
    lock_pricing,
)
from eps_billing.domain.agreements import (
    AgreementStatus,
    Announcement,
    academic_year,
    agreement_hold,
    announcement,
    check_days_change,
    no_tariff,
    sla_minutes,
    year_label,
)
from eps_billing.domain.agreements import agreement_id as new_agreement_id
from eps_billing.domain.cancellation import (
    CancellationCharge,
    CancelledAppointment,
    cancellation_charge,
    charge_delivery,
    waiver,
)
from eps_billing.domain.cancellation import needs_tariff as judging_needs_tariff
from eps_billing.domain.commands import (
    BuyServiceLevelAgreement,
    CancelAgreement,
    ChangeAgreementDays,
    ChargeCancellation,
    CorrectDeliveredTime,
    DeliveredTimeCommand,
    RecordDeliveredTime,
    RecordSchool,
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
    hours,
    needs_tariff,
    price_deliveries,
)
from eps_billing.domain.tariff import BillingPeriod, Tariff, closes_at, london_date


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

    def hold_of(self, delivery: Delivery) -> str | None:
        """Why the delivery cannot be priced now (None: it can)."""
        if needs_tariff(delivery) and self.find(delivery.delivered_on) is None:
            return no_tariff(self.tenant, delivery.delivered_on).reason
        return None


async def load_tariffs(conn: asyncpg.Connection, tenant: str) -> Tariffs:
    """The authority's confirmed tariffs (a draft prices nothing)."""
    return Tariffs(tenant, await TariffRepository(conn).for_tenant(tenant))


# --- pricing delivered time -----------------------------------------------------------------


async def price_delivered_time(cmds: Sequence[DeliveredTimeCommand], uow: UnitOfWork) -> None:
    """Store delivered-time facts of the unit of work's authority and re-price every delivery
    they touch. Time that needs a tariff where none is confirmed is stored and held unpriced
    (never refused): a tariff confirmed later prices it in its place."""
    assert all(cmd.tenant == uow.tenant for cmd in cmds), "one authority per unit of work"
    await lock_pricing(uow.conn, uow.tenant, exclusive=False)
    tariffs = await load_tariffs(uow.conn, uow.tenant)
    schools = await _price_tenant_batch(uow.conn, tariffs, cmds, uow.clock())
    # time drawn from one year moves what it carries over into the next; only these schools'
    # SLAs can have moved, and this transaction holds their rows already
    await announce_agreements(uow, schools)


async def _price_tenant_batch(
    conn: asyncpg.Connection,
    tariffs: Tariffs,
    cmds: Sequence[DeliveredTimeCommand],
    now: datetime,
) -> list[str]:
    """Store and price the facts; returns the schools whose deliveries were priced."""
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
        return []  # only corrections or voids of deliveries not seen yet: they wait
    schools = sorted({d.school_urn for d in touched})
    agreements = await AgreementRepository(conn).for_schools(tenant, schools)
    await reprice(conn, tariffs, touched, agreements, new_ids, now=now)
    return schools


async def reprice(
    conn: asyncpg.Connection,
    tariffs: Tariffs,
    touched: Sequence[Delivery],
    agreements: Sequence[AgreementRow],
    new_ids: AbstractSet[uuid.UUID] = frozenset(),
    *,
    now: datetime,
    carry: bool = True,
) -> None:
    """Re-price deliveries and everything their SLA draw-down affects; record the differences.

    A delivery that needs a tariff where none is confirmed is held: it draws nothing and keeps
    whatever price it had (a free one: time is never priced on a day that later loses its
    tariff, see ``tariffs.replace_tariff``); once priced it takes its place in draw order.

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
    held = {i: reason for i, d in scope.items() if (reason := tariffs.hold_of(d)) is not None}
    # hold what has no tariff; release what was held and has one now (new rows are not held)
    await DeliveryRepository(conn).set_held(
        tenant,
        {i: held.get(i) for i in scope if i in held or i not in new_ids},
        now,
    )
    prices = PriceRepository(conn)
    before = await prices.current(tenant, [i for i in scope if i not in new_ids and i not in held])
    new_prices, _ = price_deliveries([d for d in alone if d.delivery_id not in held], tariffs.at)
    draw_states = []
    for an_id, whole in suffixes.items():
        row = rows[an_id]
        drawn_before = row.drawn_minutes - sum(
            before[d.delivery_id].sla_minutes for d in whole if d.delivery_id in before
        )
        group = [d for d in whole if d.delivery_id not in held]
        priced, drawn = price_deliveries(
            group, tariffs.at, [row.agreement], already_drawn={an_id: drawn_before}
        )
        new_prices.extend(priced)
        draw_states.append(_draw_state(row, group, priced, drawn_before, drawn[an_id]))
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
            await carry_over_balances(conn, tariffs, chained, now)


async def carry_over_balances(
    conn: asyncpg.Connection, tariffs: Tariffs, schools: Sequence[str], now: datetime
) -> None:
    """Bring the time carried from each SLA into the school's next year's SLA up to date.

    Walks each school's priced SLAs in date order. Where the carried minutes (``carried_over``
    of the previous year as it now stands; none when there is no priced SLA for the year just
    before, e.g. it was cancelled) differ from those recorded, the SLA's minutes change, with
    the reason to announce, and the deliveries of its year are re-priced: the differences
    become ledger lines, and the year after that is brought up to date in turn.
    """
    tenant = tariffs.tenant
    agreements = AgreementRepository(conn)
    for school in sorted(set(schools)):
        rows = await agreements.for_schools(tenant, [school])
        for i in range(len(rows)):
            row = rows[i]
            carried = 0
            if i and follows(rows[i - 1].agreement, row.agreement):
                previous = rows[i - 1]
                tariff = tariffs.find(previous.agreement.valid_from)
                carried = carried_over(
                    previous.agreement,
                    previous.drawn_minutes,
                    tariff is not None and tariff.sla_carry_over,
                )
            if carried == row.carried_minutes:
                continue
            minutes = row.agreement.minutes - row.carried_minutes + carried
            reason = (
                f"time carried over from {year_label(row.agreement.valid_from.year - 1)}"
                f" changed from {hours(row.carried_minutes)} to {hours(carried)}"
            )
            await agreements.set_carried(
                tenant, row.agreement.agreement_id, minutes, carried, reason
            )
            rows[i] = AgreementRow(
                replace(row.agreement, minutes=minutes), row.drawn_minutes, None, None, carried
            )
            in_year = await DeliveryRepository(conn).in_window(
                tenant, school, row.agreement.valid_from, row.agreement.valid_to
            )
            if in_year:
                await reprice(conn, tariffs, in_year, rows, carry=False, now=now)
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
    charge: CancellationCharge | None  # None: held, waiting for a tariff to judge it by
    first: bool  # False: the appointment's cancellation was judged before; nothing changed
    held: str | None = None  # why it waits


def _cancelled(cmd: ChargeCancellation) -> CancelledAppointment:
    return CancelledAppointment(
        cmd.appointment_id,
        cmd.school_urn,
        cmd.funding_stream,
        cmd.starts_at,
        cmd.ends_at,
        cmd.cancelled_at,
        cmd.cancelled_by,
    )


def _charge_record(cmd: ChargeCancellation, delivery: Delivery) -> RecordDeliveredTime:
    return RecordDeliveredTime(
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


async def charge_cancellation(cmd: ChargeCancellation, uow: UnitOfWork) -> CancellationOutcome:
    """Judge a cancelled appointment by the tariff's cancellation rule, once per appointment.

    The judgement is recorded whether or not it charges, and the first one recorded for an
    appointment counts: a second cancellation event for it (re-sent with a new id) changes
    nothing. A charge is stored as traded time delivered on the appointment's date and priced
    with the school's other deliveries (SLA first, then spot), so it reaches the draft and the
    next invoice like delivered time. Traded time with no tariff to judge its notice by is
    recorded unjudged (held) and judged when a tariff for its date is confirmed.
    """
    conn = uow.conn
    await lock_pricing(conn, cmd.tenant, exclusive=False)
    tariffs = await load_tariffs(conn, cmd.tenant)
    cancelled = _cancelled(cmd)
    repository = CancellationRepository(conn)
    if judging_needs_tariff(cancelled) and tariffs.find(cancelled.on) is None:
        hold = no_tariff(cmd.tenant, cancelled.on)
        recorded = await repository.add_held(cmd, hold.reason, uow.clock())
        return CancellationOutcome(None, recorded, hold.reason)
    charge = cancellation_charge(tariffs.at, cancelled)
    delivery = charge_delivery(cancelled, charge) if charge.charged else None
    recorded = await repository.add(cmd, charge, delivery.delivery_id if delivery else None)
    if recorded and delivery is not None:
        await _price_tenant_batch(conn, tariffs, [_charge_record(cmd, delivery)], uow.clock())
        await announce_agreements(uow, [cmd.school_urn])
    return CancellationOutcome(charge, recorded)


async def judge_held_cancellations(
    conn: asyncpg.Connection, tariffs: Tariffs, first: date, last: date, now: datetime
) -> int:
    """Judge the cancellations that waited for a tariff on these days; returns how many.

    Each charge is priced as if it had been judged on time: dated on the appointment's day and
    drawn from the SLA in the order of its cancellation.
    """
    repository = CancellationRepository(conn)
    charges = []
    judged = 0
    for cmd in await repository.held_between(tariffs.tenant, first, last):
        cancelled = _cancelled(cmd)
        if tariffs.find(cancelled.on) is None:
            continue
        charge = cancellation_charge(tariffs.at, cancelled)
        delivery = charge_delivery(cancelled, charge) if charge.charged else None
        await repository.judge(
            tariffs.tenant, cmd.appointment_id, charge, delivery.delivery_id if delivery else None
        )
        judged += 1
        if delivery is not None:
            charges.append(_charge_record(cmd, delivery))
    if charges:
        await _price_tenant_batch(conn, tariffs, charges, now)
    return judged


async def waive_cancellation_charge(cmd: WaiveCancellationCharge, uow: UnitOfWork) -> str:
    """Void an appointment's cancellation charge; returns the school it was charged to.

    Before the charge is invoiced it leaves the draft (and gives back any SLA time it drew);
    after, the next document credits it. Waiving again changes nothing. A cancellation still
    waiting for its tariff has no charge to waive yet (409).
    """
    repository = CancellationRepository(uow.conn)
    found = await repository.charge_of(uow.tenant, cmd.appointment_id)
    if found is None:
        waiting = await repository.held_reason(uow.tenant, cmd.appointment_id)
        if waiting is not None:
            raise Conflict(
                f"the cancellation of appointment {cmd.appointment_id} is not judged yet"
                f" ({waiting}); a charge can be waived once it is made",
                field="appointment_id",
            )
        raise NotFound(f"appointment {cmd.appointment_id} has no cancellation charge")
    charge, school_urn = found
    await price_delivered_time([waiver(uow.tenant, charge, cmd.reason, cmd.at)], uow)
    return school_urn


# --- agreements ---------------------------------------------------------------------------


async def buy_service_level_agreement(
    cmd: BuyServiceLevelAgreement, uow: UnitOfWork
) -> AgreementRecord:
    """Record a school's SLA for an academic year, priced now or held until it can be.

    Days outside the limits of a confirmed tariff are refused at once (422 naming ``days``).
    With no confirmed tariff for the year, or for a school billing has not heard of, the SLA is
    recorded unpriced with the reason, gives no time, and is priced (and announced) when the
    missing data arrives. Once priced, unused minutes of the previous year's SLA are added when
    that year's tariff carries them over (and kept up to date as that year's balance moves; see
    ``carry_over_balances``), this year's unused minutes go to an SLA already priced for the
    next year, and deliveries of the year already priced are re-priced against the new balance.
    """
    conn, tenant = uow.conn, uow.tenant
    await lock_pricing(conn, tenant, exclusive=True)
    tariffs = await load_tariffs(conn, tenant)
    valid_from, valid_to = academic_year(cmd.academic_year)
    tariff = tariffs.find(valid_from)
    if tariff is not None:
        tariff.check_sla_days(cmd.days)
    agreements = AgreementRepository(conn)
    taken = Conflict(
        f"school {cmd.school_urn} already has an SLA for {year_label(cmd.academic_year)}",
        field="academic_year",
    )
    if await agreements.current(tenant, cmd.school_urn, valid_from) is not None:
        raise taken
    hold = agreement_hold(
        tenant,
        cmd.school_urn,
        valid_from,
        cmd.days,
        school_known=await SchoolRepository(conn).known(tenant, cmd.school_urn),
        tariff=tariff,
    )
    cancelled = await agreements.cancelled_count(tenant, cmd.school_urn, valid_from)
    agreement = Agreement(
        new_agreement_id(tenant, cmd.school_urn, valid_from, cancelled),
        cmd.school_urn,
        valid_from,
        valid_to,
        0,
    )
    now = uow.clock()
    if not await agreements.add_unpriced(tenant, agreement, cmd.days, hold, uow.context.actor, now):
        raise taken
    record = await agreements.get(tenant, agreement.agreement_id)
    assert record is not None
    if hold is None:
        assert tariff is not None
        await _price_agreement(conn, tariffs, record, tariff, now)
    await announce_agreements(uow)
    return await _agreement(agreements, tenant, agreement.agreement_id)


async def _agreement(
    agreements: AgreementRepository, tenant: str, agreement_id: uuid.UUID
) -> AgreementRecord:
    record = await agreements.get(tenant, agreement_id)
    if record is None:
        raise NotFound(f"no SLA {agreement_id}", field="agreement_id")
    return record


async def _price_agreement(
    conn: asyncpg.Connection,
    tariffs: Tariffs,
    record: AgreementRecord,
    tariff: Tariff,
    now: datetime,
) -> None:
    """Put an SLA in force at the tariff's day: re-price the year's deliveries against it and
    bring the carry-over into and out of it up to date."""
    tenant = tariffs.tenant
    agreements = AgreementRepository(conn)
    minutes = sla_minutes(record.days, tariff.sla_day_minutes, 0)
    await agreements.price(
        tenant, record.agreement_id, tariff.sla_day_minutes, tariff.sla_day_pence, minutes, now
    )
    await reprice_year(conn, tariffs, record.school_urn, record.valid_from, record.valid_to, now)


async def reprice_year(
    conn: asyncpg.Connection,
    tariffs: Tariffs,
    school_urn: str,
    first: date,
    last: date,
    now: datetime,
) -> None:
    """After a school's SLA for these days changed: its deliveries re-priced against the SLAs
    in force now, then the carry-over between its years."""
    in_year = await DeliveryRepository(conn).in_window(tariffs.tenant, school_urn, first, last)
    if in_year:
        rows = await AgreementRepository(conn).for_schools(tariffs.tenant, [school_urn])
        await reprice(conn, tariffs, in_year, rows, now=now)
    await carry_over_balances(conn, tariffs, [school_urn], now)


async def price_held_agreements(
    conn: asyncpg.Connection,
    tariffs: Tariffs,
    held: Sequence[AgreementRecord],
    now: datetime,
) -> int:
    """Price the unpriced SLAs that can be now; the others keep waiting, with the reason as it
    now stands (e.g. a tariff arrived, but the days are outside its limits). Returns how many
    were priced."""
    schools = SchoolRepository(conn)
    agreements = AgreementRepository(conn)
    priced = 0
    for record in held:
        tariff = tariffs.find(record.valid_from)
        hold = agreement_hold(
            tariffs.tenant,
            record.school_urn,
            record.valid_from,
            record.days,
            school_known=await schools.known(tariffs.tenant, record.school_urn),
            tariff=tariff,
        )
        if hold is None:
            assert tariff is not None
            await _price_agreement(conn, tariffs, record, tariff, now)
            priced += 1
        elif hold != record.hold:
            await agreements.hold(tariffs.tenant, record.agreement_id, hold, now)
    return priced


async def change_agreement_days(cmd: ChangeAgreementDays, uow: UnitOfWork) -> AgreementRecord:
    """New days for a school's SLA: within the tariff's limits and never below the time
    already drawn. The year's deliveries are re-priced against the new balance (time that fell
    to spot may now come from the SLA, and the other way) and the carry-over into the next year
    moves with it. An SLA still unpriced takes the days and is priced if it now can be."""
    conn, tenant, now = uow.conn, uow.tenant, uow.clock()
    await lock_pricing(conn, tenant, exclusive=True)
    agreements = AgreementRepository(conn)
    record = await _agreement(agreements, tenant, cmd.agreement_id)
    if record.status is AgreementStatus.CANCELLED:
        raise Conflict(
            f"SLA {cmd.agreement_id} was cancelled; buy a new one instead", field="agreement_id"
        )
    if cmd.days == record.days:
        return record
    tariffs = await load_tariffs(conn, tenant)
    tariff = tariffs.find(record.valid_from)
    if record.status is AgreementStatus.UNPRICED:
        if tariff is not None:
            tariff.check_sla_days(cmd.days)
        await agreements.set_days(tenant, record.agreement_id, cmd.days)
        await price_held_agreements(conn, tariffs, [replace(record, days=cmd.days)], now)
    else:
        assert tariff is not None and record.day_minutes is not None
        assert record.day_pence is not None
        check_days_change(
            tariff,
            cmd.days,
            day_minutes=record.day_minutes,
            carried=record.carried_minutes,
            drawn=record.drawn_minutes,
        )
        await agreements.set_terms(
            tenant,
            record.agreement_id,
            days=cmd.days,
            day_minutes=record.day_minutes,
            day_pence=record.day_pence,
            minutes=sla_minutes(cmd.days, record.day_minutes, record.carried_minutes),
            reason=f"days changed from {record.days} to {cmd.days}: {cmd.reason}",
        )
        await reprice_year(
            conn, tariffs, record.school_urn, record.valid_from, record.valid_to, now
        )
    await announce_agreements(uow)
    return await _agreement(agreements, tenant, cmd.agreement_id)


async def cancel_agreement(cmd: CancelAgreement, uow: UnitOfWork) -> AgreementRecord:
    """Cancel a school's SLA (a purchase withdrawn, or a URN typed wrong): it holds nothing
    more, the deliveries that drew on it are re-priced at spot (the differences are ledger
    lines; issued documents stay as issued) and nothing is carried into the next year from it.
    Cancelling again changes nothing."""
    conn, tenant, now = uow.conn, uow.tenant, uow.clock()
    await lock_pricing(conn, tenant, exclusive=True)
    agreements = AgreementRepository(conn)
    record = await _agreement(agreements, tenant, cmd.agreement_id)
    if record.status is AgreementStatus.CANCELLED:
        return record
    await agreements.cancel(tenant, record.agreement_id, cmd.reason, uow.context.actor, now)
    if record.status is AgreementStatus.PRICED:
        tariffs = await load_tariffs(conn, tenant)
        await reprice_year(
            conn, tariffs, record.school_urn, record.valid_from, record.valid_to, now
        )
    await announce_agreements(uow)
    return await _agreement(agreements, tenant, cmd.agreement_id)


async def record_school(cmd: RecordSchool, uow: UnitOfWork) -> int:
    """Scheduling registered a school: billing knows it from now on, and its SLAs that waited
    for it are priced if they can be. Returns how many were priced."""
    conn, tenant = uow.conn, uow.tenant
    schools = SchoolRepository(conn)
    if await schools.known(tenant, cmd.school_urn):
        return 0  # a new named EP for a school billing knows: nothing waits for it
    # exclusive: an SLA bought for the school now either sees it or is seen below
    await lock_pricing(conn, tenant, exclusive=True)
    await schools.add(tenant, cmd.school_urn, cmd.known_since)
    held = await AgreementRepository(conn).held(tenant, school_urn=cmd.school_urn)
    if not held:
        return 0
    tariffs = await load_tariffs(conn, tenant)
    priced = await price_held_agreements(conn, tariffs, held, uow.clock())
    await announce_agreements(uow)
    return priced


async def announce_agreements(uow: UnitOfWork, schools: Sequence[str] | None = None) -> int:
    """Tell the other services what changed in the authority's SLAs (or some schools' SLAs)
    since they were last told: one event per agreement with its whole state (bought, changed
    with the reasons, or cancelled). Returns the number of events published."""
    agreements = AgreementRepository(uow.conn)
    records = await agreements.unannounced(uow.tenant, schools)
    if not records:
        return 0
    published = 0
    for record in records:
        kind = announcement(
            record.status,
            record.announced_status,
            (record.days, record.minutes),
            (record.announced_days, record.announced_minutes),
        )
        if kind is not None:
            uow.publish(_agreement_event(record, kind))
            published += 1
    await agreements.mark_announced(uow.tenant, [r.agreement_id for r in records])
    return published


def _agreement_event(record: AgreementRecord, kind: Announcement) -> Event:
    state: dict[str, Any] = dict(
        agreement_id=record.agreement_id,
        school_urn=record.school_urn,
        academic_year=record.academic_year,
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        days=record.days,
        minutes=record.minutes,
    )
    if kind is Announcement.BOUGHT:
        return ServiceLevelAgreementBought(**state)
    if kind is Announcement.CANCELLED:
        reason = record.cancel_reason or "cancelled"
        return ServiceLevelAgreementCancelled(**state, reason=reason[:500])
    reasons = "; ".join(dict.fromkeys(record.pending_reasons)) or "agreement updated"
    return ServiceLevelAgreementChanged(**state, reason=reasons[:500])


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
