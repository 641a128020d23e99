"""Periodic jobs: work that happens because time passed.

Planning meetings: each school's autumn and spring planning meetings are proposed in its named
EP's diary without anyone asking. Each school is worked in its own short unit of work (it locks
only its named EP's diary row), with the runtime's clock (``JobContext.clock``), so tests drive
the job with a fake clock and a fast-track allocation never waits behind it for long.
"""

from __future__ import annotations

from eps_chassis.context import MessageContext
from eps_chassis.errors import DomainError
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

from eps_scheduling.adapters.repository import StaffRepository
from eps_scheduling.domain import commands
from eps_scheduling.service_layer import handlers

log = get_logger()


async def propose_planning_meetings(context: JobContext) -> None:
    now = context.clock()
    async with context.uow.pool.acquire() as conn:
        tenants = await StaffRepository(conn).tenants_with_schools()
    for tenant in tenants:
        message = MessageContext(tenant=tenant, actor=context.actor)
        async with context.uow(message) as uow:
            year, schools = await handlers.schools_due_for_planning(uow, now)
        for school_urn in schools:
            cmd = commands.ProposePlanningMeetings(school_urn, year, now)
            try:
                async with context.uow(message) as uow:
                    await handlers.propose_planning_meetings(cmd, uow)
            except DomainError as exc:  # one school's problem must not stop the others
                log.warning(
                    "planning meetings not proposed",
                    tenant=tenant,
                    school_urn=school_urn,
                    academic_year=year,
                    error=str(exc),
                )


PLANNING_MEETINGS = PeriodicJob("propose-planning-meetings", 3600.0, propose_planning_meetings)
