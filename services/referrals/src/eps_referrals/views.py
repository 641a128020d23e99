"""What the referrals service shows over HTTP: read straight from its tables, as response models
(so the OpenAPI document describes what comes back)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any, Literal

from eps_chassis.request_outcomes import RequestOutcome, waiting_events
from eps_chassis.subject_access import HeldRecord, held_rows
from pydantic import BaseModel, Field

from eps_referrals.domain.model import referral_id_for
from eps_referrals.entrypoints.events import upstream
from eps_referrals.service_layer.unit_of_work import PostgresReferralsUnitOfWork


class HistoryEntry(BaseModel):
    event_type: str
    data: dict[str, Any] = Field(description="The event as published.")
    actor: str = Field(description="Who caused it (a person, a service, an upstream system).")
    at: datetime


class ReferralView(BaseModel):
    """A referral: the request, where it stands, its consent and routing, and its history."""

    referral_id: uuid.UUID
    tenant: str
    request_id: uuid.UUID
    child_id: uuid.UUID
    status: str = Field(
        description="received, awaiting_consent, awaiting_triage, accepted, declined,"
        " redirected, a casework stage (consultation, assessment, joint_plan, review), paused,"
        " closed or duplicate."
    )
    received_on: date
    school_urn: str | None
    request: dict[str, Any] = Field(description="The request as submitted.")
    named_ep_id: str | None
    paused_stage: str | None
    consent_involvement: str
    consent_valid: bool
    consent_reason: str | None
    duplicate_of: uuid.UUID | None
    feedback: dict[str, Any] | None = Field(description="The feedback record it closed with.")
    routing: Literal["named_ep", "no_named_ep_yet"]
    history: list[HistoryEntry]


class SubmittedReferral(BaseModel):
    """What became of a submitted request."""

    referral_id: uuid.UUID
    status: str
    duplicate_of: uuid.UUID | None = Field(description="The open referral it was linked to.")
    routing: Literal["named_ep", "no_named_ep_yet"]


class ReferralRequestOutcome(RequestOutcome):
    """What became of an upstream request for EP involvement, by its ``request_id``."""

    request_id: uuid.UUID
    referral: SubmittedReferral | None = Field(
        description="The referral it became (applied): its id and where it stands."
    )
    school_urn: str | None = Field(description="The child's school, once applied.")


class RegisteredSchool(BaseModel):
    school_urn: str
    name: str


async def referral(uow: PostgresReferralsUnitOfWork, referral_id: uuid.UUID) -> ReferralView | None:
    row = await uow.conn.fetchrow(
        "SELECT referral_id, tenant, request_id, child_id, status, received_on, school_urn,"
        " request, named_ep_id, paused_stage, consent_involvement, consent_valid,"
        " consent_reason, duplicate_of, feedback FROM referrals"
        " WHERE tenant = $1 AND referral_id = $2",
        uow.tenant,
        referral_id,
    )
    if row is None:
        return None
    history = await uow.conn.fetch(
        "SELECT event_type, data, actor, at FROM referral_history"
        " WHERE tenant = $1 AND referral_id = $2 ORDER BY id",
        uow.tenant,
        referral_id,
    )
    return ReferralView(
        **{
            **row,
            "request": json.loads(row["request"]),
            "feedback": json.loads(row["feedback"]) if row["feedback"] else None,
        },
        routing="named_ep" if row["named_ep_id"] else "no_named_ep_yet",
        history=[HistoryEntry(**{**h, "data": json.loads(h["data"])}) for h in history],
    )


def submitted(view: ReferralView) -> SubmittedReferral:
    return SubmittedReferral(
        referral_id=view.referral_id,
        status=view.status,
        duplicate_of=view.duplicate_of,
        routing=view.routing,
    )


async def request_outcome(
    uow: PostgresReferralsUnitOfWork, request_id: uuid.UUID
) -> ReferralRequestOutcome | None:
    """The referral a request became (its id derives from the request's), else its events held
    by the upstream consumer; None when neither (not received, or dead-lettered)."""
    view = await referral(uow, referral_id_for(uow.tenant, request_id))
    if view is not None:
        return ReferralRequestOutcome(
            outcome="applied",
            request_id=request_id,
            referral=submitted(view),
            school_urn=view.school_urn,
            waiting=[],
        )
    waiting = await waiting_events(uow, upstream, request_id)
    if not waiting:
        return None
    return ReferralRequestOutcome(
        outcome="waiting", request_id=request_id, referral=None, school_urn=None, waiting=waiting
    )


async def held_about_child(
    uow: PostgresReferralsUnitOfWork, child_id: uuid.UUID
) -> list[HeldRecord]:
    """The child's referrals (the request as submitted: who asked, the child, the concerns and
    the school's evidence) and every event of each (subject access)."""
    referrals = await held_rows(
        uow,
        "referral",
        "SELECT * FROM referrals WHERE tenant = $1 AND child_id = $2 ORDER BY received_on",
        uow.tenant,
        child_id,
        key="referral_id",
        json_columns=("request", "feedback"),
        third_party=(
            "request.requester",
            "request.child.parental_responsibility",
            "request.child.social_worker_id",
            "requester_id",
            "named_ep_id",
            "feedback",
        ),
    )
    history = await held_rows(
        uow,
        "referral event",
        "SELECT h.* FROM referral_history h JOIN referrals r USING (referral_id)"
        " WHERE r.tenant = $1 AND r.child_id = $2 ORDER BY h.id",
        uow.tenant,
        child_id,
        key="id",
        audited_as=("referral", "referral_id"),
        json_columns=("data",),
        third_party=("actor", "data"),
    )
    return referrals + history
