"""Time-driven work of the privacy service, one local authority at a time: reminders of
subject access requests due soon, and erasure of the records whose retention has ended (on the
day it ends, Europe/London, unless a legal hold suspends it)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from eps_chassis.jobs import JobContext, PeriodicJob, per_tenant
from eps_chassis.logging import get_logger
from eps_chassis.london import london_date

from eps_privacy import metrics
from eps_privacy.adapters.keys import KeyShredder
from eps_privacy.service_layer import handlers
from eps_privacy.service_layer.unit_of_work import PostgresPrivacyUnitOfWork
from eps_privacy.settings import PrivacySettings

log = get_logger()

REMIND = "remind-subject-access-due"
RETENTION = "apply-retention-schedule"
SHRED = "shred-erased-keys"


def _no_keys_service(waiting: int) -> None:
    log.warning("erasures wait for their keys to be shredded: no keys service configured"
                " (EPS_KEYS_URL)", waiting=waiting)  # fmt: skip


async def _with_children(conn: asyncpg.Connection, _: datetime) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT tenant FROM children WHERE date_of_birth IS NOT NULL")
    return [r["tenant"] for r in rows]


async def _with_open_requests(conn: asyncpg.Connection, _: datetime) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT tenant FROM subject_access_requests WHERE status = 'open'"
    )
    return [r["tenant"] for r in rows]


def privacy_jobs(settings: PrivacySettings, shredder: KeyShredder | None) -> list[PeriodicJob]:
    confirmers = list(settings.privacy_erasure_confirmers)

    async def erase_due(uow: PostgresPrivacyUnitOfWork) -> None:
        await handlers.order_due_erasures(uow, confirmers)

    reminders = per_tenant(
        REMIND,
        settings.privacy_reminder_interval_s,
        tenants=_with_open_requests,
        work=handlers.remind_due_requests,
    )

    async def remind_and_count(context: JobContext) -> None:
        await reminders.run(context)
        await _count_open(context)

    async def shred_keys(context: JobContext) -> None:
        """Each completed erasure's key, shredded at the keys service (retried until it is)."""
        async with context.uow.pool.acquire() as conn:
            due = await conn.fetch(
                "SELECT tenant, child_id, erasure_id FROM erasures"
                " WHERE completed_at IS NOT NULL AND NOT key_shredded ORDER BY completed_at"
            )
        if due and shredder is None:
            _no_keys_service(len(due))
            return
        for row in due:
            assert shredder is not None
            if await shredder.shred(row["tenant"], row["child_id"], row["erasure_id"]):
                async with context.uow.pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE erasures SET key_shredded = true WHERE erasure_id = $1",
                        row["erasure_id"],
                    )

    return [
        PeriodicJob(REMIND, settings.privacy_reminder_interval_s, remind_and_count),
        PeriodicJob(SHRED, settings.privacy_shred_interval_s, shred_keys),
        per_tenant(
            RETENTION,
            settings.privacy_retention_interval_s,
            tenants=_with_children,
            work=erase_due,
        ),
    ]


async def _count_open(context: JobContext) -> None:
    today = london_date(context.clock())
    async with context.uow.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT CASE WHEN due_on < $1 THEN 'overdue' WHEN reminded_for = due_on"
            " THEN 'due_soon' ELSE 'later' END AS due, count(*) AS n"
            " FROM subject_access_requests WHERE status = 'open' GROUP BY 1",
            today,
        )
    counts = {r["due"]: r["n"] for r in rows}
    for when in ("overdue", "due_soon", "later"):
        metrics.SUBJECT_ACCESS_OPEN.labels(context.service, when).set(counts.get(when, 0))
