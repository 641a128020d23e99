"""Service-layer handlers of the billing service: each takes a command and the unit of work of
one local authority, loads through its repositories, asks the domain, and saves. The unit of
work publishes what the SLAs and documents recorded when it commits.

Delivered time and late cancellations are priced as they arrive (``price_delivered_time``,
``charge_cancellation``); finance buys, changes and cancels SLAs and keeps the tariffs; what
cannot be priced yet is held and priced when the data arrives (``repricing``). Every change of
what a school may book under its SLA (bought, days changed, carry-over moved, cancelled) is
announced on ``eps.billing.agreements.v1`` in the transaction that made it. Two handlers are the
work of periodic jobs, once per authority: ``finalise_due_invoices`` and
``announce_agreements``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from eps_chassis.errors import Conflict, NotFound
from eps_chassis.london import london_date

from eps_billing.domain.agreements import (
    AgreementRecord,
    AgreementStatus,
    academic_year,
    agreement_hold,
    check_days_change,
    no_tariff,
    sla_minutes,
    year_label,
)
from eps_billing.domain.agreements import agreement_id as new_agreement_id
from eps_billing.domain.cancellation import (
    CancellationCharge,
    cancellation_charge,
    charge_delivery,
    waiver,
)
from eps_billing.domain.cancellation import needs_tariff as judging_needs_tariff
from eps_billing.domain.commands import (
    BuyServiceLevelAgreement,
    CancelAgreement,
    CarryTariffForward,
    ChangeAgreementDays,
    ChargeCancellation,
    ConfirmTariff,
    CreateTariff,
    DeliveredTimeCommand,
    RecordSchool,
    ReplaceTariff,
    WaiveCancellationCharge,
)
from eps_billing.domain.invoicing import Document, DocumentKind, settle
from eps_billing.domain.pricing import Agreement, hours
from eps_billing.domain.tariff import (
    BillingPeriod,
    Tariff,
    TariffRecord,
    Tariffs,
    TariffStatus,
    carried_forward,
    check_no_overlap,
    closes_at,
    uncovered,
)
from eps_billing.service_layer import repricing
from eps_billing.service_layer.repricing import PricedNow
from eps_billing.service_layer.unit_of_work import BillingUnitOfWork

# --- delivered time ---------------------------------------------------------------------------


async def price_delivered_time(
    cmds: Sequence[DeliveredTimeCommand], uow: BillingUnitOfWork
) -> None:
    """Store delivered-time facts of the unit of work's authority and re-price every delivery
    they touch. Time that needs a tariff where none is confirmed is stored and held unpriced
    (never refused): a tariff confirmed later prices it in its place."""
    await uow.lock_pricing(exclusive=False)
    tariffs = await repricing.load_tariffs(uow)
    schools = await repricing.price_facts(uow, tariffs, cmds)
    # time drawn from one year moves what it carries over into the next; only these schools'
    # SLAs can have moved, and this transaction holds their rows already
    await repricing.announce(uow, schools)


# --- late cancellations -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancellationOutcome:
    charge: CancellationCharge | None  # None: held, waiting for a tariff to judge it by
    first: bool  # False: the appointment's cancellation was judged before; nothing changed
    held: str | None = None  # why it waits


async def charge_cancellation(
    cmd: ChargeCancellation, uow: BillingUnitOfWork
) -> CancellationOutcome:
    """Judge a cancelled appointment by the tariff's cancellation rule, once per appointment.

    The judgement is recorded whether or not it charges, and the first one recorded for an
    appointment counts: a second cancellation event for it (re-sent with a new id) changes
    nothing. A charge is stored as traded time delivered on the appointment's date and priced
    with the school's other deliveries (SLA first, then spot), so it reaches the draft and the
    next invoice like delivered time. Traded time with no tariff to judge its notice by is
    recorded unjudged (held) and judged when a tariff for its date is confirmed.
    """
    await uow.lock_pricing(exclusive=False)
    tariffs = await repricing.load_tariffs(uow)
    cancelled = repricing.cancelled(cmd)
    if judging_needs_tariff(cancelled) and tariffs.find(cancelled.on) is None:
        hold = no_tariff(uow.tenant, cancelled.on)
        recorded = await uow.cancellations.add_held(cmd, hold.reason, uow.clock())
        return CancellationOutcome(None, recorded, hold.reason)
    charge = cancellation_charge(tariffs.at, cancelled)
    delivery = charge_delivery(cancelled, charge) if charge.charged else None
    recorded = await uow.cancellations.add(cmd, charge, delivery.delivery_id if delivery else None)
    if recorded and delivery is not None:
        await repricing.price_facts(uow, tariffs, [repricing.charge_record(cmd, delivery)])
        await repricing.announce(uow, [cmd.school_urn])
    return CancellationOutcome(charge, recorded)


async def waive_cancellation_charge(cmd: WaiveCancellationCharge, uow: BillingUnitOfWork) -> str:
    """Void an appointment's cancellation charge; returns the school it was charged to.

    Before the charge is invoiced it leaves the draft (and gives back any SLA time it drew);
    after, the next document credits it. Waiving again changes nothing. A cancellation still
    waiting for its tariff has no charge to waive yet (409).
    """
    found = await uow.cancellations.charge_of(cmd.appointment_id)
    if found is None:
        waiting = await uow.cancellations.held_reason(cmd.appointment_id)
        if waiting is not None:
            raise Conflict(
                f"the cancellation of appointment {cmd.appointment_id} is not judged yet"
                f" ({waiting}); a charge can be waived once it is made",
                field="appointment_id",
            )
        raise NotFound(f"appointment {cmd.appointment_id} has no cancellation charge")
    charge, school_urn = found
    await price_delivered_time([waiver(charge, cmd.reason, uow.clock())], uow)
    return school_urn


# --- agreements -------------------------------------------------------------------------------


async def buy_service_level_agreement(
    cmd: BuyServiceLevelAgreement, uow: BillingUnitOfWork
) -> AgreementRecord:
    """Record a school's SLA for an academic year, priced now or held until it can be.

    Days outside the limits of a confirmed tariff are refused at once (422 naming ``days``).
    With no confirmed tariff for the year, or for a school billing has not heard of, the SLA is
    recorded unpriced with the reason, gives no time, and is priced (and announced) when the
    missing data arrives. Once priced, unused minutes of the previous year's SLA are added when
    that year's tariff carries them over (and kept up to date as that year's balance moves; see
    ``repricing.carry_over_balances``), this year's unused minutes go to an SLA already priced
    for the next year, and deliveries of the year already priced are re-priced against the new
    balance.
    """
    await uow.lock_pricing(exclusive=True)
    tariffs = await repricing.load_tariffs(uow)
    valid_from, valid_to = academic_year(cmd.academic_year)
    tariff = tariffs.find(valid_from)
    if tariff is not None:
        tariff.check_sla_days(cmd.days)
    taken = Conflict(
        f"school {cmd.school_urn} already has an SLA for {year_label(cmd.academic_year)}",
        field="academic_year",
    )
    if await uow.agreements.current(cmd.school_urn, valid_from) is not None:
        raise taken
    hold = agreement_hold(
        uow.tenant,
        cmd.school_urn,
        valid_from,
        cmd.days,
        school_known=await uow.schools.known(cmd.school_urn),
        tariff=tariff,
    )
    cancelled = await uow.agreements.cancelled_count(cmd.school_urn, valid_from)
    agreement = Agreement(
        new_agreement_id(uow.tenant, cmd.school_urn, valid_from, cancelled),
        cmd.school_urn,
        valid_from,
        valid_to,
        0,
    )
    if not await uow.agreements.add_unpriced(agreement, cmd.days, hold, cmd.bought_by, uow.clock()):
        raise taken
    record = await _agreement(uow, agreement.agreement_id)
    if hold is None:
        assert tariff is not None
        await repricing.price_agreement(uow, tariffs, record, tariff)
    await repricing.announce(uow)
    return await _agreement(uow, agreement.agreement_id)


async def _agreement(uow: BillingUnitOfWork, agreement_id: uuid.UUID) -> AgreementRecord:
    record = await uow.agreements.get(agreement_id)
    if record is None:
        raise NotFound(f"no SLA {agreement_id}", field="agreement_id")
    return record


async def change_agreement_days(
    cmd: ChangeAgreementDays, uow: BillingUnitOfWork
) -> AgreementRecord:
    """New days for a school's SLA: within the tariff's limits and never below the time
    already drawn. The year's deliveries are re-priced against the new balance (time that fell
    to spot may now come from the SLA, and the other way) and the carry-over into the next year
    moves with it. An SLA still unpriced takes the days and is priced if it now can be."""
    await uow.lock_pricing(exclusive=True)
    record = await _agreement(uow, cmd.agreement_id)
    if record.status is AgreementStatus.CANCELLED:
        raise Conflict(
            f"SLA {cmd.agreement_id} was cancelled; buy a new one instead", field="agreement_id"
        )
    if cmd.days == record.days:
        return record
    tariffs = await repricing.load_tariffs(uow)
    tariff = tariffs.find(record.valid_from)
    if record.status is AgreementStatus.UNPRICED:
        if tariff is not None:
            tariff.check_sla_days(cmd.days)
        await uow.agreements.set_days(record.agreement_id, cmd.days)
        await repricing.price_held_agreements(uow, tariffs, [replace(record, days=cmd.days)])
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
        await uow.agreements.set_terms(
            record.agreement_id,
            days=cmd.days,
            day_minutes=record.day_minutes,
            day_pence=record.day_pence,
            minutes=sla_minutes(cmd.days, record.day_minutes, record.carried_minutes),
            reason=f"days changed from {record.days} to {cmd.days}: {cmd.reason}",
        )
        await repricing.reprice_year(
            uow, tariffs, record.school_urn, record.valid_from, record.valid_to
        )
    await repricing.announce(uow)
    return await _agreement(uow, cmd.agreement_id)


async def cancel_agreement(cmd: CancelAgreement, uow: BillingUnitOfWork) -> AgreementRecord:
    """Cancel a school's SLA (a purchase withdrawn, or a URN typed wrong): it holds nothing
    more, the deliveries that drew on it are re-priced at spot (the differences are ledger
    lines; issued documents stay as issued) and nothing is carried into the next year from it.
    Cancelling again changes nothing."""
    await uow.lock_pricing(exclusive=True)
    record = await _agreement(uow, cmd.agreement_id)
    if record.status is AgreementStatus.CANCELLED:
        return record
    await uow.agreements.cancel(record.agreement_id, cmd.reason, cmd.cancelled_by, uow.clock())
    if record.status is AgreementStatus.PRICED:
        tariffs = await repricing.load_tariffs(uow)
        await repricing.reprice_year(
            uow, tariffs, record.school_urn, record.valid_from, record.valid_to
        )
    await repricing.announce(uow)
    return await _agreement(uow, cmd.agreement_id)


async def record_school(cmd: RecordSchool, uow: BillingUnitOfWork) -> int:
    """Scheduling registered a school: billing knows it from now on, and its SLAs that waited
    for it are priced if they can be. Returns how many were priced."""
    if await uow.schools.known(cmd.school_urn):
        return 0  # a new named EP for a school billing knows: nothing waits for it
    # exclusive: an SLA bought for the school now either sees it or is seen below
    await uow.lock_pricing(exclusive=True)
    await uow.schools.add(cmd.school_urn, cmd.known_since)
    held = await uow.agreements.held(school_urn=cmd.school_urn)
    if not held:
        return 0
    tariffs = await repricing.load_tariffs(uow)
    priced = await repricing.price_held_agreements(uow, tariffs, held)
    await repricing.announce(uow)
    return priced


async def announce_agreements(uow: BillingUnitOfWork) -> int:
    """A backstop, the announcing job's work for one authority: SLAs whose state was never
    announced (those bought before the announcements existed) are announced; handlers announce
    their own changes as they commit. Returns the number of events."""
    # as any change of SLAs does: their rows are then locked in one order only
    await uow.lock_pricing(exclusive=True)
    return await repricing.announce(uow)


# --- tariffs ----------------------------------------------------------------------------------
#
# A tariff is one authority's rules for a span of dates; spans of one authority never overlap. A
# draft prices nothing: carrying a year forward makes the next year's draft with the same rules,
# to be checked and confirmed. A confirmed tariff prices everything on its dates, so confirming
# one (or creating one confirmed) prices what was held for want of it, and replacing one
# re-prices everything it priced: the differences are ledger lines, never edits of issued
# documents. Every change writes the tariff's history. The tariffs of one authority are written
# one at a time, under its pricing lock (which also keeps two overlapping ones apart).


async def create_tariff(
    cmd: CreateTariff, uow: BillingUnitOfWork
) -> tuple[TariffRecord, PricedNow]:
    await uow.lock_pricing(exclusive=True)
    tariff = Tariff.from_rules(uow.tenant, cmd.effective_from, cmd.effective_to, dict(cmd.rules))
    check_no_overlap(tariff, [r.tariff for r in await uow.tariffs.records()])
    tariff_id = uuid.uuid4()
    await uow.tariffs.add(tariff_id, tariff, cmd.status, cmd.created_by, uow.clock())
    priced = PricedNow()
    if cmd.status is TariffStatus.CONFIRMED:
        priced = await repricing.price_what_waited(uow, tariff)
    return await _tariff(uow, tariff_id), priced


async def carry_tariff_forward(cmd: CarryTariffForward, uow: BillingUnitOfWork) -> TariffRecord:
    """The next year's tariff as a draft: the same rules, each date moved on a year."""
    await uow.lock_pricing(exclusive=True)
    source = await _tariff(uow, cmd.tariff_id)
    first, last = carried_forward(source.tariff)
    tariff = replace(source.tariff, effective_from=first, effective_to=last)
    check_no_overlap(tariff, [r.tariff for r in await uow.tariffs.records()])
    tariff_id = uuid.uuid4()
    await uow.tariffs.add(
        tariff_id,
        tariff,
        TariffStatus.DRAFT,
        cmd.carried_by,
        uow.clock(),
        carried_forward_from=source.tariff_id,
    )
    return await _tariff(uow, tariff_id)


async def confirm_tariff(
    cmd: ConfirmTariff, uow: BillingUnitOfWork
) -> tuple[TariffRecord, PricedNow]:
    """Put a draft in force and price what waited for it. Confirming again changes nothing."""
    await uow.lock_pricing(exclusive=True)
    record = await _tariff(uow, cmd.tariff_id)
    if record.status is TariffStatus.CONFIRMED:
        return record, PricedNow()
    await uow.tariffs.confirm(cmd.tariff_id, cmd.confirmed_by, uow.clock())
    priced = await repricing.price_what_waited(uow, record.tariff)
    return await _tariff(uow, cmd.tariff_id), priced


async def replace_tariff(
    cmd: ReplaceTariff, uow: BillingUnitOfWork
) -> tuple[TariffRecord, PricedNow]:
    """New rules or dates for a tariff, keeping its status.

    A confirmed tariff's SLAs take the new day (their minutes follow it, and are announced),
    and every delivery on its old and new dates is re-priced. A replacement may not give up
    days on which the tariff priced anything (that time would be left with no price; the
    refusal names the end that moved). Replacing with the same rules and dates changes nothing.
    """
    await uow.lock_pricing(exclusive=True)
    record = await _tariff(uow, cmd.tariff_id)
    tariff = Tariff.from_rules(uow.tenant, cmd.effective_from, cmd.effective_to, dict(cmd.rules))
    others = [r.tariff for r in await uow.tariffs.records() if r.tariff_id != cmd.tariff_id]
    check_no_overlap(tariff, others)
    confirmed = record.status is TariffStatus.CONFIRMED
    if confirmed:
        for field, first, last in uncovered(record.tariff, tariff):
            priced = await uow.tariffs.priced_with(first, last)
            if any(priced.values()):
                raise Conflict(
                    f"the tariff has priced {_describe(priced)} between {first} and {last}; a"
                    " replacement must keep covering those days",
                    field=field,
                )
    if tariff == record.tariff:
        return record, PricedNow()
    await uow.tariffs.replace(cmd.tariff_id, tariff, cmd.replaced_by, uow.clock())
    if not confirmed:
        return await _tariff(uow, cmd.tariff_id), PricedNow()
    await _agreements_follow(uow, tariff)
    first = min(record.tariff.effective_from, tariff.effective_from)
    last = max(record.tariff.effective_to, tariff.effective_to)
    span = replace(tariff, effective_from=first, effective_to=last)
    priced_now = await repricing.price_what_waited(uow, span, everything=True)
    return await _tariff(uow, cmd.tariff_id), priced_now


def _describe(priced: dict[str, int]) -> str:
    names = {"deliveries": "deliveries", "agreements": "SLAs", "cancellations": "cancellations"}
    return ", ".join(f"{n} {names[k]}" for k, n in priced.items() if n)


async def _agreements_follow(uow: BillingUnitOfWork, tariff: Tariff) -> None:
    """The SLAs a replaced tariff priced take its day: their minutes are the days at the new
    length of a day (plus what they carry over), at the new day price. Their days stay as
    bought, even outside new limits: the limits apply to purchases and changes from now on."""
    tariffs = await repricing.load_tariffs(uow)
    for record in await uow.agreements.priced_starting(tariff.effective_from, tariff.effective_to):
        if (record.day_minutes, record.day_pence) == (tariff.sla_day_minutes, tariff.sla_day_pence):
            continue
        await uow.agreements.set_terms(
            record.agreement_id,
            days=record.days,
            day_minutes=tariff.sla_day_minutes,
            day_pence=tariff.sla_day_pence,
            minutes=sla_minutes(record.days, tariff.sla_day_minutes, record.carried_minutes),
            reason=f"the tariff for {year_label(record.academic_year)} was replaced: a day is"
            f" {hours(tariff.sla_day_minutes)}",
        )
        # the whole year draws on the new balance, past the tariff's own days if it ends sooner
        await repricing.reprice_year(
            uow, tariffs, record.school_urn, record.valid_from, record.valid_to
        )


async def _tariff(uow: BillingUnitOfWork, tariff_id: uuid.UUID) -> TariffRecord:
    record = await uow.tariffs.get(tariff_id)
    if record is None:
        raise NotFound(f"{uow.tenant} has no tariff {tariff_id}", field="tariff_id")
    return record


# --- finalising invoices ----------------------------------------------------------------------


async def finalise_due_invoices(uow: BillingUnitOfWork) -> list[str]:
    """Close every billing period of the authority whose grace has passed by the unit of work's
    clock; returns the document numbers issued (the finalising job's work for one authority).

    Each closed period settles the authority's unsettled lines of that period and of any
    earlier one (late events after their period closed: adjustments on this next invoice).
    Numbers are taken from the authority's counter row, locked until this transaction commits:
    gapless.
    """
    now = uow.clock()
    await uow.documents.lock()
    tariffs = await repricing.load_tariffs(uow)
    earliest = await uow.documents.earliest_open()
    if earliest is None:
        return []
    last = await uow.documents.last_finalised()
    tariff = tariffs.latest_before(earliest)
    assert tariff is not None
    period = tariff.period_of(earliest)
    if last is not None and period.start <= last:
        closed = (tariffs.latest_before(last) or tariff).period_of(last)
        tariff, period = _period_from(tariffs, tariff, closed.end + timedelta(days=1))
    issued: list[str] = []
    while closes_at(period, tariff.grace_days) <= now:
        issued.extend(await _finalise_period(uow, period, now))
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
    uow: BillingUnitOfWork, period: BillingPeriod, now: datetime
) -> list[str]:
    issued_on = london_date(now)
    by_school = await uow.documents.open_lines(period.start)
    all_ids = [line.delivery_id for lines in by_school.values() for line in lines]
    invoiced_before = await uow.documents.invoiced_before(all_ids)
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
            sequence = await uow.documents.next_number(kind)
            document = Document.issue(
                uow.tenant, kind, sequence, school_urn, period, issued_on, lines
            )
            await uow.documents.add(document)
            line_ids = [i for line in lines for i in line.line_ids]
            await uow.documents.settle(line_ids, issued_on, document.document_id)
            numbers.append(document.number)
        if silent:
            await uow.documents.settle(silent, issued_on, None)
    await uow.documents.mark_finalised(period, now)
    return numbers
