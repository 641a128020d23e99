"""Persistence of billing in the service's own schema.

Each repository is an abstract port (what the service layer needs) and its PostgreSQL adapter,
bound to one unit of work: its transaction and its local authority, so no method takes a tenant.
The SLAs and documents they load or add are tracked by the unit of work, which publishes what
they record when it commits. Tests use in-memory fakes (``tests/support/fakes/billing.py``).

Written for batches: each method takes or returns many rows at once (``unnest`` arrays), so a
polled batch of delivered-time events costs a fixed number of round trips, not one per event.
Queries across every authority (which ones a job has work for, the unpriced gauges) are plain
functions of a connection.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime

import asyncpg
from eps_chassis.errors import OwnedElsewhere
from eps_chassis.unit_of_work import PostgresRepository
from eps_contracts.scheduling import CancellationParty, FundingStream

from eps_billing.domain.agreements import AgreementRecord, AgreementStatus, Hold, HoldKind
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
    DrawState,
    Priced,
    Window,
)
from eps_billing.domain.tariff import BillingPeriod, Tariff, TariffRecord, TariffStatus

# --- ports ------------------------------------------------------------------------------------


class TariffRepository(abc.ABC):
    """The authority's tariffs, drafts and confirmed, and what each has priced."""

    @abc.abstractmethod
    async def records(self) -> list[TariffRecord]:
        """Every tariff, in date order."""

    async def confirmed(self) -> list[Tariff]:
        """The confirmed tariffs, the only ones that price anything."""
        return [r.tariff for r in await self.records() if r.status is TariffStatus.CONFIRMED]

    @abc.abstractmethod
    async def get(self, tariff_id: uuid.UUID) -> TariffRecord | None: ...

    @abc.abstractmethod
    async def add(
        self,
        tariff_id: uuid.UUID,
        tariff: Tariff,
        status: TariffStatus,
        actor: str,
        at: datetime,
        carried_forward_from: uuid.UUID | None = None,
    ) -> None:
        """Keep a new tariff (confirmed by ``actor`` at once if ``status`` says so), with the
        first entry of its history: created, or carried forward from another."""

    @abc.abstractmethod
    async def replace(self, tariff_id: uuid.UUID, tariff: Tariff, actor: str, at: datetime) -> None:
        """New rules and dates for a tariff (its next revision; its status stays)."""

    @abc.abstractmethod
    async def confirm(self, tariff_id: uuid.UUID, actor: str, at: datetime) -> None: ...

    @abc.abstractmethod
    async def priced_with(self, first: date, last: date) -> dict[str, int]:
        """What a tariff has priced between two days: ``deliveries`` (time with ledger lines or
        drawn from an SLA), ``agreements`` (SLAs priced) and ``cancellations`` (judged)."""


class SchoolRepository(abc.ABC):
    """The schools billing has heard of (from scheduling)."""

    @abc.abstractmethod
    async def add(self, school_urn: str, known_since: datetime) -> bool:
        """True when the school is new to billing."""

    @abc.abstractmethod
    async def known(self, school_urn: str) -> bool: ...


class DeliveryRepository(abc.ABC):
    """Delivered time as recorded, with its corrections and voids, and why it waits unpriced."""

    @abc.abstractmethod
    async def add_recorded(self, cmds: Sequence[RecordDeliveredTime]) -> set[uuid.UUID]:
        """Store deliveries; returns the ids new here (a re-sent one is not new)."""

    @abc.abstractmethod
    async def add_changes(self, cmds: Sequence[CorrectDeliveredTime | VoidDeliveredTime]) -> None:
        """Store corrections and voids (each once), whether or not their delivery is known."""

    @abc.abstractmethod
    async def changes_of(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Change]]: ...

    @abc.abstractmethod
    async def by_ids(self, ids: Sequence[uuid.UUID]) -> list[Delivery]:
        """The deliveries as they now stand (after their changes)."""

    async def in_window(self, school_urn: str, first: date, last: date) -> list[Delivery]:
        """A school's deliveries dated between two days."""
        [found] = await self.drawn_after([Window(school_urn, first, last)])
        return found

    @abc.abstractmethod
    async def drawn_after(self, windows: Sequence[Window]) -> list[list[Delivery]]:
        """For each window: the school's deliveries dated in it from its draw key on (every one
        when the key is None); past its ``reach`` key, only those whose earlier deliveries
        past the key were priced at fewer chargeable minutes, all told, than its reach's
        minutes (a held delivery counts none)."""

    @abc.abstractmethod
    async def between(self, first: date, last: date) -> list[Delivery]:
        """Every delivery dated between two days (every school)."""

    @abc.abstractmethod
    async def held_between(self, first: date, last: date) -> list[Delivery]:
        """Deliveries held for want of a tariff, dated between two days (every school)."""

    @abc.abstractmethod
    async def count_held(self, first: date, last: date) -> int: ...

    @abc.abstractmethod
    async def set_held(self, reasons: dict[uuid.UUID, str | None], at: datetime) -> None:
        """Hold deliveries (a reason) or release them (None); a delivery held again keeps the
        time it was first held."""


class CancellationRepository(abc.ABC):
    """Every cancellation billing judged (or holds unjudged), keyed by appointment."""

    @abc.abstractmethod
    async def add(
        self, cmd: ChargeCancellation, charge: CancellationCharge, charge_id: uuid.UUID | None
    ) -> bool:
        """Record the judgement of an appointment's cancellation; False if one was recorded
        before (the appointment was already cancelled: this one changes nothing)."""

    @abc.abstractmethod
    async def add_held(self, cmd: ChargeCancellation, reason: str, at: datetime) -> bool:
        """Record a cancellation that cannot be judged yet (no tariff for its date); False if
        the appointment's cancellation was recorded before."""

    @abc.abstractmethod
    async def held_between(self, first: date, last: date) -> list[ChargeCancellation]:
        """Cancellations waiting to be judged whose appointment's London date is in the days,
        as the commands that first brought them (locked until the transaction ends)."""

    @abc.abstractmethod
    async def judge(
        self, appointment_id: uuid.UUID, charge: CancellationCharge, charge_id: uuid.UUID | None
    ) -> None:
        """The judgement of a cancellation that waited for its tariff."""

    @abc.abstractmethod
    async def held_reason(self, appointment_id: uuid.UUID) -> str | None:
        """Why the appointment's cancellation waits unjudged (None: it does not)."""

    @abc.abstractmethod
    async def charge_of(self, appointment_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        """The delivery carrying an appointment's cancellation charge, and its school; None
        when the appointment was not charged (or its cancellation never reached billing)."""


class AgreementRepository(abc.ABC):
    """The schools' SLAs. Those loaded as records are tracked by the unit of work, which
    publishes what they announce."""

    @abc.abstractmethod
    async def for_schools(self, schools: Sequence[str]) -> list[AgreementRow]:
        """The schools' priced SLAs, the only ones time is drawn from, by school and year
        (locked, in that order)."""

    @abc.abstractmethod
    async def get(self, agreement_id: uuid.UUID) -> AgreementRecord | None:
        """An SLA, whatever its status (locked)."""

    @abc.abstractmethod
    async def current(self, school_urn: str, valid_from: date) -> AgreementRecord | None:
        """The school's SLA for the year that is not cancelled (priced or waiting), if any."""

    @abc.abstractmethod
    async def cancelled_count(self, school_urn: str, valid_from: date) -> int: ...

    @abc.abstractmethod
    async def held(
        self, *, school_urn: str | None = None, starting: tuple[date, date] | None = None
    ) -> list[AgreementRecord]:
        """Unpriced SLAs of a school, or starting between two days (locked)."""

    @abc.abstractmethod
    async def priced_starting(self, first: date, last: date) -> list[AgreementRecord]:
        """Priced SLAs starting between two days, every school (locked)."""

    @abc.abstractmethod
    async def schools_near(self, first: date, last: date) -> list[str]:
        """Schools with a priced SLA within a year of the days (whose carry-over may move)."""

    @abc.abstractmethod
    async def add_unpriced(
        self, agreement: Agreement, days: int, hold: Hold | None, bought_by: str, at: datetime
    ) -> bool:
        """Record a purchase, not yet priced (``price`` puts it in force); False when the
        school already has an SLA for the year that is not cancelled."""

    @abc.abstractmethod
    async def hold(self, agreement_id: uuid.UUID, hold: Hold, at: datetime) -> None:
        """Still unpriced, perhaps for another reason now; held since it was first held."""

    @abc.abstractmethod
    async def price(
        self,
        agreement_id: uuid.UUID,
        day_minutes: int,
        day_pence: int,
        minutes: int,
        at: datetime,
    ) -> None:
        """In force: the tariff's day, nothing carried or drawn yet (pricing brings both)."""

    @abc.abstractmethod
    async def set_days(self, agreement_id: uuid.UUID, days: int) -> None:
        """New days for an SLA not priced yet (it gives no minutes until it is)."""

    @abc.abstractmethod
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
        """New days or a new day (a tariff replaced) for a priced SLA: the minutes held change,
        so the draw-down keys no longer hold; the reason waits to be announced."""

    @abc.abstractmethod
    async def set_carried(
        self, agreement_id: uuid.UUID, minutes: int, carried: int, reason: str
    ) -> None:
        """A new carry-over: the minutes held change, so the draw-down keys no longer hold;
        the reason waits to be announced."""

    @abc.abstractmethod
    async def set_drawn(self, updates: Sequence[DrawState]) -> None: ...

    @abc.abstractmethod
    async def cancel(self, agreement_id: uuid.UUID, reason: str, actor: str, at: datetime) -> None:
        """Nothing to book or draw any more; the days and day price stay, for the record."""

    @abc.abstractmethod
    async def unannounced(self, schools: Sequence[str] | None = None) -> list[AgreementRecord]:
        """SLAs (of some schools, or all) whose state differs from what the other services were
        last told (locked)."""

    @abc.abstractmethod
    async def mark_announced(self, records: Sequence[AgreementRecord]) -> None:
        """What the other services now know of these SLAs is their state as it stands."""


class PriceRepository(abc.ABC):
    """What each delivery costs now, and the ledger lines of every change in it."""

    @abc.abstractmethod
    async def current(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Priced]: ...

    @abc.abstractmethod
    async def save(self, prices: Sequence[Priced], lines: Sequence[NewLine]) -> None:
        """Keep the new prices and add their ledger lines (append-only)."""


class DocumentRepository(abc.ABC):
    """Ledger lines settled on invoices and credit notes; the periods closed. Documents added
    are tracked by the unit of work, which publishes their issue."""

    @abc.abstractmethod
    async def lock(self) -> None:
        """Finalise the authority's periods one transaction at a time."""

    @abc.abstractmethod
    async def last_finalised(self) -> date | None:
        """The start of the last period closed."""

    @abc.abstractmethod
    async def earliest_open(self) -> date | None:
        """The start of the earliest period with an unsettled ledger line."""

    @abc.abstractmethod
    async def open_lines(self, up_to: date) -> dict[str, list[OpenLine]]:
        """Unsettled lines of the periods starting up to a day, by school (locked)."""

    @abc.abstractmethod
    async def invoiced_before(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """The deliveries among these that are on an issued document."""

    @abc.abstractmethod
    async def next_number(self, kind: DocumentKind) -> int:
        """The next number of a gapless series: the counter stays locked until commit."""

    @abc.abstractmethod
    async def add(self, document: Document) -> None: ...

    @abc.abstractmethod
    async def settle(
        self, line_ids: Sequence[int], on: date, document_id: uuid.UUID | None
    ) -> None: ...

    @abc.abstractmethod
    async def mark_finalised(self, period: BillingPeriod, at: datetime) -> None: ...


# --- queries across authorities ---------------------------------------------------------------


async def tenants_with_tariffs(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with a tariff: those whose billing periods may close (the finalising
    job's round)."""
    rows = await conn.fetch("SELECT DISTINCT tenant FROM tariffs ORDER BY tenant")
    return [r["tenant"] for r in rows]


_UNANNOUNCED = (
    " status <> 'unpriced' AND (announced_status IS DISTINCT FROM status"
    " OR announced_days IS DISTINCT FROM days OR announced_minutes IS DISTINCT FROM minutes)"
)


async def tenants_with_unannounced_agreements(conn: asyncpg.Connection, now: datetime) -> list[str]:
    """Local authorities with an SLA whose state was never announced (the announcing job's
    round)."""
    rows = await conn.fetch(
        "SELECT DISTINCT tenant FROM agreements WHERE" + _UNANNOUNCED + " ORDER BY tenant"
    )
    return [r["tenant"] for r in rows]


async def schools_of_deliveries(
    conn: asyncpg.Connection, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The school of each stored delivery among these (whichever authority's): what a batch of
    delivered time is split by (``entrypoints.events.same_sla``)."""
    rows = await conn.fetch(
        "SELECT delivery_id, school_urn FROM deliveries WHERE delivery_id = ANY($1::uuid[])",
        list(delivery_ids),
    )
    return {r["delivery_id"]: r["school_urn"] for r in rows}


async def unpriced_summary(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """(item, reason kind, count, oldest held_since) of what is held unpriced, over every
    authority (the gauges: never a school nor an authority)."""
    return list(
        await conn.fetch(
            "SELECT 'delivery' AS item, 'no_tariff' AS reason_kind, count(*) AS n,"
            " min(held_since) AS oldest FROM deliveries WHERE held_reason IS NOT NULL"
            " UNION ALL SELECT 'late_cancellation', 'no_tariff', count(*), min(held_since)"
            " FROM cancellations WHERE held_reason IS NOT NULL"
            " UNION ALL SELECT 'agreement', held_kind, count(*), min(held_since)"
            " FROM agreements WHERE status = 'unpriced' GROUP BY held_kind"
        )
    )


# --- PostgreSQL -------------------------------------------------------------------------------


class PostgresTariffRepository(TariffRepository, PostgresRepository):
    async def records(self) -> list[TariffRecord]:
        rows = await self.conn.fetch(
            "SELECT * FROM tariffs WHERE tenant = $1 ORDER BY effective_from", self.tenant
        )
        return [_tariff_record(r) for r in rows]

    async def get(self, tariff_id: uuid.UUID) -> TariffRecord | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM tariffs WHERE tenant = $1 AND tariff_id = $2", self.tenant, tariff_id
        )
        return _tariff_record(row) if row else None

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
        await self.conn.execute(
            "INSERT INTO tariffs (tenant, effective_from, effective_to, rules, tariff_id, status,"
            " created_by, created_at, confirmed_by, confirmed_at, carried_forward_from)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            self.tenant,
            tariff.effective_from,
            tariff.effective_to,
            json.dumps(tariff.rules()),
            tariff_id,
            str(status),
            actor,
            at,
            actor if confirmed else None,
            at if confirmed else None,
            carried_forward_from,
        )
        action = "carried-forward" if carried_forward_from else "created"
        await self._history(tariff_id, action, actor, at)

    async def replace(self, tariff_id: uuid.UUID, tariff: Tariff, actor: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE tariffs SET effective_from = $3, effective_to = $4, rules = $5,"
            " revision = revision + 1 WHERE tenant = $1 AND tariff_id = $2",
            self.tenant,
            tariff_id,
            tariff.effective_from,
            tariff.effective_to,
            json.dumps(tariff.rules()),
        )
        await self._history(tariff_id, "replaced", actor, at)

    async def confirm(self, tariff_id: uuid.UUID, actor: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE tariffs SET status = 'confirmed', confirmed_by = $3, confirmed_at = $4"
            " WHERE tenant = $1 AND tariff_id = $2",
            self.tenant,
            tariff_id,
            actor,
            at,
        )
        await self._history(tariff_id, "confirmed", actor, at)

    async def _history(self, tariff_id: uuid.UUID, action: str, actor: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO tariff_history (tenant, tariff_id, action, revision, status,"
            " effective_from, effective_to, rules, actor, at)"
            " SELECT tenant, tariff_id, $3, revision, status, effective_from, effective_to,"
            " rules, $4, $5 FROM tariffs WHERE tenant = $1 AND tariff_id = $2",
            self.tenant,
            tariff_id,
            action,
            actor,
            at,
        )

    async def priced_with(self, first: date, last: date) -> dict[str, int]:
        row = await self.conn.fetchrow(
            "SELECT"
            " (SELECT count(*) FROM (SELECT delivery_id FROM ledger_lines WHERE tenant = $1"
            "   AND delivered_on BETWEEN $2 AND $3"
            "   UNION SELECT d.delivery_id FROM deliveries d JOIN priced_deliveries p"
            "   USING (tenant, delivery_id) WHERE d.tenant = $1 AND d.held_reason IS NULL"
            "   AND d.funding_stream IN ('traded', 'critical_incident')"
            "   AND d.delivered_on BETWEEN $2 AND $3) AS priced) AS deliveries,"
            " (SELECT count(*) FROM agreements WHERE tenant = $1 AND status = 'priced'"
            "   AND valid_from BETWEEN $2 AND $3) AS agreements,"
            " (SELECT count(*) FROM cancellations WHERE tenant = $1 AND held_reason IS NULL"
            "   AND funding_stream = 'traded' AND cancelled_by IS DISTINCT FROM 'service'"
            "   AND (starts_at AT TIME ZONE 'Europe/London')::date BETWEEN $2 AND $3)"
            "   AS cancellations",
            self.tenant,
            first,
            last,
        )
        assert row is not None
        return {k: int(v) for k, v in dict(row).items()}


def _tariff_record(r: asyncpg.Record) -> TariffRecord:
    return TariffRecord(
        r["tariff_id"],
        Tariff.from_rules(
            r["tenant"], r["effective_from"], r["effective_to"], json.loads(r["rules"])
        ),
        TariffStatus(r["status"]),
        r["revision"],
        r["created_by"],
        r["created_at"],
        r["confirmed_by"],
        r["confirmed_at"],
        r["carried_forward_from"],
    )


class PostgresSchoolRepository(SchoolRepository, PostgresRepository):
    async def add(self, school_urn: str, known_since: datetime) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO schools (tenant, school_urn, known_since) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            self.tenant,
            school_urn,
            known_since,
        )
        return bool(inserted)

    async def known(self, school_urn: str) -> bool:
        row = await self.conn.fetchrow(
            "SELECT tenant FROM schools WHERE school_urn = $1", school_urn
        )
        return self.owned(row, "school", school_urn, field="school_urn") is not None


class PostgresDeliveryRepository(DeliveryRepository, PostgresRepository):
    async def add_recorded(self, cmds: Sequence[RecordDeliveredTime]) -> set[uuid.UUID]:
        if not cmds:
            return set()
        ids = [c.delivery_id for c in cmds]
        schools = [c.school_urn for c in cmds]
        # in the same statement: a school of theirs another authority holds
        rows = await self.conn.fetch(
            "WITH added AS (INSERT INTO deliveries (tenant, delivery_id, school_urn,"
            " delivered_on, minutes, funding_stream, recorded_at, late_cancellation)"
            " SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::date[], $5::int[],"
            " $6::text[], $7::timestamptz[], $8::bool[])"
            " ON CONFLICT DO NOTHING RETURNING delivery_id)"
            " SELECT delivery_id, NULL AS school_urn FROM added"
            " UNION ALL SELECT NULL, school_urn FROM schools"
            " WHERE school_urn = ANY($9::text[]) AND tenant <> $1",
            self.tenant,
            ids,
            schools,
            [c.delivered_on for c in cmds],
            [c.minutes for c in cmds],
            [str(c.funding_stream) for c in cmds],
            [c.recorded_at for c in cmds],
            [c.late_cancellation for c in cmds],
            list(set(schools)),
        )
        for r in rows:
            if r["school_urn"] is not None:
                raise OwnedElsewhere("school", r["school_urn"], field="school_urn")
        added = {r["delivery_id"] for r in rows}
        if len(added) < len(ids):  # stored before: sent again, or another authority's
            another = await self.conn.fetchval(
                "SELECT delivery_id::text FROM deliveries WHERE delivery_id = ANY($2::uuid[])"
                " AND tenant <> $1 LIMIT 1",
                self.tenant,
                [i for i in ids if i not in added],
            )
            if another is not None:
                raise OwnedElsewhere("delivery", another, field="delivery_id")
        return added

    async def add_changes(self, cmds: Sequence[CorrectDeliveredTime | VoidDeliveredTime]) -> None:
        if not cmds:
            return
        # in the same statement: a delivery of theirs another authority holds
        another = await self.conn.fetchval(
            "WITH added AS (INSERT INTO delivery_changes (tenant, delivery_id, change_id, at,"
            " minutes, funding_stream, voided, reason)"
            " SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::int[],"
            " $6::text[], $7::bool[], $8::text[])"
            " ON CONFLICT DO NOTHING)"
            " SELECT delivery_id FROM deliveries WHERE delivery_id = ANY($2::uuid[])"
            " AND tenant <> $1 UNION SELECT delivery_id FROM delivery_changes"
            " WHERE delivery_id = ANY($2::uuid[]) AND tenant <> $1 LIMIT 1",
            self.tenant,
            [c.delivery_id for c in cmds],
            [c.change_id if isinstance(c, CorrectDeliveredTime) else c.event_id for c in cmds],
            [c.at for c in cmds],
            [c.minutes if isinstance(c, CorrectDeliveredTime) else None for c in cmds],
            [str(c.funding_stream) if isinstance(c, CorrectDeliveredTime) else None for c in cmds],
            [isinstance(c, VoidDeliveredTime) for c in cmds],
            [c.reason for c in cmds],
        )
        if another is not None:
            raise OwnedElsewhere("delivery", another, field="delivery_id")

    async def changes_of(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Change]]:
        changes: dict[uuid.UUID, list[Change]] = {}
        if not ids:
            return changes
        for c in await self.conn.fetch(
            "SELECT delivery_id, change_id, at, minutes, funding_stream, voided"
            " FROM delivery_changes WHERE tenant = $1 AND delivery_id = ANY($2::uuid[])",
            self.tenant,
            list(ids),
        ):
            stream = FundingStream(c["funding_stream"]) if c["funding_stream"] else None
            changes.setdefault(c["delivery_id"], []).append(
                Change(c["change_id"], c["at"], c["minutes"], stream, c["voided"])
            )
        return changes

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> list[Delivery]:
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE tenant = $1 AND delivery_id = ANY($2::uuid[])",
            self.tenant,
            list(ids),
        )
        return await self._with_changes(rows)

    async def drawn_after(self, windows: Sequence[Window]) -> list[list[Delivery]]:
        if not windows:
            return []
        # "reached": the chargeable minutes priced past the reach key before each delivery
        rows = await self.conn.fetch(
            "SELECT * FROM (SELECT w.ord, w.minutes AS reach_minutes, d.*,"
            " w.reach_at IS NULL OR (d.recorded_at, d.delivery_id) <= (w.reach_at, w.reach_id)"
            " AS within, coalesce(sum(CASE WHEN (d.recorded_at, d.delivery_id)"
            " > (w.reach_at, w.reach_id) AND d.held_reason IS NULL"
            " THEN p.sla_minutes + p.spot_minutes ELSE 0 END) OVER (PARTITION BY w.ord"
            " ORDER BY d.recorded_at, d.delivery_id"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS reached"
            " FROM unnest($2::text[], $3::date[], $4::date[], $5::timestamptz[], $6::uuid[],"
            " $7::timestamptz[], $8::uuid[], $9::int[])"
            " WITH ORDINALITY AS w(school, first, last, at, id, reach_at, reach_id, minutes, ord)"
            " JOIN deliveries d ON d.tenant = $1 AND d.school_urn = w.school"
            " AND d.delivered_on BETWEEN w.first AND w.last"
            " AND (w.at IS NULL OR (d.recorded_at, d.delivery_id) >= (w.at, w.id))"
            " LEFT JOIN priced_deliveries p ON w.reach_at IS NOT NULL AND p.tenant = $1"
            " AND p.delivery_id = d.delivery_id) s"
            " WHERE within OR reached < reach_minutes",
            self.tenant,
            [w.school_urn for w in windows],
            [w.first for w in windows],
            [w.last for w in windows],
            [w.start[0] if w.start else None for w in windows],
            [w.start[1] if w.start else None for w in windows],
            [w.reach.key[0] if w.reach else None for w in windows],
            [w.reach.key[1] if w.reach else None for w in windows],
            [w.reach.minutes if w.reach else None for w in windows],
        )
        found: list[list[Delivery]] = [[] for _ in windows]
        for row, delivery in zip(rows, await self._with_changes(rows), strict=True):
            found[row["ord"] - 1].append(delivery)
        return found

    async def between(self, first: date, last: date) -> list[Delivery]:
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE tenant = $1 AND delivered_on BETWEEN $2 AND $3",
            self.tenant,
            first,
            last,
        )
        return await self._with_changes(rows)

    async def held_between(self, first: date, last: date) -> list[Delivery]:
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE tenant = $1 AND held_reason IS NOT NULL"
            " AND delivered_on BETWEEN $2 AND $3",
            self.tenant,
            first,
            last,
        )
        return await self._with_changes(rows)

    async def count_held(self, first: date, last: date) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE tenant = $1 AND held_reason IS NOT NULL"
                " AND delivered_on BETWEEN $2 AND $3",
                self.tenant,
                first,
                last,
            )
        )

    async def set_held(self, reasons: dict[uuid.UUID, str | None], at: datetime) -> None:
        if not reasons:
            return
        # only rows that change are written
        await self.conn.execute(
            "UPDATE deliveries d SET held_reason = u.reason,"
            " held_since = CASE WHEN u.reason IS NULL THEN NULL"
            " ELSE coalesce(d.held_since, $4) END"
            " FROM unnest($2::uuid[], $3::text[]) AS u(id, reason)"
            " WHERE d.tenant = $1 AND d.delivery_id = u.id"
            " AND d.held_reason IS DISTINCT FROM u.reason",
            self.tenant,
            list(reasons),
            list(reasons.values()),
            at,
        )

    async def _with_changes(self, rows: Sequence[asyncpg.Record]) -> list[Delivery]:
        if not rows:
            return []
        changes = await self.changes_of([r["delivery_id"] for r in rows])
        return [
            Delivery(
                r["delivery_id"],
                r["school_urn"],
                r["delivered_on"],
                r["minutes"],
                FundingStream(r["funding_stream"]),
                r["recorded_at"],
                late_cancellation=r["late_cancellation"],
                held=r["held_reason"] is not None,
            ).with_changes(changes.get(r["delivery_id"], ()))
            for r in rows
        ]


class PostgresCancellationRepository(CancellationRepository, PostgresRepository):
    async def add(
        self, cmd: ChargeCancellation, charge: CancellationCharge, charge_id: uuid.UUID | None
    ) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO cancellations (tenant, appointment_id, event_id, school_urn,"
            " funding_stream, starts_at, ends_at, cancelled_at, cancelled_by, charged_minutes,"
            " charge_id, decision) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
            " ON CONFLICT (appointment_id) DO NOTHING RETURNING true",
            self.tenant,
            cmd.appointment_id,
            cmd.event_id,
            cmd.school_urn,
            str(cmd.funding_stream),
            cmd.starts_at,
            cmd.ends_at,
            cmd.cancelled_at,
            str(cmd.cancelled_by) if cmd.cancelled_by else None,
            charge.minutes,
            charge_id,
            charge.reason,
        )
        if not inserted:  # judged before: here, or by another authority
            await self.refuse_anothers(
                "cancellations", "appointment_id", cmd.appointment_id, "appointment"
            )
        return bool(inserted)

    async def add_held(self, cmd: ChargeCancellation, reason: str, at: datetime) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO cancellations (tenant, appointment_id, event_id, school_urn,"
            " funding_stream, starts_at, ends_at, cancelled_at, cancelled_by, held_reason,"
            " held_since) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            " ON CONFLICT (appointment_id) DO NOTHING RETURNING true",
            self.tenant,
            cmd.appointment_id,
            cmd.event_id,
            cmd.school_urn,
            str(cmd.funding_stream),
            cmd.starts_at,
            cmd.ends_at,
            cmd.cancelled_at,
            str(cmd.cancelled_by) if cmd.cancelled_by else None,
            reason,
            at,
        )
        if not inserted:  # recorded before: here, or by another authority
            await self.refuse_anothers(
                "cancellations", "appointment_id", cmd.appointment_id, "appointment"
            )
        return bool(inserted)

    async def held_between(self, first: date, last: date) -> list[ChargeCancellation]:
        rows = await self.conn.fetch(
            "SELECT * FROM cancellations WHERE tenant = $1 AND held_reason IS NOT NULL"
            " AND (starts_at AT TIME ZONE 'Europe/London')::date BETWEEN $2 AND $3"
            " ORDER BY cancelled_at, appointment_id FOR UPDATE",
            self.tenant,
            first,
            last,
        )
        return [
            ChargeCancellation(
                event_id=r["event_id"],
                appointment_id=r["appointment_id"],
                school_urn=r["school_urn"],
                funding_stream=FundingStream(r["funding_stream"]),
                starts_at=r["starts_at"],
                ends_at=r["ends_at"],
                cancelled_at=r["cancelled_at"],
                cancelled_by=CancellationParty(r["cancelled_by"]) if r["cancelled_by"] else None,
            )
            for r in rows
        ]

    async def judge(
        self, appointment_id: uuid.UUID, charge: CancellationCharge, charge_id: uuid.UUID | None
    ) -> None:
        await self.conn.execute(
            "UPDATE cancellations SET charged_minutes = $3, charge_id = $4, decision = $5,"
            " held_reason = NULL, held_since = NULL WHERE tenant = $1 AND appointment_id = $2",
            self.tenant,
            appointment_id,
            charge.minutes,
            charge_id,
            charge.reason,
        )

    async def held_reason(self, appointment_id: uuid.UUID) -> str | None:
        value = await self.conn.fetchval(
            "SELECT held_reason FROM cancellations WHERE tenant = $1 AND appointment_id = $2",
            self.tenant,
            appointment_id,
        )
        return str(value) if value is not None else None

    async def charge_of(self, appointment_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        row = await self.conn.fetchrow(
            "SELECT charge_id, school_urn FROM cancellations"
            " WHERE tenant = $1 AND appointment_id = $2 AND charge_id IS NOT NULL",
            self.tenant,
            appointment_id,
        )
        return (row["charge_id"], row["school_urn"]) if row else None


class PostgresAgreementRepository(AgreementRepository, PostgresRepository):
    _RECORD = "SELECT * FROM agreements WHERE tenant = $1"

    async def for_schools(self, schools: Sequence[str]) -> list[AgreementRow]:
        rows = await self.conn.fetch(
            "SELECT * FROM agreements WHERE tenant = $1 AND school_urn = ANY($2::text[])"
            " AND status = 'priced'"
            " ORDER BY school_urn, valid_from FOR UPDATE",  # one lock order: no deadlock
            self.tenant,
            list(schools),
        )
        return [_agreement_row(r) for r in rows]

    async def get(self, agreement_id: uuid.UUID) -> AgreementRecord | None:
        row = await self.conn.fetchrow(
            self._RECORD + " AND agreement_id = $2 FOR UPDATE", self.tenant, agreement_id
        )
        return self._tracked(row) if row else None

    async def current(self, school_urn: str, valid_from: date) -> AgreementRecord | None:
        row = await self.conn.fetchrow(
            self._RECORD + " AND school_urn = $2 AND valid_from = $3 AND status <> 'cancelled'",
            self.tenant,
            school_urn,
            valid_from,
        )
        return self._tracked(row) if row else None

    async def cancelled_count(self, school_urn: str, valid_from: date) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM agreements WHERE tenant = $1 AND school_urn = $2"
                " AND valid_from = $3 AND status = 'cancelled'",
                self.tenant,
                school_urn,
                valid_from,
            )
        )

    async def held(
        self, *, school_urn: str | None = None, starting: tuple[date, date] | None = None
    ) -> list[AgreementRecord]:
        rows = await self.conn.fetch(
            self._RECORD + " AND status = 'unpriced'"
            " AND ($2::text IS NULL OR school_urn = $2)"
            " AND ($3::date IS NULL OR valid_from BETWEEN $3 AND $4)"
            " ORDER BY school_urn, valid_from FOR UPDATE",
            self.tenant,
            school_urn,
            starting[0] if starting else None,
            starting[1] if starting else None,
        )
        return [self._tracked(r) for r in rows]

    async def priced_starting(self, first: date, last: date) -> list[AgreementRecord]:
        rows = await self.conn.fetch(
            self._RECORD + " AND status = 'priced' AND valid_from BETWEEN $2 AND $3"
            " ORDER BY school_urn, valid_from FOR UPDATE",
            self.tenant,
            first,
            last,
        )
        return [self._tracked(r) for r in rows]

    async def schools_near(self, first: date, last: date) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT school_urn FROM agreements WHERE tenant = $1 AND status = 'priced'"
            " AND valid_to >= $2::date - 366 AND valid_from <= $3::date + 366",
            self.tenant,
            first,
            last,
        )
        return sorted(r["school_urn"] for r in rows)

    async def add_unpriced(
        self, agreement: Agreement, days: int, hold: Hold | None, bought_by: str, at: datetime
    ) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO agreements (agreement_id, tenant, school_urn, valid_from, valid_to,"
            " days, minutes, status, held_kind, held_reason, held_since, bought_by, bought_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, 0, 'unpriced', $7, $8, $9, $10, $11)"
            " ON CONFLICT (tenant, school_urn, valid_from) WHERE status <> 'cancelled'"
            " DO NOTHING RETURNING true",
            agreement.agreement_id,
            self.tenant,
            agreement.school_urn,
            agreement.valid_from,
            agreement.valid_to,
            days,
            str(hold.kind) if hold else None,
            hold.reason if hold else None,
            at if hold else None,
            bought_by,
            at,
        )
        return bool(inserted)

    async def hold(self, agreement_id: uuid.UUID, hold: Hold, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE agreements SET held_kind = $3, held_reason = $4,"
            " held_since = coalesce(held_since, $5) WHERE tenant = $1 AND agreement_id = $2",
            self.tenant,
            agreement_id,
            str(hold.kind),
            hold.reason,
            at,
        )

    async def price(
        self,
        agreement_id: uuid.UUID,
        day_minutes: int,
        day_pence: int,
        minutes: int,
        at: datetime,
    ) -> None:
        await self.conn.execute(
            "UPDATE agreements SET status = 'priced', day_minutes = $3, day_pence = $4,"
            " minutes = $5, carried_minutes = 0, drawn_minutes = 0, priced_at = $6,"
            " held_kind = NULL, held_reason = NULL, held_since = NULL,"
            " last_recorded_at = NULL, last_delivery_id = NULL,"
            " exhausted_recorded_at = NULL, exhausted_delivery_id = NULL"
            " WHERE tenant = $1 AND agreement_id = $2",
            self.tenant,
            agreement_id,
            day_minutes,
            day_pence,
            minutes,
            at,
        )

    async def set_days(self, agreement_id: uuid.UUID, days: int) -> None:
        await self.conn.execute(
            "UPDATE agreements SET days = $3 WHERE tenant = $1 AND agreement_id = $2",
            self.tenant,
            agreement_id,
            days,
        )

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
        await self.conn.execute(
            "UPDATE agreements SET days = $3, day_minutes = $4, day_pence = $5, minutes = $6,"
            " last_recorded_at = NULL, last_delivery_id = NULL, exhausted_recorded_at = NULL,"
            " exhausted_delivery_id = NULL, pending_reasons = array_append(pending_reasons, $7)"
            " WHERE tenant = $1 AND agreement_id = $2",
            self.tenant,
            agreement_id,
            days,
            day_minutes,
            day_pence,
            minutes,
            reason,
        )

    async def set_carried(
        self, agreement_id: uuid.UUID, minutes: int, carried: int, reason: str
    ) -> None:
        await self.conn.execute(
            "UPDATE agreements SET minutes = $3, carried_minutes = $4, last_recorded_at = NULL,"
            " last_delivery_id = NULL, exhausted_recorded_at = NULL, exhausted_delivery_id = NULL,"
            " pending_reasons = array_append(pending_reasons, $5)"
            " WHERE tenant = $1 AND agreement_id = $2",
            self.tenant,
            agreement_id,
            minutes,
            carried,
            reason,
        )

    async def set_drawn(self, updates: Sequence[DrawState]) -> None:
        if not updates:
            return
        await self.conn.executemany(
            "UPDATE agreements SET drawn_minutes = $2, last_recorded_at = $3,"
            " last_delivery_id = $4, exhausted_recorded_at = $5, exhausted_delivery_id = $6"
            " WHERE agreement_id = $1 AND tenant = $7",
            [
                (
                    u.agreement_id,
                    u.drawn_minutes,
                    *(u.last_key or (None, None)),
                    *(u.exhausted_key or (None, None)),
                    self.tenant,
                )
                for u in updates
            ],
        )

    async def cancel(self, agreement_id: uuid.UUID, reason: str, actor: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE agreements SET status = 'cancelled', minutes = 0, carried_minutes = 0,"
            " drawn_minutes = 0, last_recorded_at = NULL, last_delivery_id = NULL,"
            " exhausted_recorded_at = NULL, exhausted_delivery_id = NULL,"
            " held_kind = NULL, held_reason = NULL, held_since = NULL,"
            " cancelled_by = $3, cancelled_at = $4, cancel_reason = $5"
            " WHERE tenant = $1 AND agreement_id = $2",
            self.tenant,
            agreement_id,
            actor,
            at,
            reason,
        )

    async def unannounced(self, schools: Sequence[str] | None = None) -> list[AgreementRecord]:
        rows = await self.conn.fetch(
            self._RECORD + " AND" + _UNANNOUNCED + " AND ($2::text[] IS NULL"
            " OR school_urn = ANY($2::text[])) ORDER BY school_urn, valid_from FOR UPDATE",
            self.tenant,
            list(schools) if schools is not None else None,
        )
        return [self._tracked(r) for r in rows]

    async def mark_announced(self, records: Sequence[AgreementRecord]) -> None:
        if not records:
            return
        await self.conn.execute(
            "UPDATE agreements SET announced_status = status, announced_days = days,"
            " announced_minutes = minutes, pending_reasons = '{}'"
            " WHERE tenant = $1 AND agreement_id = ANY($2::uuid[])",
            self.tenant,
            [r.agreement_id for r in records],
        )

    def _tracked(self, r: asyncpg.Record) -> AgreementRecord:
        hold = (
            Hold(HoldKind(r["held_kind"]), r["held_reason"]) if r["held_kind"] is not None else None
        )
        announced = r["announced_status"]
        record = AgreementRecord(
            r["agreement_id"],
            r["school_urn"],
            r["valid_from"],
            r["valid_to"],
            r["days"],
            AgreementStatus(r["status"]),
            r["minutes"],
            r["carried_minutes"],
            r["drawn_minutes"],
            r["day_minutes"],
            r["day_pence"],
            hold,
            r["held_since"],
            r["bought_by"],
            r["bought_at"],
            r["priced_at"],
            r["cancelled_by"],
            r["cancelled_at"],
            r["cancel_reason"],
            AgreementStatus(announced) if announced is not None else None,
            r["announced_days"],
            r["announced_minutes"],
            tuple(r["pending_reasons"]),
        )
        return self.uow.track(record)


def _agreement_row(r: asyncpg.Record) -> AgreementRow:
    last, exhausted = r["last_recorded_at"], r["exhausted_recorded_at"]
    return AgreementRow(
        Agreement(r["agreement_id"], r["school_urn"], r["valid_from"], r["valid_to"], r["minutes"]),
        r["drawn_minutes"],
        (last, r["last_delivery_id"]) if last is not None else None,
        (exhausted, r["exhausted_delivery_id"]) if exhausted is not None else None,
        r["carried_minutes"],
    )


class PostgresPriceRepository(PriceRepository, PostgresRepository):
    async def current(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Priced]:
        rows = await self.conn.fetch(
            "SELECT * FROM priced_deliveries WHERE tenant = $1 AND delivery_id = ANY($2::uuid[])",
            self.tenant,
            list(ids),
        )
        return {
            r["delivery_id"]: Priced(
                r["delivery_id"],
                r["sla_minutes"],
                r["spot_minutes"],
                r["pence"],
                tuple((name, n) for name, n in json.loads(r["units"])),
            )
            for r in rows
        }

    async def save(self, prices: Sequence[Priced], lines: Sequence[NewLine]) -> None:
        if prices:
            await self.conn.execute(
                "INSERT INTO priced_deliveries (tenant, delivery_id, sla_minutes, spot_minutes,"
                " pence, units) SELECT $1, * FROM unnest($2::uuid[], $3::int[], $4::int[],"
                " $5::bigint[], $6::jsonb[])"
                " ON CONFLICT (tenant, delivery_id) DO UPDATE SET"
                " sla_minutes = EXCLUDED.sla_minutes,"
                " spot_minutes = EXCLUDED.spot_minutes, pence = EXCLUDED.pence,"
                " units = EXCLUDED.units",
                self.tenant,
                [p.delivery_id for p in prices],
                [p.sla_minutes for p in prices],
                [p.spot_minutes for p in prices],
                [p.pence for p in prices],
                [json.dumps(p.units) for p in prices],
            )
        if lines:
            await self.conn.execute(
                "INSERT INTO ledger_lines (tenant, school_urn, delivery_id, delivered_on,"
                " period_start, pence, sla_minutes, spot_minutes, description)"
                " SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::date[], $5::date[],"
                " $6::bigint[], $7::int[], $8::int[], $9::text[])",
                self.tenant,
                [line.school_urn for line in lines],
                [line.delivery_id for line in lines],
                [line.delivered_on for line in lines],
                [line.period_start for line in lines],
                [line.pence for line in lines],
                [line.sla_minutes for line in lines],
                [line.spot_minutes for line in lines],
                [line.description for line in lines],
            )


class PostgresDocumentRepository(DocumentRepository, PostgresRepository):
    async def lock(self) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"billing-finalise:{self.tenant}"
        )

    async def last_finalised(self) -> date | None:
        value = await self.conn.fetchval(
            "SELECT max(period_start) FROM finalised_periods WHERE tenant = $1", self.tenant
        )
        return value if isinstance(value, date) else None

    async def earliest_open(self) -> date | None:
        value = await self.conn.fetchval(
            "SELECT min(period_start) FROM ledger_lines WHERE tenant = $1 AND settled_on IS NULL",
            self.tenant,
        )
        return value if isinstance(value, date) else None

    async def open_lines(self, up_to: date) -> dict[str, list[OpenLine]]:
        rows = await self.conn.fetch(
            "SELECT line_id, school_urn, delivery_id, delivered_on, pence, sla_minutes,"
            " description FROM ledger_lines WHERE tenant = $1 AND settled_on IS NULL"
            " AND period_start <= $2 ORDER BY school_urn, line_id FOR UPDATE",
            self.tenant,
            up_to,
        )
        by_school: dict[str, list[OpenLine]] = {}
        for r in rows:
            by_school.setdefault(r["school_urn"], []).append(
                OpenLine(
                    r["line_id"],
                    r["delivery_id"],
                    r["delivered_on"],
                    r["pence"],
                    r["sla_minutes"],
                    r["description"],
                )
            )
        return by_school

    async def invoiced_before(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT l.delivery_id FROM document_lines l"
            " JOIN documents d USING (document_id)"
            " WHERE d.tenant = $1 AND l.delivery_id = ANY($2::uuid[])",
            self.tenant,
            list(ids),
        )
        return {r["delivery_id"] for r in rows}

    async def next_number(self, kind: DocumentKind) -> int:
        await self.conn.execute(
            "INSERT INTO document_counters (tenant, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.tenant,
            str(kind),
        )
        value = await self.conn.fetchval(
            "UPDATE document_counters SET last = last + 1 WHERE tenant = $1 AND kind = $2"
            " RETURNING last",
            self.tenant,
            str(kind),
        )
        return int(value)

    async def add(self, document: Document) -> None:
        await self.conn.execute(
            "INSERT INTO documents (document_id, tenant, kind, number, school_urn, period_start,"
            " period_end, issued_on, total_pence) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            document.document_id,
            self.tenant,
            str(document.kind),
            document.number,
            document.school_urn,
            document.period.start,
            document.period.end,
            document.issued_on,
            document.total_pence,
        )
        await self.conn.executemany(
            "INSERT INTO document_lines (document_id, line_no, delivery_id, delivered_on,"
            " description, sla_minutes, pence, adjustment) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            [
                (
                    document.document_id,
                    n,
                    line.delivery_id,
                    line.delivered_on,
                    line.description,
                    line.sla_minutes,
                    line.pence,
                    line.adjustment,
                )
                for n, line in enumerate(document.lines, start=1)
            ],
        )
        self.uow.track(document)

    async def settle(
        self, line_ids: Sequence[int], on: date, document_id: uuid.UUID | None
    ) -> None:
        await self.conn.execute(
            "UPDATE ledger_lines SET settled_on = $2, document_id = $3"
            " WHERE tenant = $1 AND line_id = ANY($4::bigint[])",
            self.tenant,
            on,
            document_id,
            list(line_ids),
        )

    async def mark_finalised(self, period: BillingPeriod, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO finalised_periods (tenant, period_start, period_end, finalised_at)"
            " VALUES ($1, $2, $3, $4)",
            self.tenant,
            period.start,
            period.end,
            at,
        )
