"""In-memory billing repositories and unit of work, behind the service's ports.

Each keeps what its PostgreSQL adapter keeps in its tables, with the same rules (a delivery or
a cancellation stored once, first wins; a change overtaking its delivery waits for it; one SLA
per school and year that is not cancelled; ledger lines append-only; gapless numbers), so that
billing's handlers can be unit-tested with no database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from eps_billing.adapters.repository import (
    AgreementRepository,
    CancellationRepository,
    DeliveryRepository,
    DocumentRepository,
    PriceRepository,
    SchoolRepository,
    TariffRepository,
)
from eps_billing.domain.agreements import AgreementRecord, AgreementStatus, Hold
from eps_billing.domain.cancellation import CancellationCharge
from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.domain.invoicing import Document, DocumentKind, NewLine, OpenLine
from eps_billing.domain.pricing import (
    Agreement,
    AgreementRow,
    Change,
    Delivery,
    DrawKey,
    DrawState,
    Priced,
    Window,
)
from eps_billing.domain.tariff import BillingPeriod, Tariff, TariffRecord, TariffStatus
from eps_billing.service_layer.unit_of_work import BillingUnitOfWork
from eps_chassis.clock import Clock
from eps_chassis.london import london_date
from eps_contracts import Envelope
from eps_contracts.scheduling import CancellationParty, FundingStream

from tests.support.fakes import TENANT, FakeUnitOfWork

# --- tariffs and schools ----------------------------------------------------------------------


class FakeTariffRepository(TariffRepository):
    def __init__(self, uow: FakeBillingUnitOfWork) -> None:
        self.uow = uow
        self.by_id: dict[uuid.UUID, TariffRecord] = {}
        self.history: list[tuple[uuid.UUID, str, int, str]] = []  # id, action, revision, actor

    def seed(self, tariff: Tariff, at: datetime) -> uuid.UUID:
        """A tariff confirmed before the test (as the seed migration's)."""
        tariff_id = uuid.uuid4()
        self.by_id[tariff_id] = TariffRecord(
            tariff_id, tariff, TariffStatus.CONFIRMED, 1, "migration", at, "migration", at, None
        )
        return tariff_id

    async def records(self) -> list[TariffRecord]:
        return sorted(self.by_id.values(), key=lambda r: r.tariff.effective_from)

    async def get(self, tariff_id: uuid.UUID) -> TariffRecord | None:
        return self.by_id.get(tariff_id)

    async def add(
        self,
        tariff_id: uuid.UUID,
        tariff: Tariff,
        status: TariffStatus,
        actor: str,
        at: datetime,
        carried_forward_from: uuid.UUID | None = None,
    ) -> None:
        confirmed = status is TariffStatus.CONFIRMED
        self.by_id[tariff_id] = TariffRecord(
            tariff_id,
            tariff,
            status,
            1,
            actor,
            at,
            actor if confirmed else None,
            at if confirmed else None,
            carried_forward_from,
        )
        action = "carried-forward" if carried_forward_from else "created"
        self.history.append((tariff_id, action, 1, actor))

    async def replace(self, tariff_id: uuid.UUID, tariff: Tariff, actor: str, at: datetime) -> None:
        record = self.by_id[tariff_id]
        self.by_id[tariff_id] = replace(record, tariff=tariff, revision=record.revision + 1)
        self.history.append((tariff_id, "replaced", record.revision + 1, actor))

    async def confirm(self, tariff_id: uuid.UUID, actor: str, at: datetime) -> None:
        record = self.by_id[tariff_id]
        self.by_id[tariff_id] = replace(
            record, status=TariffStatus.CONFIRMED, confirmed_by=actor, confirmed_at=at
        )
        self.history.append((tariff_id, "confirmed", record.revision, actor))

    async def priced_with(self, first: date, last: date) -> dict[str, int]:
        uow = self.uow
        with_lines = {
            line.delivery_id for line in uow.prices.ledger if first <= line.delivered_on <= last
        }
        drawn = {
            i
            for i, row in uow.deliveries.rows.items()
            if i in uow.prices.priced
            and row.held_reason is None
            and row.delivery.funding_stream
            in (FundingStream.TRADED, FundingStream.CRITICAL_INCIDENT)
            and first <= row.delivery.delivered_on <= last
        }
        agreements = [
            s
            for s in uow.agreements.slas.values()
            if s.status is AgreementStatus.PRICED and first <= s.valid_from <= last
        ]
        cancellations = [
            c
            for c in uow.cancellations.judged.values()
            if c.held_reason is None
            and c.cmd.funding_stream is FundingStream.TRADED
            and c.cmd.cancelled_by is not CancellationParty.SERVICE
            and first <= london_date(c.cmd.starts_at) <= last
        ]
        return {
            "deliveries": len(with_lines | drawn),
            "agreements": len(agreements),
            "cancellations": len(cancellations),
        }


class FakeSchoolRepository(SchoolRepository):
    def __init__(self) -> None:
        self.known_since: dict[str, datetime] = {}

    async def add(self, school_urn: str, known_since: datetime) -> bool:
        if school_urn in self.known_since:
            return False
        self.known_since[school_urn] = known_since
        return True

    async def known(self, school_urn: str) -> bool:
        return school_urn in self.known_since


# --- delivered time and cancellations ---------------------------------------------------------


@dataclass
class DeliveryRow:
    delivery: Delivery  # as recorded, before its changes
    held_reason: str | None = None
    held_since: datetime | None = None


class FakeDeliveryRepository(DeliveryRepository):
    def __init__(self, prices: FakePriceRepository) -> None:
        self.prices = prices  # how far a reach goes depends on the prices stored
        self.rows: dict[uuid.UUID, DeliveryRow] = {}
        self.changes: dict[uuid.UUID, dict[uuid.UUID, Change]] = {}

    async def add_recorded(self, cmds: Sequence[RecordDeliveredTime]) -> set[uuid.UUID]:
        new: set[uuid.UUID] = set()
        for c in cmds:
            if c.delivery_id in self.rows:
                continue
            self.rows[c.delivery_id] = DeliveryRow(
                Delivery(
                    c.delivery_id,
                    c.school_urn,
                    c.delivered_on,
                    c.minutes,
                    c.funding_stream,
                    c.recorded_at,
                    late_cancellation=c.late_cancellation,
                )
            )
            new.add(c.delivery_id)
        return new

    async def add_changes(self, cmds: Sequence[CorrectDeliveredTime | VoidDeliveredTime]) -> None:
        for c in cmds:
            corrected = isinstance(c, CorrectDeliveredTime)
            change = Change(
                c.change_id if isinstance(c, CorrectDeliveredTime) else c.event_id,
                c.at,
                c.minutes if isinstance(c, CorrectDeliveredTime) else None,
                c.funding_stream if isinstance(c, CorrectDeliveredTime) else None,
                voided=not corrected,
            )
            self.changes.setdefault(c.delivery_id, {}).setdefault(change.change_id, change)

    async def changes_of(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Change]]:
        return {i: list(self.changes[i].values()) for i in ids if i in self.changes}

    def _now(self, delivery_id: uuid.UUID) -> Delivery:
        row = self.rows[delivery_id]
        return replace(row.delivery, held=row.held_reason is not None).with_changes(
            self.changes.get(delivery_id, {}).values()
        )

    def now_standing(self, delivery_id: uuid.UUID) -> Delivery:
        """A delivery as it now stands (for assertions)."""
        return self._now(delivery_id)

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> list[Delivery]:
        return [self._now(i) for i in ids if i in self.rows]

    async def drawn_after(self, windows: Sequence[Window]) -> list[list[Delivery]]:
        found: list[list[Delivery]] = []
        for w in windows:
            rows = sorted(
                (
                    row
                    for row in self.rows.values()
                    if row.delivery.school_urn == w.school_urn
                    and w.first <= row.delivery.delivered_on <= w.last
                    and (w.start is None or row.delivery.draw_order >= w.start)
                ),
                key=lambda row: row.delivery.draw_order,
            )
            reached, within = 0, []
            for row in rows:
                if w.reach is None or row.delivery.draw_order <= w.reach.key:
                    within.append(row)
                    continue
                if reached >= w.reach.minutes:
                    continue
                within.append(row)
                price = self.prices.priced.get(row.delivery.delivery_id)
                if row.held_reason is None and price is not None:
                    reached += price.sla_minutes + price.spot_minutes
            found.append([self._now(row.delivery.delivery_id) for row in within])
        return found

    async def between(self, first: date, last: date) -> list[Delivery]:
        return [
            self._now(i)
            for i, row in self.rows.items()
            if first <= row.delivery.delivered_on <= last
        ]

    async def held_between(self, first: date, last: date) -> list[Delivery]:
        return [
            self._now(i)
            for i, row in self.rows.items()
            if row.held_reason is not None and first <= row.delivery.delivered_on <= last
        ]

    async def count_held(self, first: date, last: date) -> int:
        return len(await self.held_between(first, last))

    async def set_held(self, reasons: dict[uuid.UUID, str | None], at: datetime) -> None:
        for delivery_id, reason in reasons.items():
            row = self.rows[delivery_id]
            row.held_since = None if reason is None else (row.held_since or at)
            row.held_reason = reason


@dataclass
class CancellationRow:
    cmd: ChargeCancellation
    charged_minutes: int | None = None
    charge_id: uuid.UUID | None = None
    decision: str | None = None
    held_reason: str | None = None
    held_since: datetime | None = None


class FakeCancellationRepository(CancellationRepository):
    def __init__(self) -> None:
        self.judged: dict[uuid.UUID, CancellationRow] = {}  # by appointment, held ones too

    async def add(
        self, cmd: ChargeCancellation, charge: CancellationCharge, charge_id: uuid.UUID | None
    ) -> bool:
        if cmd.appointment_id in self.judged:
            return False
        self.judged[cmd.appointment_id] = CancellationRow(
            cmd, charge.minutes, charge_id, charge.reason
        )
        return True

    async def add_held(self, cmd: ChargeCancellation, reason: str, at: datetime) -> bool:
        if cmd.appointment_id in self.judged:
            return False
        self.judged[cmd.appointment_id] = CancellationRow(cmd, held_reason=reason, held_since=at)
        return True

    async def held_between(self, first: date, last: date) -> list[ChargeCancellation]:
        held = [
            row.cmd
            for row in self.judged.values()
            if row.held_reason is not None and first <= london_date(row.cmd.starts_at) <= last
        ]
        return sorted(held, key=lambda c: (c.cancelled_at, c.appointment_id))

    async def judge(
        self, appointment_id: uuid.UUID, charge: CancellationCharge, charge_id: uuid.UUID | None
    ) -> None:
        row = self.judged[appointment_id]
        row.charged_minutes, row.charge_id, row.decision = charge.minutes, charge_id, charge.reason
        row.held_reason = row.held_since = None

    async def held_reason(self, appointment_id: uuid.UUID) -> str | None:
        row = self.judged.get(appointment_id)
        return row.held_reason if row is not None else None

    async def charge_of(self, appointment_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        row = self.judged.get(appointment_id)
        if row is None or row.charge_id is None:
            return None
        return row.charge_id, row.cmd.school_urn


# --- agreements -------------------------------------------------------------------------------


@dataclass
class SlaRow:
    """An ``agreements`` row."""

    agreement_id: uuid.UUID
    school_urn: str
    valid_from: date
    valid_to: date
    days: int
    status: AgreementStatus = AgreementStatus.UNPRICED
    minutes: int = 0
    carried_minutes: int = 0
    drawn_minutes: int = 0
    day_minutes: int | None = None
    day_pence: int | None = None
    hold: Hold | None = None
    held_since: datetime | None = None
    bought_by: str | None = None
    bought_at: datetime | None = None
    priced_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    announced_status: AgreementStatus | None = None
    announced_days: int | None = None
    announced_minutes: int | None = None
    pending_reasons: list[str] = field(default_factory=list)
    last_key: DrawKey | None = None
    exhausted_key: DrawKey | None = None

    def forget_draw_keys(self) -> None:
        self.last_key = self.exhausted_key = None

    @property
    def unannounced(self) -> bool:
        return self.status is not AgreementStatus.UNPRICED and (
            self.announced_status is not self.status
            or self.announced_days != self.days
            or self.announced_minutes != self.minutes
        )


class FakeAgreementRepository(AgreementRepository):
    def __init__(self, uow: FakeBillingUnitOfWork) -> None:
        self.uow = uow
        self.slas: dict[uuid.UUID, SlaRow] = {}

    def _ordered(self, rows: Sequence[SlaRow]) -> list[SlaRow]:
        return sorted(rows, key=lambda s: (s.school_urn, s.valid_from))

    def _tracked(self, s: SlaRow) -> AgreementRecord:
        return self.uow.track(
            AgreementRecord(
                s.agreement_id,
                s.school_urn,
                s.valid_from,
                s.valid_to,
                s.days,
                s.status,
                s.minutes,
                s.carried_minutes,
                s.drawn_minutes,
                s.day_minutes,
                s.day_pence,
                s.hold,
                s.held_since,
                s.bought_by,
                s.bought_at,
                s.priced_at,
                s.cancelled_by,
                s.cancelled_at,
                s.cancel_reason,
                s.announced_status,
                s.announced_days,
                s.announced_minutes,
                tuple(s.pending_reasons),
            )
        )

    async def for_schools(self, schools: Sequence[str]) -> list[AgreementRow]:
        priced = [
            s
            for s in self.slas.values()
            if s.school_urn in schools and s.status is AgreementStatus.PRICED
        ]
        return [
            AgreementRow(
                Agreement(s.agreement_id, s.school_urn, s.valid_from, s.valid_to, s.minutes),
                s.drawn_minutes,
                s.last_key,
                s.exhausted_key,
                s.carried_minutes,
            )
            for s in self._ordered(priced)
        ]

    async def get(self, agreement_id: uuid.UUID) -> AgreementRecord | None:
        found = self.slas.get(agreement_id)
        return self._tracked(found) if found is not None else None

    async def current(self, school_urn: str, valid_from: date) -> AgreementRecord | None:
        for s in self.slas.values():
            if (s.school_urn, s.valid_from) == (school_urn, valid_from) and (
                s.status is not AgreementStatus.CANCELLED
            ):
                return self._tracked(s)
        return None

    async def cancelled_count(self, school_urn: str, valid_from: date) -> int:
        return sum(
            (s.school_urn, s.valid_from, s.status)
            == (school_urn, valid_from, AgreementStatus.CANCELLED)
            for s in self.slas.values()
        )

    async def held(
        self, *, school_urn: str | None = None, starting: tuple[date, date] | None = None
    ) -> list[AgreementRecord]:
        held = [
            s
            for s in self.slas.values()
            if s.status is AgreementStatus.UNPRICED
            and (school_urn is None or s.school_urn == school_urn)
            and (starting is None or starting[0] <= s.valid_from <= starting[1])
        ]
        return [self._tracked(s) for s in self._ordered(held)]

    async def priced_starting(self, first: date, last: date) -> list[AgreementRecord]:
        priced = [
            s
            for s in self.slas.values()
            if s.status is AgreementStatus.PRICED and first <= s.valid_from <= last
        ]
        return [self._tracked(s) for s in self._ordered(priced)]

    async def schools_near(self, first: date, last: date) -> list[str]:
        year = timedelta(days=366)
        return sorted(
            {
                s.school_urn
                for s in self.slas.values()
                if s.status is AgreementStatus.PRICED
                and s.valid_to >= first - year
                and s.valid_from <= last + year
            }
        )

    async def add_unpriced(
        self, agreement: Agreement, days: int, hold: Hold | None, bought_by: str, at: datetime
    ) -> bool:
        if await self.current(agreement.school_urn, agreement.valid_from) is not None:
            return False
        self.slas[agreement.agreement_id] = SlaRow(
            agreement.agreement_id,
            agreement.school_urn,
            agreement.valid_from,
            agreement.valid_to,
            days,
            hold=hold,
            held_since=at if hold else None,
            bought_by=bought_by,
            bought_at=at,
        )
        return True

    async def hold(self, agreement_id: uuid.UUID, hold: Hold, at: datetime) -> None:
        s = self.slas[agreement_id]
        s.hold, s.held_since = hold, s.held_since or at

    async def price(
        self,
        agreement_id: uuid.UUID,
        day_minutes: int,
        day_pence: int,
        minutes: int,
        at: datetime,
    ) -> None:
        s = self.slas[agreement_id]
        s.status, s.day_minutes, s.day_pence = AgreementStatus.PRICED, day_minutes, day_pence
        s.minutes, s.carried_minutes, s.drawn_minutes, s.priced_at = minutes, 0, 0, at
        s.hold = s.held_since = None
        s.forget_draw_keys()

    async def set_days(self, agreement_id: uuid.UUID, days: int) -> None:
        self.slas[agreement_id].days = days

    async def set_terms(
        self,
        agreement_id: uuid.UUID,
        *,
        days: int,
        day_minutes: int,
        day_pence: int,
        minutes: int,
        reason: str,
    ) -> None:
        s = self.slas[agreement_id]
        s.days, s.day_minutes, s.day_pence, s.minutes = days, day_minutes, day_pence, minutes
        s.forget_draw_keys()
        s.pending_reasons.append(reason)

    async def set_carried(
        self, agreement_id: uuid.UUID, minutes: int, carried: int, reason: str
    ) -> None:
        s = self.slas[agreement_id]
        s.minutes, s.carried_minutes = minutes, carried
        s.forget_draw_keys()
        s.pending_reasons.append(reason)

    async def set_drawn(self, updates: Sequence[DrawState]) -> None:
        for u in updates:
            s = self.slas[u.agreement_id]
            s.drawn_minutes, s.last_key, s.exhausted_key = (
                u.drawn_minutes,
                u.last_key,
                u.exhausted_key,
            )

    async def cancel(self, agreement_id: uuid.UUID, reason: str, actor: str, at: datetime) -> None:
        s = self.slas[agreement_id]
        s.status = AgreementStatus.CANCELLED
        s.minutes = s.carried_minutes = s.drawn_minutes = 0
        s.forget_draw_keys()
        s.hold = s.held_since = None
        s.cancelled_by, s.cancelled_at, s.cancel_reason = actor, at, reason

    async def unannounced(self, schools: Sequence[str] | None = None) -> list[AgreementRecord]:
        due = [
            s
            for s in self.slas.values()
            if s.unannounced and (schools is None or s.school_urn in schools)
        ]
        return [self._tracked(s) for s in self._ordered(due)]

    async def mark_announced(self, records: Sequence[AgreementRecord]) -> None:
        for record in records:
            s = self.slas[record.agreement_id]
            s.announced_status, s.announced_days, s.announced_minutes = (
                s.status,
                s.days,
                s.minutes,
            )
            s.pending_reasons.clear()


# --- prices, ledger and documents -------------------------------------------------------------


@dataclass
class LedgerLine:
    line_id: int
    line: NewLine
    settled_on: date | None = None
    document_id: uuid.UUID | None = None

    @property
    def delivery_id(self) -> uuid.UUID:
        return self.line.delivery_id

    @property
    def delivered_on(self) -> date:
        return self.line.delivered_on


class FakePriceRepository(PriceRepository):
    def __init__(self) -> None:
        self.priced: dict[uuid.UUID, Priced] = {}
        self.ledger: list[LedgerLine] = []

    async def current(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Priced]:
        return {i: self.priced[i] for i in ids if i in self.priced}

    async def save(self, prices: Sequence[Priced], lines: Sequence[NewLine]) -> None:
        self.priced.update({p.delivery_id: p for p in prices})
        for line in lines:
            self.ledger.append(LedgerLine(len(self.ledger) + 1, line))

    def charged(self, delivery_id: uuid.UUID) -> int:
        """What the ledger says a delivery costs now, in pence (for assertions)."""
        return sum(entry.line.pence for entry in self.ledger if entry.delivery_id == delivery_id)


class FakeDocumentRepository(DocumentRepository):
    def __init__(self, uow: FakeBillingUnitOfWork) -> None:
        self.uow = uow
        self.issued: list[Document] = []
        self.counters: dict[DocumentKind, int] = {}
        self.finalised: list[BillingPeriod] = []
        self.locks = 0

    @property
    def _ledger(self) -> list[LedgerLine]:
        return self.uow.prices.ledger

    async def lock(self) -> None:
        self.locks += 1

    async def last_finalised(self) -> date | None:
        return max((p.start for p in self.finalised), default=None)

    async def earliest_open(self) -> date | None:
        open_lines = [e.line.period_start for e in self._ledger if e.settled_on is None]
        return min(open_lines, default=None)

    async def open_lines(self, up_to: date) -> dict[str, list[OpenLine]]:
        by_school: dict[str, list[OpenLine]] = {}
        for e in sorted(self._ledger, key=lambda e: (e.line.school_urn, e.line_id)):
            if e.settled_on is None and e.line.period_start <= up_to:
                by_school.setdefault(e.line.school_urn, []).append(
                    OpenLine(
                        e.line_id,
                        e.delivery_id,
                        e.delivered_on,
                        e.line.pence,
                        e.line.sla_minutes,
                        e.line.description,
                    )
                )
        return by_school

    async def invoiced_before(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        on_documents = {line.delivery_id for d in self.issued for line in d.lines}
        return on_documents & set(ids)

    async def next_number(self, kind: DocumentKind) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    async def add(self, document: Document) -> None:
        self.issued.append(document)
        self.uow.track(document)

    async def settle(
        self, line_ids: Sequence[int], on: date, document_id: uuid.UUID | None
    ) -> None:
        for e in self._ledger:
            if e.line_id in line_ids:
                e.settled_on, e.document_id = on, document_id

    async def mark_finalised(self, period: BillingPeriod, at: datetime) -> None:
        self.finalised.append(period)


# --- the unit of work -------------------------------------------------------------------------


class FakeBillingUnitOfWork(FakeUnitOfWork, BillingUnitOfWork):
    """One authority's billing in memory. ``tariffs`` are confirmed before the test starts;
    ``locks`` says which pricing locks each handler took."""

    # The fakes, not the ports: a test reads what they keep (``uow.<repository>.<rows>``).
    tariffs: FakeTariffRepository
    schools: FakeSchoolRepository
    deliveries: FakeDeliveryRepository
    cancellations: FakeCancellationRepository
    agreements: FakeAgreementRepository
    prices: FakePriceRepository
    documents: FakeDocumentRepository

    def __init__(
        self,
        *,
        tenant: str = TENANT,
        clock: Clock | None = None,
        tariffs: Sequence[Tariff] = (),
    ) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.tariffs = FakeTariffRepository(self)
        self.schools = FakeSchoolRepository()
        self.prices = FakePriceRepository()
        self.deliveries = FakeDeliveryRepository(self.prices)
        self.cancellations = FakeCancellationRepository()
        self.agreements = FakeAgreementRepository(self)
        self.documents = FakeDocumentRepository(self)
        self.locks: list[str] = []
        self.by_tenant: dict[str, FakeBillingUnitOfWork] = {}
        for tariff in tariffs:
            self.tariffs.seed(tariff, self.clock())

    async def lock_pricing(self, *, exclusive: bool) -> None:
        self.locks.append("exclusive" if exclusive else "shared")

    def caused_by(self, envelope: Envelope[Any]) -> FakeBillingUnitOfWork:
        """The unit of work of the event's authority (a batch may hold several): each
        authority's billing is kept apart, as its rows are."""
        if envelope.tenant == self.tenant:
            return self
        if envelope.tenant not in self.by_tenant:
            self.by_tenant[envelope.tenant] = FakeBillingUnitOfWork(
                tenant=envelope.tenant, clock=self.clock
            )
        return self.by_tenant[envelope.tenant]
