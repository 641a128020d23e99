"""The steps that several handlers compose to keep prices true: store and price delivered time,
re-price what a change reaches (SLA draw-down, carry-over between years), price what waited for
a tariff or a school, and announce the SLAs that changed. Not handlers themselves: each works in
the handler's unit of work, for its authority, on the tariffs the handler loaded.

Nothing that can be priced is lost for want of data. Delivered time (traded or critical
incident) on a day with no confirmed tariff is stored and **held** as unpriced with the reason,
and so is a traded cancellation whose notice no tariff can judge yet, and an SLA for a year with
no confirmed tariff or for a school billing has not heard of. Each is priced as soon as the
missing data arrives (``price_what_waited``: a tariff created, confirmed or replaced;
``handlers.record_school``: scheduling registers the school), in its own billing period and draw
order, with the usual ledger lines (a period already closed gets them on its next document).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date

from eps_billing.domain.agreements import (
    AgreementRecord,
    agreement_hold,
    no_tariff,
    sla_minutes,
    year_label,
)
from eps_billing.domain.cancellation import (
    CancelledAppointment,
    cancellation_charge,
    charge_delivery,
)
from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    DeliveredTimeCommand,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.domain.invoicing import NewLine, price_change
from eps_billing.domain.pricing import (
    AgreementRow,
    Delivery,
    DrawState,
    Priced,
    Reach,
    Window,
    carried_over,
    chargeable_minutes,
    follows,
    hours,
    needs_tariff,
    price_deliveries,
)
from eps_billing.domain.tariff import Tariff, Tariffs
from eps_billing.service_layer.unit_of_work import BillingUnitOfWork


@dataclass(frozen=True, slots=True)
class PricedNow:
    """What was held for want of a tariff and is priced now."""

    deliveries: int = 0
    late_cancellations: int = 0
    agreements: int = 0


async def load_tariffs(uow: BillingUnitOfWork) -> Tariffs:
    """The authority's confirmed tariffs (a draft prices nothing)."""
    return Tariffs(uow.tenant, await uow.tariffs.confirmed())


def chargeable_now(tariffs: Tariffs, delivery: Delivery) -> int:
    """The minutes the delivery as it stands draws or is charged (none while it is held)."""
    if not needs_tariff(delivery):
        return 0
    tariff = tariffs.find(delivery.delivered_on)
    return 0 if tariff is None else chargeable_minutes(delivery, tariff)


def hold_of(tariffs: Tariffs, delivery: Delivery) -> str | None:
    """Why the delivery cannot be priced now (None: it can)."""
    if needs_tariff(delivery) and tariffs.find(delivery.delivered_on) is None:
        return no_tariff(tariffs.tenant, delivery.delivered_on).reason
    return None


# --- delivered time ---------------------------------------------------------------------------


async def price_facts(
    uow: BillingUnitOfWork, tariffs: Tariffs, cmds: Sequence[DeliveredTimeCommand]
) -> list[str]:
    """Store delivered-time facts and price every delivery they touch; returns the schools
    whose deliveries were priced."""
    recorded = [c for c in cmds if isinstance(c, RecordDeliveredTime)]
    changes = [c for c in cmds if isinstance(c, CorrectDeliveredTime | VoidDeliveredTime)]
    await uow.deliveries.add_changes(changes)
    new_ids = await uow.deliveries.add_recorded(recorded)
    # deliveries new here are built from their events, with any change that overtook them;
    # deliveries seen before are loaded as they stand
    waiting = await uow.deliveries.changes_of(list(new_ids))
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
    touched = [*fresh.values(), *await uow.deliveries.by_ids(known)]
    if not touched:
        return []  # only corrections or voids of deliveries not seen yet: they wait
    schools = sorted({d.school_urn for d in touched})
    agreements = await uow.agreements.for_schools(schools)
    await reprice(uow, tariffs, touched, agreements, new_ids)
    return schools


async def reprice(
    uow: BillingUnitOfWork,
    tariffs: Tariffs,
    touched: Sequence[Delivery],
    agreements: Sequence[AgreementRow],
    new_ids: AbstractSet[uuid.UUID] = frozenset(),
    *,
    carry: bool = True,
) -> None:
    """Re-price deliveries and everything their SLA draw-down affects; record the differences.

    A delivery that needs a tariff where none is confirmed is held: it draws nothing and keeps
    whatever price it had (a free one: time is never priced on a day that later loses its
    tariff, see ``handlers.replace_tariff``); once priced it takes its place in draw order.

    Deliveries outside any SLA are priced alone. Under an SLA, a change can only move the
    balance under deliveries drawn after it: the deliveries from the earliest touched one on (in
    draw order) are re-priced, on top of the minutes drawn before it; past the delivery that
    drew the SLA's last minute, only as far as the minutes the touched deliveries give back can
    reach (``Reach``: the rest drew nothing and still draw nothing). New deliveries recorded
    after every delivery already priced against the SLA are simply priced on top of its balance.
    When a school has SLAs for consecutive years, a changed balance moves the time carried into
    the next year (``carry``).
    """
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
    was, reach = await _reaches(
        uow, tariffs, {i: (rows[i], by_agreement[i]) for i in to_load}, new_ids
    )
    loaded = await uow.deliveries.drawn_after(
        [
            Window(
                a.school_urn,
                a.valid_from,
                a.valid_to,
                min(d.draw_order for d in by_agreement[i]),
                reach.get(i),
            )
            for i in to_load
            for a in [rows[i].agreement]
        ]
    )
    for agreement_id, found in zip(to_load, loaded, strict=True):
        ids = {d.delivery_id for d in found}  # touched beyond the reach are priced too
        suffixes[agreement_id] = [
            *found,
            *(d for d in by_agreement[agreement_id] if d.delivery_id not in ids),
        ]
    scope = {d.delivery_id: d for d in alone}
    for group in suffixes.values():
        scope.update({d.delivery_id: d for d in group})
    held = {i: reason for i, d in scope.items() if (reason := hold_of(tariffs, d)) is not None}
    # hold what has no tariff; release what was held and has one now (new rows are not held)
    await uow.deliveries.set_held(
        {i: held.get(i) for i, d in scope.items() if i in held or d.held}, uow.clock()
    )
    before = {i: p for i, p in was.items() if i not in held} | await uow.prices.current(
        [i for i in scope if i not in new_ids and i not in held and i not in was]
    )
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
    await uow.prices.save(changed, lines)
    await uow.agreements.set_drawn(draw_states)
    if carry:
        schools = {rows[state.agreement_id].agreement.school_urn for state in draw_states}
        chained = [school for school in schools if len(by_school.get(school, ())) > 1]
        if chained:
            await carry_over_balances(uow, tariffs, chained)


async def _reaches(
    uow: BillingUnitOfWork,
    tariffs: Tariffs,
    groups: dict[uuid.UUID, tuple[AgreementRow, list[Delivery]]],
    new_ids: AbstractSet[uuid.UUID],
) -> tuple[dict[uuid.UUID, Priced], dict[uuid.UUID, Reach]]:
    """For each used-up SLA among ``groups`` (an SLA's row and its touched deliveries): how far
    past the delivery that drew its last minute re-pricing must read, from the minutes its
    touched deliveries give back (what they were priced at, less what they draw now); with
    the prices read to know it."""
    exhausted = {
        i: (key, group)
        for i, (row, group) in groups.items()
        if (key := row.exhausted_key) is not None
    }
    ids = [d.delivery_id for _, group in exhausted.values() for d in group]
    was = await uow.prices.current([i for i in ids if i not in new_ids]) if ids else {}
    reach = {
        i: Reach(
            key,
            sum(
                max(0, p.sla_minutes + p.spot_minutes - chargeable_now(tariffs, d))
                for d in group
                if (p := was.get(d.delivery_id)) is not None
            ),
        )
        for i, (key, group) in exhausted.items()
    }
    return was, reach


async def carry_over_balances(
    uow: BillingUnitOfWork, tariffs: Tariffs, schools: Sequence[str]
) -> None:
    """Bring the time carried from each SLA into the school's next year's SLA up to date.

    Walks each school's priced SLAs in date order. Where the carried minutes (``carried_over``
    of the previous year as it now stands; none when there is no priced SLA for the year just
    before, e.g. it was cancelled) differ from those recorded, the SLA's minutes change, with
    the reason to announce, and the deliveries of its year are re-priced: the differences
    become ledger lines, and the year after that is brought up to date in turn.
    """
    for school in sorted(set(schools)):
        rows = await uow.agreements.for_schools([school])
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
            await uow.agreements.set_carried(row.agreement.agreement_id, minutes, carried, reason)
            rows[i] = AgreementRow(
                replace(row.agreement, minutes=minutes), row.drawn_minutes, None, None, carried
            )
            in_year = await uow.deliveries.in_window(
                school, row.agreement.valid_from, row.agreement.valid_to
            )
            if in_year:
                await reprice(uow, tariffs, in_year, rows, carry=False)
                rows = await uow.agreements.for_schools([school])  # the balances now


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


async def reprice_year(
    uow: BillingUnitOfWork, tariffs: Tariffs, school_urn: str, first: date, last: date
) -> None:
    """After a school's SLA for these days changed: its deliveries re-priced against the SLAs
    in force now, then the carry-over between its years."""
    in_year = await uow.deliveries.in_window(school_urn, first, last)
    if in_year:
        rows = await uow.agreements.for_schools([school_urn])
        await reprice(uow, tariffs, in_year, rows)
    await carry_over_balances(uow, tariffs, [school_urn])


# --- late cancellations -----------------------------------------------------------------------


def cancelled(cmd: ChargeCancellation) -> CancelledAppointment:
    return CancelledAppointment(
        cmd.appointment_id,
        cmd.school_urn,
        cmd.funding_stream,
        cmd.starts_at,
        cmd.ends_at,
        cmd.cancelled_at,
        cmd.cancelled_by,
    )


def charge_record(cmd: ChargeCancellation, delivery: Delivery) -> RecordDeliveredTime:
    """A cancellation charge, as the delivered time it is priced as."""
    return RecordDeliveredTime(
        event_id=cmd.event_id,
        delivery_id=delivery.delivery_id,
        school_urn=delivery.school_urn,
        delivered_on=delivery.delivered_on,
        minutes=delivery.minutes,
        funding_stream=delivery.funding_stream,
        recorded_at=delivery.recorded_at,
        late_cancellation=True,
    )


async def judge_held_cancellations(
    uow: BillingUnitOfWork, tariffs: Tariffs, first: date, last: date
) -> int:
    """Judge the cancellations that waited for a tariff on these days; returns how many.

    Each charge is priced as if it had been judged on time: dated on the appointment's day and
    drawn from the SLA in the order of its cancellation.
    """
    charges = []
    judged = 0
    for cmd in await uow.cancellations.held_between(first, last):
        appointment = cancelled(cmd)
        if tariffs.find(appointment.on) is None:
            continue
        charge = cancellation_charge(tariffs.at, appointment)
        delivery = charge_delivery(appointment, charge) if charge.charged else None
        await uow.cancellations.judge(
            cmd.appointment_id, charge, delivery.delivery_id if delivery else None
        )
        judged += 1
        if delivery is not None:
            charges.append(charge_record(cmd, delivery))
    if charges:
        await price_facts(uow, tariffs, charges)
    return judged


# --- agreements -------------------------------------------------------------------------------


async def price_agreement(
    uow: BillingUnitOfWork, tariffs: Tariffs, record: AgreementRecord, tariff: Tariff
) -> None:
    """Put an SLA in force at the tariff's day: re-price the year's deliveries against it and
    bring the carry-over into and out of it up to date."""
    minutes = sla_minutes(record.days, tariff.sla_day_minutes, 0)
    await uow.agreements.price(
        record.agreement_id, tariff.sla_day_minutes, tariff.sla_day_pence, minutes, uow.clock()
    )
    await reprice_year(uow, tariffs, record.school_urn, record.valid_from, record.valid_to)


async def price_held_agreements(
    uow: BillingUnitOfWork, tariffs: Tariffs, held: Sequence[AgreementRecord]
) -> int:
    """Price the unpriced SLAs that can be now; the others keep waiting, with the reason as it
    now stands (e.g. a tariff arrived, but the days are outside its limits). Returns how many
    were priced."""
    priced = 0
    for record in held:
        tariff = tariffs.find(record.valid_from)
        hold = agreement_hold(
            tariffs.tenant,
            record.school_urn,
            record.valid_from,
            record.days,
            school_known=await uow.schools.known(record.school_urn),
            tariff=tariff,
        )
        if hold is None:
            assert tariff is not None
            await price_agreement(uow, tariffs, record, tariff)
            priced += 1
        elif hold != record.hold:
            await uow.agreements.hold(record.agreement_id, hold, uow.clock())
    return priced


async def announce(uow: BillingUnitOfWork, schools: Sequence[str] | None = None) -> int:
    """Tell the other services what changed in the authority's SLAs (or some schools' SLAs)
    since they were last told: each SLA records one event with its whole state (bought, changed
    with the reasons, or cancelled), published when the unit of work commits. Returns the
    number of events."""
    records = await uow.agreements.unannounced(schools)
    if not records:
        return 0
    told = sum(record.announce() for record in records)
    await uow.agreements.mark_announced(records)
    return told


# --- what waited for a tariff -----------------------------------------------------------------


async def price_what_waited(
    uow: BillingUnitOfWork, tariff: Tariff, *, everything: bool = False
) -> PricedNow:
    """Price what was held for want of a confirmed tariff on the tariff's days: SLAs starting
    then (if their school is known and their days within its limits), cancellations whose
    notice it judges, and delivered time (each in its own period and draw order). With
    ``everything``, every delivery on those days is re-priced too (a replaced tariff)."""
    first, last = tariff.effective_from, tariff.effective_to
    tariffs = await load_tariffs(uow)
    held_before = await uow.deliveries.count_held(first, last)
    held_agreements = await uow.agreements.held(starting=(first, last))
    priced_agreements = await price_held_agreements(uow, tariffs, held_agreements)
    judged = await judge_held_cancellations(uow, tariffs, first, last)
    if everything:
        touched = await uow.deliveries.between(first, last)
    else:
        touched = await uow.deliveries.held_between(first, last)
    if touched:
        rows = await uow.agreements.for_schools(sorted({d.school_urn for d in touched}))
        await reprice(uow, tariffs, touched, rows)
    if everything:
        schools = await uow.agreements.schools_near(first, last)
        await carry_over_balances(uow, tariffs, schools)
    await announce(uow)
    held_after = await uow.deliveries.count_held(first, last) if held_before else 0
    return PricedNow(held_before - held_after, judged, priced_agreements)
