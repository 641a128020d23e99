"""Valid referral payloads, varied by keyword, for tests and benchmarks."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eps_contracts import Envelope, envelope_for
from eps_contracts.common import RequesterKind
from eps_contracts.referrals import (
    ChildDetails,
    GraduatedApproachEvidence,
    ParentalResponsibilityHolder,
    ReferralRequested,
    Requester,
)

from tests.support.clock import suite_now

TENANT = "leicester-city"
SCHOOL = "123456"


def child(**overrides: Any) -> ChildDetails:
    values: dict[str, Any] = dict(
        given_name="Sam",
        family_name="Taylor",
        date_of_birth=date(2016, 5, 4),
        upn=None,
        school_urn=SCHOOL,
        year_group="5",
        home_language="English",
        looked_after=False,
        child_in_need=False,
        parental_responsibility=(
            ParentalResponsibilityHolder(
                person_id="p-1", name="Alex Taylor", relationship="mother"
            ),
        ),
    )
    values.update(overrides)
    return ChildDetails(**values)


def referral_requested(**overrides: Any) -> ReferralRequested:
    values: dict[str, Any] = dict(
        request_id=uuid.uuid4(),
        requested_on=date(2026, 11, 2),
        requester=Requester(
            kind=RequesterKind.SCHOOL_SENCO,
            person_id="senco-1",
            name="Jo Patel",
            organisation="Example Primary",
            school_urn=SCHOOL,
        ),
        child=child(),
        concerns="Struggles with reading and with regulating emotions at transitions.",
        graduated_approach=GraduatedApproachEvidence(
            sen_support_since=date(2025, 1, 6),
            review_cycles_completed=2,
            strategies_tried=("small-group phonics", "visual timetable"),
            attainment_summary="Working below age-related expectations in reading.",
            attendance_percent=94.5,
        ),
    )
    values.update(overrides)
    return ReferralRequested(**values)


def upstream_envelope(request: ReferralRequested | None = None) -> Envelope[ReferralRequested]:
    return envelope_for(
        request or referral_requested(),
        source="/la/leicester-city/sen-system",
        tenant=TENANT,
        actor="upstream:sen-system",
        time=suite_now(),
    )
