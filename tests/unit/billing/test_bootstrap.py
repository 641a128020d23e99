"""The billing service's composition: its consumers, topics and jobs."""

from __future__ import annotations

import pytest
from eps_billing.bootstrap import definition
from eps_contracts.billing import AGREEMENTS, INVOICES
from eps_contracts.scheduling import (
    APPOINTMENTS,
    SCHOOLS,
    AppointmentCancelled,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
    NamedEpAssigned,
)


def test_billing_consumes_time_cancellations_and_schools_and_publishes_invoices_and_slas() -> None:
    billing = definition()
    delivered, appointments, schools = billing.consumers
    assert set(delivered.handled_event_types) >= {DeliveredTimeRecorded, DeliveredTimeCorrected}
    assert appointments.topics == (APPOINTMENTS,)
    assert appointments.handled_event_types == [AppointmentCancelled]
    assert schools.topics == (SCHOOLS,)
    assert schools.handled_event_types == [NamedEpAssigned]
    assert billing.publishes == [INVOICES, AGREEMENTS]
    names = [job.name for job in billing.jobs]
    assert names[0] == "finalise-invoices" and names[2] == "announce-agreements"
    assert names[1].startswith("report-unpriced-")


def test_every_replica_reports_what_is_unpriced() -> None:
    """The chassis runs a job on one replica at a time (a lock per name): each replica's
    unpriced report has a name of its own, so that every replica's gauges stay current."""
    first, second = (
        next(j for j in definition().jobs if j.name.startswith("report-unpriced-"))
        for _ in range(2)
    )
    assert first.name != second.name


def test_finalising_can_be_switched_off_for_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPS_BILLING_FINALISE_INVOICES", "false")
    assert "finalise-invoices" not in [job.name for job in definition().jobs]
