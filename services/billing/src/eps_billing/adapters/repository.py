"""Persistence of billing in the service's own schema. Every query is scoped to a tenant.

Written for batches: each method takes or returns many rows at once (``unnest`` arrays), so a
polled batch of delivered-time events costs a fixed number of round trips, not one per event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from eps_contracts.scheduling import CancellationParty, FundingStream

from eps_billing.domain.agreements import AgreementStatus, Hold, HoldKind
from eps_billing.domain.cancellation import CancellationCharge
from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.domain.invoicing import DocumentKind, DocumentLine, OpenLine
from eps_billing.domain.pricing import Agreement, Change, Delivery, Priced
from eps_billing.domain.tariff import BillingPeriod, Tariff, TariffStatus

DrawKey = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class AgreementRow:
    agreement: Agreement
    drawn_minutes: int
    last_key: DrawKey | None  # the latest delivery priced against it, in draw order
    exhausted_key: DrawKey | None  # the delivery that drew its last minute
    carried_minutes: int = 0  # of agreement.minutes, carried over from the previous year


@dataclass(frozen=True, slots=True)
class DrawState:
    agreement_id: uuid.UUID
    drawn_minutes: int
    last_key: DrawKey | None
    exhausted_key: DrawKey | None


@dataclass(frozen=True, slots=True)
class AgreementRecord:
    """An SLA as kept, whatever its status (``AgreementRow`` is a priced one, for pricing)."""

    agreement_id: uuid.UUID
    school_urn: str
    valid_from: date
    valid_to: date
    days: int
    status: AgreementStatus
    minutes: int
    carried_minutes: int
    drawn_minutes: int
    day_minutes: int | None
    day_pence: int | None
    hold: Hold | None
    held_since: datetime | None
    bought_by: str | None
    bought_at: datetime | None
    priced_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    announced_status: AgreementStatus | None
    announced_days: int | None
    announced_minutes: int | None
    pending_reasons: tuple[str, ...]

    @property
    def academic_year(self) -> int:
        return self.valid_from.year


@dataclass(frozen=True, slots=True)
class NewLine:
    school_urn: str
    delivery_id: uuid.UUID
    delivered_on: date
    period_start: date
    pence: int
    sla_minutes: int
    spot_minutes: int
    description: str


async def lock_pricing(conn: asyncpg.Connection, tenant: str, *, exclusive: bool) -> None:
    """One authority's pricing lock, until the transaction ends.

    Pricing delivered time and cancellations holds it shared, before reading the tariffs and
    SLAs it prices against; whatever changes those (a tariff written or confirmed, an SLA
    bought, changed or cancelled, a school registered) holds it exclusive. So a delivery is
    never held for want of a tariff committed while it was being priced, unseen by the tariff's
    own pass over what was held. Those changes are rare; consumers wait only briefly.
    """
    sql = "SELECT pg_advisory_xact_lock(hashtext($1))"
    if not exclusive:
        sql = "SELECT pg_advisory_xact_lock_shared(hashtext($1))"
    await conn.execute(sql, f"billing-pricing:{tenant}")


@dataclass(frozen=True, slots=True)
class TariffRecord:
    """A tariff as kept: its rules and dates, whether in force, and who did what when."""

    tariff_id: uuid.UUID
    tariff: Tariff
    status: TariffStatus
    revision: int
    created_by: str
    created_at: datetime
    confirmed_by: str | None
    confirmed_at: datetime | None
    carried_forward_from: uuid.UUID | None


class TariffRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def for_tenant(self, tenant: str) -> list[Tariff]:
        """The confirmed tariffs, the only ones that price anything."""
        return [r.tariff for r in await self.records(tenant) if r.status is TariffStatus.CONFIRMED]

    async def records(self, tenant: str) -> list[TariffRecord]:
        rows = await self.conn.fetch(
            "SELECT * FROM tariffs WHERE tenant = $1 ORDER BY effective_from", tenant
        )
        return [self._record(r) for r in rows]

    async def get(self, tenant: str, tariff_id: uuid.UUID) -> TariffRecord | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM tariffs WHERE tenant = $1 AND tariff_id = $2", tenant, tariff_id
        )
        return self._record(row) if row else None

    @staticmethod
    def _record(r: asyncpg.Record) -> TariffRecord:
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
            tariff.tenant,
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
        await self._history(tariff_id, tariff.tenant, action, actor, at)

    async def replace(self, tariff_id: uuid.UUID, tariff: Tariff, actor: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE tariffs SET effective_from = $3, effective_to = $4, rules = $5,"
            " revision = revision + 1 WHERE tenant = $1 AND tariff_id = $2",
            tariff.tenant,
            tariff_id,
            tariff.effective_from,
            tariff.effective_to,
            json.dumps(tariff.rules()),
        )
        await self._history(tariff_id, tariff.tenant, "replaced", actor, at)

    async def confirm(self, tenant: str, tariff_id: uuid.UUID, actor: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE tariffs SET status = 'confirmed', confirmed_by = $3, confirmed_at = $4"
            " WHERE tenant = $1 AND tariff_id = $2",
            tenant,
            tariff_id,
            actor,
            at,
        )
        await self._history(tariff_id, tenant, "confirmed", actor, at)

    async def _history(
        self, tariff_id: uuid.UUID, tenant: str, action: str, actor: str, at: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO tariff_history (tenant, tariff_id, action, revision, status,"
            " effective_from, effective_to, rules, actor, at)"
            " SELECT tenant, tariff_id, $3, revision, status, effective_from, effective_to,"
            " rules, $4, $5 FROM tariffs WHERE tenant = $1 AND tariff_id = $2",
            tenant,
            tariff_id,
            action,
            actor,
            at,
        )

    async def history(self, tenant: str, tariff_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT action, revision, status, effective_from, effective_to, rules, actor, at"
            " FROM tariff_history WHERE tenant = $1 AND tariff_id = $2 ORDER BY history_id",
            tenant,
            tariff_id,
        )
        return [{**dict(r), "rules": json.loads(r["rules"])} for r in rows]

    async def priced_with(self, tenant: str, first: date, last: date) -> dict[str, int]:
        """What a tariff has priced between two dates: time with ledger lines or drawn from
        an SLA, deliveries whose stream needed it, SLAs it priced, cancellations it judged."""
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
            tenant,
            first,
            last,
        )
        assert row is not None
        return {k: int(v) for k, v in dict(row).items()}

    async def tenants(self) -> list[str]:
        return [r["tenant"] for r in await self.conn.fetch("SELECT DISTINCT tenant FROM tariffs")]


class SchoolRepository:
    """The schools billing has heard of (from scheduling)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, tenant: str, school_urn: str, known_since: datetime) -> bool:
        """True when the school is new to billing."""
        inserted = await self.conn.fetchval(
            "INSERT INTO schools (tenant, school_urn, known_since) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            tenant,
            school_urn,
            known_since,
        )
        return bool(inserted)

    async def known(self, tenant: str, school_urn: str) -> bool:
        found = await self.conn.fetchval(
            "SELECT true FROM schools WHERE tenant = $1 AND school_urn = $2", tenant, school_urn
        )
        return bool(found)


class DeliveryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add_recorded(
        self, tenant: str, cmds: Sequence[RecordDeliveredTime]
    ) -> set[uuid.UUID]:
        """Store deliveries; returns the ids new to the database (a re-sent one is not new)."""
        if not cmds:
            return set()
        rows = await self.conn.fetch(
            "INSERT INTO deliveries (tenant, delivery_id, school_urn, delivered_on, minutes,"
            " funding_stream, recorded_at, late_cancellation)"
            " SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::date[], $5::int[],"
            " $6::text[], $7::timestamptz[], $8::bool[])"
            " ON CONFLICT DO NOTHING RETURNING delivery_id",
            tenant,
            [c.delivery_id for c in cmds],
            [c.school_urn for c in cmds],
            [c.delivered_on for c in cmds],
            [c.minutes for c in cmds],
            [str(c.funding_stream) for c in cmds],
            [c.recorded_at for c in cmds],
            [c.late_cancellation for c in cmds],
        )
        return {r["delivery_id"] for r in rows}

    async def add_changes(
        self, tenant: str, cmds: Sequence[CorrectDeliveredTime | VoidDeliveredTime]
    ) -> None:
        if not cmds:
            return
        await self.conn.execute(
            "INSERT INTO delivery_changes (tenant, delivery_id, change_id, at, minutes,"
            " funding_stream, voided, reason)"
            " SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::int[],"
            " $6::text[], $7::bool[], $8::text[])"
            " ON CONFLICT DO NOTHING",
            tenant,
            [c.delivery_id for c in cmds],
            [c.change_id if isinstance(c, CorrectDeliveredTime) else c.event_id for c in cmds],
            [c.at for c in cmds],
            [c.minutes if isinstance(c, CorrectDeliveredTime) else None for c in cmds],
            [str(c.funding_stream) if isinstance(c, CorrectDeliveredTime) else None for c in cmds],
            [isinstance(c, VoidDeliveredTime) for c in cmds],
            [c.reason for c in cmds],
        )

    async def by_ids(self, tenant: str, ids: Sequence[uuid.UUID]) -> list[Delivery]:
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE tenant = $1 AND delivery_id = ANY($2::uuid[])",
            tenant,
            list(ids),
        )
        return await self._with_changes(tenant, rows)

    async def in_window(
        self, tenant: str, school_urn: str, first: date, last: date
    ) -> list[Delivery]:
        [found] = await self.drawn_after(tenant, [(school_urn, first, last, None)])
        return found

    async def drawn_after(
        self,
        tenant: str,
        windows: Sequence[tuple[str, date, date, DrawKey | None]],
    ) -> list[list[Delivery]]:
        """For each (school, first day, last day, draw key): its deliveries from that key on."""
        if not windows:
            return []
        rows = await self.conn.fetch(
            "SELECT w.ord, d.* FROM unnest($2::text[], $3::date[], $4::date[],"
            " $5::timestamptz[], $6::uuid[]) WITH ORDINALITY AS w(school, first, last, at, id, ord)"
            " JOIN deliveries d ON d.tenant = $1 AND d.school_urn = w.school"
            " AND d.delivered_on BETWEEN w.first AND w.last"
            " AND (w.at IS NULL OR (d.recorded_at, d.delivery_id) >= (w.at, w.id))",
            tenant,
            [w[0] for w in windows],
            [w[1] for w in windows],
            [w[2] for w in windows],
            [w[3][0] if w[3] else None for w in windows],
            [w[3][1] if w[3] else None for w in windows],
        )
        found: list[list[Delivery]] = [[] for _ in windows]
        for row, delivery in zip(rows, await self._with_changes(tenant, rows), strict=True):
            found[row["ord"] - 1].append(delivery)
        return found

    async def held_between(self, tenant: str, first: date, last: date) -> list[Delivery]:
        """Deliveries held for want of a tariff, dated between two days (every school)."""
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE tenant = $1 AND held_reason IS NOT NULL"
            " AND delivered_on BETWEEN $2 AND $3",
            tenant,
            first,
            last,
        )
        return await self._with_changes(tenant, rows)

    async def count_held(self, tenant: str, first: date, last: date) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE tenant = $1 AND held_reason IS NOT NULL"
                " AND delivered_on BETWEEN $2 AND $3",
                tenant,
                first,
                last,
            )
        )

    async def between(self, tenant: str, first: date, last: date) -> list[Delivery]:
        """Every delivery dated between two days (every school)."""
        rows = await self.conn.fetch(
            "SELECT * FROM deliveries WHERE tenant = $1 AND delivered_on BETWEEN $2 AND $3",
            tenant,
            first,
            last,
        )
        return await self._with_changes(tenant, rows)

    async def set_held(
        self, tenant: str, reasons: dict[uuid.UUID, str | None], at: datetime
    ) -> None:
        """Hold deliveries (a reason) or release them (None); only rows that change are
        written, and a delivery held again keeps the time it was first held."""
        if not reasons:
            return
        await self.conn.execute(
            "UPDATE deliveries d SET held_reason = u.reason,"
            " held_since = CASE WHEN u.reason IS NULL THEN NULL"
            " ELSE coalesce(d.held_since, $4) END"
            " FROM unnest($2::uuid[], $3::text[]) AS u(id, reason)"
            " WHERE d.tenant = $1 AND d.delivery_id = u.id"
            " AND d.held_reason IS DISTINCT FROM u.reason",
            tenant,
            list(reasons),
            list(reasons.values()),
            at,
        )

    async def changes_of(
        self, tenant: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Change]]:
        changes: dict[uuid.UUID, list[Change]] = {}
        if not ids:
            return changes
        for c in await self.conn.fetch(
            "SELECT delivery_id, change_id, at, minutes, funding_stream, voided"
            " FROM delivery_changes WHERE tenant = $1 AND delivery_id = ANY($2::uuid[])",
            tenant,
            list(ids),
        ):
            stream = FundingStream(c["funding_stream"]) if c["funding_stream"] else None
            changes.setdefault(c["delivery_id"], []).append(
                Change(c["change_id"], c["at"], c["minutes"], stream, c["voided"])
            )
        return changes

    async def _with_changes(self, tenant: str, rows: Sequence[asyncpg.Record]) -> list[Delivery]:
        if not rows:
            return []
        changes = await self.changes_of(tenant, [r["delivery_id"] for r in rows])
        return [
            Delivery(
                r["delivery_id"],
                r["school_urn"],
                r["delivered_on"],
                r["minutes"],
                FundingStream(r["funding_stream"]),
                r["recorded_at"],
                late_cancellation=r["late_cancellation"],
            ).with_changes(changes.get(r["delivery_id"], ()))
            for r in rows
        ]


class CancellationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(
        self,
        cmd: ChargeCancellation,
        charge: CancellationCharge,
        charge_id: uuid.UUID | None,
    ) -> bool:
        """Record the judgement of an appointment's cancellation; False if one was recorded
        before (the appointment was already cancelled: this one changes nothing)."""
        inserted = await self.conn.fetchval(
            "INSERT INTO cancellations (tenant, appointment_id, event_id, school_urn,"
            " funding_stream, starts_at, ends_at, cancelled_at, cancelled_by, charged_minutes,"
            " charge_id, decision) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
            " ON CONFLICT (tenant, appointment_id) DO NOTHING RETURNING true",
            cmd.tenant,
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
        return bool(inserted)

    async def add_held(self, cmd: ChargeCancellation, reason: str, at: datetime) -> bool:
        """Record a cancellation that cannot be judged yet (no tariff for its date); False if
        the appointment's cancellation was recorded before."""
        inserted = await self.conn.fetchval(
            "INSERT INTO cancellations (tenant, appointment_id, event_id, school_urn,"
            " funding_stream, starts_at, ends_at, cancelled_at, cancelled_by, held_reason,"
            " held_since) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            " ON CONFLICT (tenant, appointment_id) DO NOTHING RETURNING true",
            cmd.tenant,
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
        return bool(inserted)

    async def held_between(self, tenant: str, first: date, last: date) -> list[ChargeCancellation]:
        """Cancellations waiting to be judged whose appointment's London date is in the days,
        as the commands that first brought them (locked until the transaction ends)."""
        rows = await self.conn.fetch(
            "SELECT * FROM cancellations WHERE tenant = $1 AND held_reason IS NOT NULL"
            " AND (starts_at AT TIME ZONE 'Europe/London')::date BETWEEN $2 AND $3"
            " ORDER BY cancelled_at, appointment_id FOR UPDATE",
            tenant,
            first,
            last,
        )
        return [
            ChargeCancellation(
                event_id=r["event_id"],
                tenant=tenant,
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
        self,
        tenant: str,
        appointment_id: uuid.UUID,
        charge: CancellationCharge,
        charge_id: uuid.UUID | None,
    ) -> None:
        """The judgement of a cancellation that waited for its tariff."""
        await self.conn.execute(
            "UPDATE cancellations SET charged_minutes = $3, charge_id = $4, decision = $5,"
            " held_reason = NULL, held_since = NULL WHERE tenant = $1 AND appointment_id = $2",
            tenant,
            appointment_id,
            charge.minutes,
            charge_id,
            charge.reason,
        )

    async def held_reason(self, tenant: str, appointment_id: uuid.UUID) -> str | None:
        value = await self.conn.fetchval(
            "SELECT held_reason FROM cancellations WHERE tenant = $1 AND appointment_id = $2",
            tenant,
            appointment_id,
        )
        return str(value) if value is not None else None

    async def charge_of(
        self, tenant: str, appointment_id: uuid.UUID
    ) -> tuple[uuid.UUID, str] | None:
        """The delivery carrying an appointment's cancellation charge, and its school; None
        when the appointment was not charged (or its cancellation never reached billing)."""
        row = await self.conn.fetchrow(
            "SELECT charge_id, school_urn FROM cancellations"
            " WHERE tenant = $1 AND appointment_id = $2 AND charge_id IS NOT NULL",
            tenant,
            appointment_id,
        )
        return (row["charge_id"], row["school_urn"]) if row else None


class AgreementRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def for_schools(self, tenant: str, schools: Sequence[str]) -> list[AgreementRow]:
        """The schools' priced SLAs, the only ones time is drawn from."""
        rows = await self.conn.fetch(
            "SELECT * FROM agreements WHERE tenant = $1 AND school_urn = ANY($2::text[])"
            " AND status = 'priced'"
            " ORDER BY school_urn, valid_from FOR UPDATE",  # one lock order: no deadlock
            tenant,
            list(schools),
        )
        return [self._row(r) for r in rows]

    _RECORD = "SELECT * FROM agreements WHERE tenant = $1"

    async def get(self, tenant: str, agreement_id: uuid.UUID) -> AgreementRecord | None:
        row = await self.conn.fetchrow(
            self._RECORD + " AND agreement_id = $2 FOR UPDATE", tenant, agreement_id
        )
        return self._record(row) if row else None

    async def current(
        self, tenant: str, school_urn: str, valid_from: date
    ) -> AgreementRecord | None:
        """The school's SLA for the year that is not cancelled (priced or waiting), if any."""
        row = await self.conn.fetchrow(
            self._RECORD + " AND school_urn = $2 AND valid_from = $3 AND status <> 'cancelled'",
            tenant,
            school_urn,
            valid_from,
        )
        return self._record(row) if row else None

    async def cancelled_count(self, tenant: str, school_urn: str, valid_from: date) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM agreements WHERE tenant = $1 AND school_urn = $2"
                " AND valid_from = $3 AND status = 'cancelled'",
                tenant,
                school_urn,
                valid_from,
            )
        )

    async def held(
        self,
        tenant: str,
        *,
        school_urn: str | None = None,
        starting: tuple[date, date] | None = None,
    ) -> list[AgreementRecord]:
        """Unpriced SLAs of a school, or starting between two days (locked)."""
        rows = await self.conn.fetch(
            self._RECORD + " AND status = 'unpriced'"
            " AND ($2::text IS NULL OR school_urn = $2)"
            " AND ($3::date IS NULL OR valid_from BETWEEN $3 AND $4)"
            " ORDER BY school_urn, valid_from FOR UPDATE",
            tenant,
            school_urn,
            starting[0] if starting else None,
            starting[1] if starting else None,
        )
        return [self._record(r) for r in rows]

    async def priced_starting(self, tenant: str, first: date, last: date) -> list[AgreementRecord]:
        """Priced SLAs starting between two days, every school (locked)."""
        rows = await self.conn.fetch(
            self._RECORD + " AND status = 'priced' AND valid_from BETWEEN $2 AND $3"
            " ORDER BY school_urn, valid_from FOR UPDATE",
            tenant,
            first,
            last,
        )
        return [self._record(r) for r in rows]

    async def schools_near(self, tenant: str, first: date, last: date) -> list[str]:
        """Schools with a priced SLA within a year of the days (whose carry-over may move)."""
        rows = await self.conn.fetch(
            "SELECT DISTINCT school_urn FROM agreements WHERE tenant = $1 AND status = 'priced'"
            " AND valid_to >= $2::date - 366 AND valid_from <= $3::date + 366",
            tenant,
            first,
            last,
        )
        return sorted(r["school_urn"] for r in rows)

    @staticmethod
    def _record(r: asyncpg.Record) -> AgreementRecord:
        hold = (
            Hold(HoldKind(r["held_kind"]), r["held_reason"]) if r["held_kind"] is not None else None
        )
        announced = r["announced_status"]
        return AgreementRecord(
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

    async def add_unpriced(
        self,
        tenant: str,
        agreement: Agreement,
        days: int,
        hold: Hold | None,
        bought_by: str,
        at: datetime,
    ) -> bool:
        """Record a purchase, not yet priced (``price`` puts it in force); False when the
        school already has an SLA for the year that is not cancelled."""
        inserted = await self.conn.fetchval(
            "INSERT INTO agreements (agreement_id, tenant, school_urn, valid_from, valid_to,"
            " days, minutes, status, held_kind, held_reason, held_since, bought_by, bought_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, 0, 'unpriced', $7, $8, $9, $10, $11)"
            " ON CONFLICT (tenant, school_urn, valid_from) WHERE status <> 'cancelled'"
            " DO NOTHING RETURNING true",
            agreement.agreement_id,
            tenant,
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

    async def hold(self, tenant: str, agreement_id: uuid.UUID, hold: Hold, at: datetime) -> None:
        """Still unpriced, perhaps for another reason now; held since it was first held."""
        await self.conn.execute(
            "UPDATE agreements SET held_kind = $3, held_reason = $4,"
            " held_since = coalesce(held_since, $5) WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            str(hold.kind),
            hold.reason,
            at,
        )

    async def price(
        self,
        tenant: str,
        agreement_id: uuid.UUID,
        day_minutes: int,
        day_pence: int,
        minutes: int,
        at: datetime,
    ) -> None:
        """In force: the tariff's day, nothing carried or drawn yet (pricing brings both)."""
        await self.conn.execute(
            "UPDATE agreements SET status = 'priced', day_minutes = $3, day_pence = $4,"
            " minutes = $5, carried_minutes = 0, drawn_minutes = 0, priced_at = $6,"
            " held_kind = NULL, held_reason = NULL, held_since = NULL,"
            " last_recorded_at = NULL, last_delivery_id = NULL,"
            " exhausted_recorded_at = NULL, exhausted_delivery_id = NULL"
            " WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            day_minutes,
            day_pence,
            minutes,
            at,
        )

    async def set_days(self, tenant: str, agreement_id: uuid.UUID, days: int) -> None:
        """New days for an SLA not priced yet (it gives no minutes until it is)."""
        await self.conn.execute(
            "UPDATE agreements SET days = $3 WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            days,
        )

    async def set_terms(
        self,
        tenant: str,
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
        await self.conn.execute(
            "UPDATE agreements SET days = $3, day_minutes = $4, day_pence = $5, minutes = $6,"
            " last_recorded_at = NULL, last_delivery_id = NULL, exhausted_recorded_at = NULL,"
            " exhausted_delivery_id = NULL, pending_reasons = array_append(pending_reasons, $7)"
            " WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            days,
            day_minutes,
            day_pence,
            minutes,
            reason,
        )

    async def cancel(
        self, tenant: str, agreement_id: uuid.UUID, reason: str, actor: str, at: datetime
    ) -> None:
        """Nothing to book or draw any more; the days and day price stay, for the record."""
        await self.conn.execute(
            "UPDATE agreements SET status = 'cancelled', minutes = 0, carried_minutes = 0,"
            " drawn_minutes = 0, last_recorded_at = NULL, last_delivery_id = NULL,"
            " exhausted_recorded_at = NULL, exhausted_delivery_id = NULL,"
            " held_kind = NULL, held_reason = NULL, held_since = NULL,"
            " cancelled_by = $3, cancelled_at = $4, cancel_reason = $5"
            " WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            actor,
            at,
            reason,
        )

    _UNANNOUNCED = (
        " status <> 'unpriced' AND (announced_status IS DISTINCT FROM status"
        " OR announced_days IS DISTINCT FROM days OR announced_minutes IS DISTINCT FROM minutes)"
    )

    async def unannounced(
        self, tenant: str, schools: Sequence[str] | None = None
    ) -> list[AgreementRecord]:
        """SLAs (of some schools, or all) whose state differs from what the other services were
        last told (locked)."""
        rows = await self.conn.fetch(
            self._RECORD + " AND" + self._UNANNOUNCED + " AND ($2::text[] IS NULL"
            " OR school_urn = ANY($2::text[])) ORDER BY school_urn, valid_from FOR UPDATE",
            tenant,
            list(schools) if schools is not None else None,
        )
        return [self._record(r) for r in rows]

    async def unannounced_tenants(self) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT tenant FROM agreements WHERE" + self._UNANNOUNCED
        )
        return sorted(r["tenant"] for r in rows)

    async def mark_announced(self, tenant: str, ids: Sequence[uuid.UUID]) -> None:
        await self.conn.execute(
            "UPDATE agreements SET announced_status = status, announced_days = days,"
            " announced_minutes = minutes, pending_reasons = '{}'"
            " WHERE tenant = $1 AND agreement_id = ANY($2::uuid[])",
            tenant,
            list(ids),
        )

    @staticmethod
    def _row(r: asyncpg.Record) -> AgreementRow:
        last, exhausted = r["last_recorded_at"], r["exhausted_recorded_at"]
        return AgreementRow(
            Agreement(
                r["agreement_id"], r["school_urn"], r["valid_from"], r["valid_to"], r["minutes"]
            ),
            r["drawn_minutes"],
            (last, r["last_delivery_id"]) if last is not None else None,
            (exhausted, r["exhausted_delivery_id"]) if exhausted is not None else None,
            r["carried_minutes"],
        )

    async def set_carried(
        self, tenant: str, agreement_id: uuid.UUID, minutes: int, carried: int, reason: str
    ) -> None:
        """A new carry-over: the minutes held change, so the draw-down keys no longer hold;
        the reason waits to be announced."""
        await self.conn.execute(
            "UPDATE agreements SET minutes = $3, carried_minutes = $4, last_recorded_at = NULL,"
            " last_delivery_id = NULL, exhausted_recorded_at = NULL, exhausted_delivery_id = NULL,"
            " pending_reasons = array_append(pending_reasons, $5)"
            " WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            minutes,
            carried,
            reason,
        )

    async def set_drawn(self, tenant: str, updates: Sequence[DrawState]) -> None:
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
                    tenant,
                )
                for u in updates
            ],
        )

    async def views(self, tenant: str, school_urn: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT agreement_id, valid_from, valid_to, status, days, day_pence, minutes,"
            " carried_minutes, drawn_minutes, held_kind AS reason_kind, held_reason AS reason"
            " FROM agreements WHERE tenant = $1 AND school_urn = $2"
            " ORDER BY valid_from, created_at",
            tenant,
            school_urn,
        )
        return [dict(r) for r in rows]


class PriceRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def current(self, tenant: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Priced]:
        rows = await self.conn.fetch(
            "SELECT * FROM priced_deliveries WHERE tenant = $1 AND delivery_id = ANY($2::uuid[])",
            tenant,
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

    async def save(self, tenant: str, prices: Sequence[Priced], lines: Sequence[NewLine]) -> None:
        if prices:
            await self.conn.execute(
                "INSERT INTO priced_deliveries (tenant, delivery_id, sla_minutes, spot_minutes,"
                " pence, units) SELECT $1, * FROM unnest($2::uuid[], $3::int[], $4::int[],"
                " $5::bigint[], $6::jsonb[])"
                " ON CONFLICT (tenant, delivery_id) DO UPDATE SET"
                " sla_minutes = EXCLUDED.sla_minutes,"
                " spot_minutes = EXCLUDED.spot_minutes, pence = EXCLUDED.pence,"
                " units = EXCLUDED.units",
                tenant,
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
                tenant,
                [line.school_urn for line in lines],
                [line.delivery_id for line in lines],
                [line.delivered_on for line in lines],
                [line.period_start for line in lines],
                [line.pence for line in lines],
                [line.sla_minutes for line in lines],
                [line.spot_minutes for line in lines],
                [line.description for line in lines],
            )


class DocumentRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_tenant(self, tenant: str) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"billing-finalise:{tenant}"
        )

    async def last_finalised(self, tenant: str) -> date | None:
        value = await self.conn.fetchval(
            "SELECT max(period_start) FROM finalised_periods WHERE tenant = $1", tenant
        )
        return value if isinstance(value, date) else None

    async def earliest_open(self, tenant: str) -> date | None:
        value = await self.conn.fetchval(
            "SELECT min(period_start) FROM ledger_lines WHERE tenant = $1 AND settled_on IS NULL",
            tenant,
        )
        return value if isinstance(value, date) else None

    async def open_lines(self, tenant: str, up_to: date) -> dict[str, list[OpenLine]]:
        rows = await self.conn.fetch(
            "SELECT line_id, school_urn, delivery_id, delivered_on, pence, sla_minutes,"
            " description FROM ledger_lines WHERE tenant = $1 AND settled_on IS NULL"
            " AND period_start <= $2 ORDER BY school_urn, line_id FOR UPDATE",
            tenant,
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

    async def invoiced_before(self, tenant: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT l.delivery_id FROM document_lines l"
            " JOIN documents d USING (document_id)"
            " WHERE d.tenant = $1 AND l.delivery_id = ANY($2::uuid[])",
            tenant,
            list(ids),
        )
        return {r["delivery_id"] for r in rows}

    async def next_number(self, tenant: str, kind: DocumentKind) -> int:
        """The next number of a gapless series: the counter row stays locked until commit."""
        await self.conn.execute(
            "INSERT INTO document_counters (tenant, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            tenant,
            str(kind),
        )
        value = await self.conn.fetchval(
            "UPDATE document_counters SET last = last + 1 WHERE tenant = $1 AND kind = $2"
            " RETURNING last",
            tenant,
            str(kind),
        )
        return int(value)

    async def add_document(
        self,
        tenant: str,
        document_id: uuid.UUID,
        kind: DocumentKind,
        number: str,
        school_urn: str,
        period: BillingPeriod,
        issued_on: date,
        lines: Sequence[DocumentLine],
    ) -> int:
        total = sum(line.pence for line in lines)
        await self.conn.execute(
            "INSERT INTO documents (document_id, tenant, kind, number, school_urn, period_start,"
            " period_end, issued_on, total_pence) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            document_id,
            tenant,
            str(kind),
            number,
            school_urn,
            period.start,
            period.end,
            issued_on,
            total,
        )
        await self.conn.executemany(
            "INSERT INTO document_lines (document_id, line_no, delivery_id, delivered_on,"
            " description, sla_minutes, pence, adjustment) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            [
                (
                    document_id,
                    n,
                    line.delivery_id,
                    line.delivered_on,
                    line.description,
                    line.sla_minutes,
                    line.pence,
                    line.adjustment,
                )
                for n, line in enumerate(lines, start=1)
            ],
        )
        return total

    async def settle(
        self, tenant: str, line_ids: Sequence[int], on: date, document_id: uuid.UUID | None
    ) -> None:
        await self.conn.execute(
            "UPDATE ledger_lines SET settled_on = $2, document_id = $3"
            " WHERE tenant = $1 AND line_id = ANY($4::bigint[])",
            tenant,
            on,
            document_id,
            list(line_ids),
        )

    async def mark_finalised(self, tenant: str, period: BillingPeriod, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO finalised_periods (tenant, period_start, period_end, finalised_at)"
            " VALUES ($1, $2, $3, $4)",
            tenant,
            period.start,
            period.end,
            at,
        )

    # --- views ---------------------------------------------------------------------------

    _DOCUMENT = (
        "SELECT document_id, kind, number, school_urn, period_start, period_end, issued_on,"
        " total_pence FROM documents WHERE tenant = $1"
    )

    async def list_for_school(self, tenant: str, school_urn: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            self._DOCUMENT + " AND school_urn = $2 ORDER BY issued_on, number",
            tenant,
            school_urn,
        )
        return [dict(r) for r in rows]

    async def get(self, tenant: str, document_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            self._DOCUMENT + " AND document_id = $2",
            tenant,
            document_id,
        )
        if row is None:
            return None
        view = dict(row)
        view["lines"] = [
            dict(r)
            for r in await self.conn.fetch(
                "SELECT l.line_no, l.delivery_id, l.delivered_on, l.description, l.sla_minutes,"
                " l.pence, l.adjustment FROM document_lines l JOIN documents d USING (document_id)"
                " WHERE d.tenant = $1 AND l.document_id = $2 ORDER BY l.line_no",
                tenant,
                document_id,
            )
        ]
        return view

    async def export_rows(self, tenant: str, first: date, last: date) -> list[asyncpg.Record]:
        return list(
            await self.conn.fetch(
                "SELECT d.number, d.kind, d.school_urn, d.period_start, d.period_end,"
                " d.issued_on, l.line_no, l.delivery_id, l.delivered_on, l.description,"
                " l.sla_minutes, l.pence, l.adjustment FROM documents d"
                " JOIN document_lines l USING (document_id)"
                " WHERE d.tenant = $1 AND d.issued_on BETWEEN $2 AND $3"
                " ORDER BY d.kind, d.number, l.line_no",
                tenant,
                first,
                last,
            )
        )

    async def draft_lines(self, tenant: str, school_urn: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT delivery_id, delivered_on, period_start, pence, sla_minutes, description,"
            " created_at FROM ledger_lines WHERE tenant = $1 AND school_urn = $2"
            " AND settled_on IS NULL ORDER BY line_id",
            tenant,
            school_urn,
        )
        return [dict(r) for r in rows]


class UnpricedRepository:
    """What cannot be priced yet, with why: for finance, and for the metric."""

    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        self.conn = conn

    async def items(self, tenant: str, school_urn: str | None = None) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT 'delivery' AS item, delivery_id AS id, school_urn, delivered_on AS dated,"
            " minutes, NULL::int AS days, funding_stream, 'no_tariff' AS reason_kind,"
            " held_reason AS reason, held_since AS since"
            " FROM deliveries WHERE tenant = $1 AND held_reason IS NOT NULL"
            " AND ($2::text IS NULL OR school_urn = $2)"
            " UNION ALL SELECT 'late_cancellation', appointment_id, school_urn,"
            " (starts_at AT TIME ZONE 'Europe/London')::date,"
            " (extract(epoch FROM ends_at - starts_at) / 60)::int, NULL, funding_stream,"
            " 'no_tariff', held_reason, held_since"
            " FROM cancellations WHERE tenant = $1 AND held_reason IS NOT NULL"
            " AND ($2::text IS NULL OR school_urn = $2)"
            " UNION ALL SELECT 'agreement', agreement_id, school_urn, valid_from, NULL, days,"
            " NULL, held_kind, held_reason, held_since"
            " FROM agreements WHERE tenant = $1 AND status = 'unpriced'"
            " AND ($2::text IS NULL OR school_urn = $2)"
            " ORDER BY since, dated, id",
            tenant,
            school_urn,
        )
        return [dict(r) for r in rows]

    async def summary(self) -> list[asyncpg.Record]:
        """(item, reason kind, count, oldest held_since) over every authority."""
        return list(
            await self.conn.fetch(
                "SELECT 'delivery' AS item, 'no_tariff' AS reason_kind, count(*) AS n,"
                " min(held_since) AS oldest FROM deliveries WHERE held_reason IS NOT NULL"
                " UNION ALL SELECT 'late_cancellation', 'no_tariff', count(*), min(held_since)"
                " FROM cancellations WHERE held_reason IS NOT NULL"
                " UNION ALL SELECT 'agreement', held_kind, count(*), min(held_since)"
                " FROM agreements WHERE status = 'unpriced' GROUP BY held_kind"
            )
        )
