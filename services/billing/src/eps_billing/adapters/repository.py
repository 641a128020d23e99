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
from eps_contracts.scheduling import FundingStream

from eps_billing.domain.cancellation import CancellationCharge
from eps_billing.domain.commands import (
    ChargeCancellation,
    CorrectDeliveredTime,
    RecordDeliveredTime,
    VoidDeliveredTime,
)
from eps_billing.domain.invoicing import DocumentKind, DocumentLine, OpenLine
from eps_billing.domain.pricing import Agreement, Change, Delivery, Priced
from eps_billing.domain.tariff import BillingPeriod, Tariff

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
class NewLine:
    school_urn: str
    delivery_id: uuid.UUID
    delivered_on: date
    period_start: date
    pence: int
    sla_minutes: int
    spot_minutes: int
    description: str


class TariffRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def for_tenant(self, tenant: str) -> list[Tariff]:
        rows = await self.conn.fetch(
            "SELECT effective_from, effective_to, rules FROM tariffs WHERE tenant = $1"
            " ORDER BY effective_from",
            tenant,
        )
        return [
            Tariff.from_rules(
                tenant, r["effective_from"], r["effective_to"], json.loads(r["rules"])
            )
            for r in rows
        ]

    async def tenants(self) -> list[str]:
        return [r["tenant"] for r in await self.conn.fetch("SELECT DISTINCT tenant FROM tariffs")]


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
        rows = await self.conn.fetch(
            "SELECT * FROM agreements WHERE tenant = $1 AND school_urn = ANY($2::text[])"
            " ORDER BY school_urn, valid_from FOR UPDATE",  # one lock order: no deadlock
            tenant,
            list(schools),
        )
        return [self._row(r) for r in rows]

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
        self, tenant: str, agreement_id: uuid.UUID, minutes: int, carried: int
    ) -> None:
        """A new carry-over: the minutes held change, so the draw-down keys no longer hold."""
        await self.conn.execute(
            "UPDATE agreements SET minutes = $3, carried_minutes = $4, last_recorded_at = NULL,"
            " last_delivery_id = NULL, exhausted_recorded_at = NULL, exhausted_delivery_id = NULL"
            " WHERE tenant = $1 AND agreement_id = $2",
            tenant,
            agreement_id,
            minutes,
            carried,
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

    async def hold_new_deliveries(self) -> None:
        """Wait for transactions pricing deliveries and hold new ones until this one commits.

        A delivery priced concurrently with a new SLA would otherwise see no SLA while the
        SLA's re-pricing does not see it. SLA purchases are rare; consumers only wait briefly.
        """
        await self.conn.execute("LOCK TABLE deliveries IN SHARE MODE")

    async def add(
        self, tenant: str, agreement: Agreement, days: int, day_pence: int, carried: int
    ) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO agreements (agreement_id, tenant, school_urn, valid_from, valid_to,"
            " days, day_pence, minutes, carried_minutes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
            " ON CONFLICT (tenant, school_urn, valid_from) DO NOTHING RETURNING true",
            agreement.agreement_id,
            tenant,
            agreement.school_urn,
            agreement.valid_from,
            agreement.valid_to,
            days,
            day_pence,
            agreement.minutes,
            carried,
        )
        return bool(inserted)

    async def views(self, tenant: str, school_urn: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT agreement_id, valid_from, valid_to, days, day_pence, minutes,"
            " carried_minutes, drawn_minutes FROM agreements"
            " WHERE tenant = $1 AND school_urn = $2 ORDER BY valid_from",
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
