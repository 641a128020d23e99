"""The billing service's composition: its consumers, topics and jobs."""

from __future__ import annotations

import pytest
from eps_billing.bootstrap import SERVICE, definition
from eps_billing.settings import BillingSettings
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
    billing = SERVICE.definition()
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
        next(j for j in SERVICE.definition().jobs if j.name.startswith("report-unpriced-"))
        for _ in range(2)
    )
    assert first.name != second.name


def test_finalising_can_be_switched_off_for_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPS_BILLING_FINALISE_INVOICES", "false")
    assert "finalise-invoices" not in [job.name for job in SERVICE.definition().jobs]


def test_every_interval_is_a_setting_read_from_the_environment_names_it_always_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EPS_BILLING_FINALISE_INTERVAL_S", "7")
    monkeypatch.setenv("EPS_BILLING_UNPRICED_REPORT_INTERVAL_S", "8")
    monkeypatch.setenv("EPS_BILLING_ANNOUNCE_INTERVAL_S", "9")
    intervals = {job.name.split("-")[0]: job.interval_s for job in SERVICE.definition().jobs}
    assert intervals == {"finalise": 7.0, "report": 8.0, "announce": 9.0}
    given = BillingSettings(billing_finalise_invoices=False, billing_announce_interval_s=0.5)
    assert [(j.name, j.interval_s) for j in definition(given).jobs][1:] == [
        ("announce-agreements", 0.5)
    ]
