"""Value types shared by several bounded contexts."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

SchoolUrn = Annotated[
    str, Field(pattern=r"^[0-9]{6,7}$", description="DfE unique reference number of the school.")
]
Upn = Annotated[
    str,
    Field(
        pattern=r"^[A-Z][0-9]{11}[0-9A-Z]$",
        description="Unique pupil number (13 characters; a final letter marks a temporary UPN).",
    ),
]
PersonId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="Identifier of a person in the local authority's records (not a name).",
    ),
]


class RequesterKind(StrEnum):
    SCHOOL_SENCO = "school_senco"
    PARENT_CARER = "parent_carer"
    VIRTUAL_SCHOOL = "virtual_school"
    SOCIAL_WORKER = "social_worker"
    FOSTER_CARER = "foster_carer"
    SEND_SERVICE = "send_service"


class PriorityGroup(StrEnum):
    COMPLEX_SEND = "complex_send"
    MENTAL_HEALTH_RISK = "mental_health_risk"
    LOOKED_AFTER = "looked_after"
    RISK_OF_EXCLUSION = "risk_of_exclusion"
