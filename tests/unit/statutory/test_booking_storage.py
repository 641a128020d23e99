"""How an advice's bookings are stored: as JSON, and read back from the single booking columns
of advice saved before bookings had purposes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from eps_chassis.london import LONDON
from eps_contracts.statutory import AssessmentPurpose
from eps_statutory.adapters.repository import booking_json, bookings_from
from eps_statutory.domain.model import Booking

STARTS = datetime(2026, 11, 16, 9, 0, tzinfo=LONDON)


def legacy_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        bookings=None,
        booking_request_id=None,
        booking_failure=None,
        appointment_id=None,
        appointment_starts_at=None,
        assessment_completed_at=None,
    )
    row.update(values)
    return row


def test_bookings_round_trip_through_json() -> None:
    bookings = [
        Booking(AssessmentPurpose.ASSESSMENT_VISIT, uuid.uuid4(), None, uuid.uuid4(), STARTS),
        Booking(AssessmentPurpose.CHILD_VIEWS, uuid.uuid4(), "no EP free in the window"),
    ]
    raw = json.dumps([booking_json(b) for b in bookings])
    assert bookings_from(legacy_row(bookings=raw)) == bookings


def test_an_advice_saved_before_purposes_has_its_single_booking_as_the_visit() -> None:
    request_id, appointment_id = uuid.uuid4(), uuid.uuid4()
    row = legacy_row(
        booking_request_id=request_id,
        appointment_id=appointment_id,
        appointment_starts_at=STARTS,
        assessment_completed_at=STARTS,
    )
    assert bookings_from(row) == [
        Booking(
            AssessmentPurpose.ASSESSMENT_VISIT,
            request_id,
            None,
            appointment_id,
            STARTS,
            completed_at=STARTS,
        )
    ]
    assert "appointment_id" not in row and "assessment_completed_at" in row
    assert bookings_from(legacy_row()) == []
    failed = bookings_from(legacy_row(booking_request_id=request_id, booking_failure="full"))
    assert failed == [Booking(AssessmentPurpose.ASSESSMENT_VISIT, request_id, "full")]
