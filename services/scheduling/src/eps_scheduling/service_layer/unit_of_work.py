"""The scheduling service's unit of work: its repositories, bound to one local authority."""

from __future__ import annotations

from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWork

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


class PostgresSchedulingUnitOfWork(PostgresUnitOfWork, SchedulingUnitOfWork):
    repositories = {
        "policies": PostgresPolicyRepository,
        "staff": PostgresStaffRepository,
        "appointments": PostgresAppointmentRepository,
        "planning": PostgresPlanningRepository,
        "deliveries": PostgresDeliveryRepository,
        "read_models": PostgresReadModelRepository,
        "fast_track": PostgresFastTrackRepository,
    }
