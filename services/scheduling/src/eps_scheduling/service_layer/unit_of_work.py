"""The scheduling service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

from typing import Any

import asyncpg
from eps_chassis.clock import Clock, utc_now
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import A, PostgresUnitOfWork, UnitOfWork

from eps_scheduling.adapters.repository import (
    AppointmentRepository,
    DeliveryRepository,
    FastTrackRepository,
    PlanningRepository,
    PolicyRepository,
    PostgresAppointmentRepository,
    PostgresDeliveryRepository,
    PostgresFastTrackRepository,
    PostgresPlanningRepository,
    PostgresPolicyRepository,
    PostgresReadModelRepository,
    PostgresStaffRepository,
    ReadModelRepository,
    StaffRepository,
)


class SchedulingUnitOfWork(UnitOfWork):
    policies: PolicyRepository
    staff: StaffRepository
    appointments: AppointmentRepository
    planning: PlanningRepository
    deliveries: DeliveryRepository
    read_models: ReadModelRepository
    fast_track: FastTrackRepository

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracked_ids: set[int] = set()

    def track(self, aggregate: A) -> A:
        """As the chassis's, in constant time: a diary read for an allocation tracks hundreds
        of appointments, and the chassis's check against every one already tracked would make
        that quadratic on the fast track. (``seen`` keeps each one alive, so no id is reused.)"""
        if id(aggregate) not in self._tracked_ids:
            self._tracked_ids.add(id(aggregate))
            self.seen.append(aggregate)
        return aggregate


class PostgresSchedulingUnitOfWork(PostgresUnitOfWork, SchedulingUnitOfWork):
    def __init__(
        self,
        conn: asyncpg.Connection,
        context: MessageContext,
        source: str,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(conn, context, source, clock)
        self.policies = PostgresPolicyRepository(self)
        self.staff = PostgresStaffRepository(self)
        self.appointments = PostgresAppointmentRepository(self)
        self.planning = PostgresPlanningRepository(self)
        self.deliveries = PostgresDeliveryRepository(self)
        self.read_models = PostgresReadModelRepository(self)
        self.fast_track = PostgresFastTrackRepository(self)
