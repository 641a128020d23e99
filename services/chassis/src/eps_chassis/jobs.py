"""Periodic jobs: work that must happen because time passed, not because someone looked.

Each job runs every ``interval_s`` (a setting) on one replica at a time (a session advisory lock
per job), with the service's unit-of-work factory and clock, so that a job's state changes and
events commit together like any handler's. A failing run is logged and retried at the next
tick. Most jobs are done one local authority at a time (:func:`per_tenant`): a handler in each
LA's own unit of work, so that one LA's failure holds back no other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from eps_chassis.clock import Clock
from eps_chassis.context import MessageContext
from eps_chassis.logging import bound_context, get_logger
from eps_chassis.tasks import cancel_and_wait
from eps_chassis.unit_of_work import UnitOfWorkFactory

log = get_logger()


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job gets: units of work on the service's schema, the clock, and who it is."""

    uow: UnitOfWorkFactory[Any]
    clock: Clock
    service: str

    @property
    def actor(self) -> str:
        return f"service:{self.service}"


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    interval_s: float
    run: Callable[[JobContext], Awaitable[None]]


Tenants = Callable[[asyncpg.Connection, datetime], Awaitable[Sequence[str]]]
"""Which local authorities have work due at a moment (a query across every LA's rows)."""


def per_tenant(
    name: str,
    interval_s: float,
    *,
    tenants: Tenants,
    work: Callable[..., Awaitable[object]],
    items: Callable[[Any], Awaitable[Sequence[Any]]] | None = None,
) -> PeriodicJob:
    """A job done one local authority at a time, acting as the service: ``work(uow)`` (a
    handler taking the service's unit of work) in each due LA's own unit of work; or, with
    ``items(uow)`` listing what is due in an LA, ``work(item, uow)`` for each item in a unit of
    work of its own, so that a long round holds each item's locks briefly (a fast track waiting
    for an EP's diary waits for one school's planning, not an LA's)."""

    async def run(context: JobContext) -> None:
        async with context.uow.pool.acquire() as conn:
            due = await tenants(conn, context.clock())
        for tenant in due:
            with bound_context(tenant=tenant):
                try:
                    await _for_tenant(context, tenant)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # this LA is tried again next tick; the rest go on
                    log.error("job failed for one local authority", job=name, error=repr(exc))

    async def _for_tenant(context: JobContext, tenant: str) -> None:
        as_service = MessageContext(tenant, context.actor)
        if items is None:
            async with context.uow(as_service) as uow:
                await work(uow)
            return
        async with context.uow(as_service) as uow:
            listed = await items(uow)
        for item in listed:
            try:
                async with context.uow(as_service) as uow:
                    await work(item, uow)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # this item is tried again next tick; the rest go on
                log.warning("job item failed", item=repr(item), error=repr(exc))

    return PeriodicJob(name, interval_s, run)


class JobRunner:
    def __init__(self, jobs: list[PeriodicJob], pool: asyncpg.Pool, context: JobContext) -> None:
        self.jobs = jobs
        self.pool = pool
        self.context = context
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"job-{job.name}"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()

    async def run_once(self, job: PeriodicJob) -> bool:
        """Run the job if no other replica is running it; True when it ran."""
        async with self.pool.acquire() as conn:
            lock = f"job:{self.context.service}:{job.name}"
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
                return False
            try:
                with bound_context(job=job.name):
                    await job.run(self.context)
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock)
                except BaseException:
                    # The pool does not reset sessions on release, so a session lock whose
                    # unlock was interrupted must leave with its connection, not stay pooled.
                    conn.terminate()
                    raise
        return True

    async def _loop(self, job: PeriodicJob) -> None:
        while True:
            try:
                await self.run_once(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("periodic job failed; retrying next tick", job=job.name, error=repr(exc))
            await asyncio.sleep(job.interval_s)


async def prune_delivered_records(context: JobContext) -> None:
    """Keep the outbox and inbox from growing without bound.

    Published outbox records are kept 7 days (for inspection); inbox ids 30 days, well past
    Kafka's default 7-day retention, so any redelivery still finds its id. Measured by the
    database's clock, which stamped them: this is about real records, not the service's
    (possibly shifted) domain time.
    """
    async with context.uow.pool.acquire() as conn:
        await conn.execute("DELETE FROM outbox WHERE published_at < now() - interval '7 days'")
        await conn.execute("DELETE FROM inbox WHERE processed_at < now() - interval '30 days'")
        # a release matters to holds that ran beside it: minutes, kept a day
        await conn.execute("DELETE FROM held_releases WHERE released_at < now() - interval '1 day'")
        # the audit log's own retention rule, by its privileged path (chassis migration 0007)
        await conn.execute("SELECT audit_log_prune()")


HOUSEKEEPING = PeriodicJob("housekeeping", 3600.0, prune_delivered_records)
