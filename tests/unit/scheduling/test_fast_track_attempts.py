"""Fast-track requests and answers carry an attempt; what was sent before it existed is attempt 1.

Scheduling keeps one answer per (incident, attempt): an answer stored before attempts existed
must read back as the answer to attempt 1, and a request from an incidents service that does not
send attempts is attempt 1 with nobody excluded.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from eps_contracts.incidents import FastTrackAllocationRequested
from eps_contracts.scheduling import FastTrackEpsAllocated
from pydantic import ValidationError

INCIDENT = uuid.uuid4()
NEEDED_BY = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_an_answer_stored_before_attempts_existed_is_the_answer_to_attempt_1() -> None:
    stored = json.dumps({"incident_id": str(INCIDENT), "eps": [], "shortfall": 2, "reason": "x"})
    answer = FastTrackEpsAllocated.model_validate_json(stored)
    assert answer.attempt == 1
    again = FastTrackEpsAllocated(incident_id=INCIDENT, eps=(), shortfall=1, attempt=2)
    assert FastTrackEpsAllocated.model_validate_json(again.model_dump_json()).attempt == 2


def test_a_request_without_attempt_is_attempt_1_excluding_nobody() -> None:
    request = FastTrackAllocationRequested.model_validate_json(
        json.dumps(
            {
                "incident_id": str(INCIDENT),
                "school_urn": "123456",
                "level": 2,
                "eps_needed": 2,
                "needed_by": NEEDED_BY.isoformat(),
                "duration_minutes": 180,
                "senior_lead_required": False,
            }
        )
    )
    assert request.attempt == 1 and request.exclude_ep_ids == ()


def test_an_attempt_below_1_is_refused() -> None:
    with pytest.raises(ValidationError):
        FastTrackEpsAllocated(incident_id=INCIDENT, eps=(), shortfall=0, attempt=0)
