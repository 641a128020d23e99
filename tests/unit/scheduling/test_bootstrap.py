"""The scheduling service as deployed: its settings and what its definition is made of."""

from __future__ import annotations

import pytest
from eps_scheduling.bootstrap import SERVICE
from eps_scheduling.entrypoints.jobs import PLANNING_MEETINGS
from eps_scheduling.service_layer.unit_of_work import PostgresSchedulingUnitOfWork
from eps_scheduling.settings import SchedulingSettings


def test_the_planning_job_runs_hourly_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [hourly] = SERVICE.definition(SchedulingSettings()).jobs
    assert (hourly.name, hourly.interval_s) == (PLANNING_MEETINGS, 3600.0)
    monkeypatch.setenv("EPS_PLANNING_MEETINGS_INTERVAL_S", "60")
    [job] = SERVICE.definition().jobs
    assert job.interval_s == 60.0


def test_every_handler_gets_the_services_own_unit_of_work() -> None:
    assert SERVICE.definition().unit_of_work is PostgresSchedulingUnitOfWork
