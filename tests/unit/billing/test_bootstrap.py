"""The billing service's composition: its consumers, topics and the finalising job."""

from __future__ import annotations

import pytest
from eps_billing.bootstrap import definition
from eps_contracts.billing import INVOICES
from eps_contracts.scheduling import (
    APPOINTMENTS,
    AppointmentCancelled,
    DeliveredTimeCorrected,
    DeliveredTimeRecorded,
)


def test_billing_consumes_delivered_time_and_cancellations_and_publishes_invoices() -> None:
    billing = definition()
    delivered, appointments = billing.consumers
    assert set(delivered.handled_event_types) >= {DeliveredTimeRecorded, DeliveredTimeCorrected}
    assert appointments.topics == (APPOINTMENTS,)
    assert appointments.handled_event_types == [AppointmentCancelled]
    assert billing.publishes == [INVOICES]
    assert [job.name for job in billing.jobs] == ["finalise-invoices"]


def test_finalising_can_be_switched_off_for_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPS_BILLING_FINALISE_INVOICES", "false")
    assert list(definition().jobs) == []
