"""Persistence of referrals in the service's own schema. Every query is scoped to a tenant."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from typing import Any

import asyncpg

from eps_referrals.domain.model import Referral


def _request_json(referral: Referral) -> str:
    def encode(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        return str(value)

    return json.dumps(asdict(referral.request), default=encode)


class ReferralRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, referral: Referral) -> None:
        await self.conn.execute(
            "INSERT INTO referrals (referral_id, tenant, request_id, child_id, status,"
            " received_on, school_urn, request) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            referral.referral_id,
            referral.tenant,
            referral.request_id,
            referral.child_id,
            str(referral.status),
            referral.received_on,
            referral.request.child.school_urn,
            _request_json(referral),
        )

    async def id_for_request(self, tenant: str, request_id: uuid.UUID) -> uuid.UUID | None:
        value = await self.conn.fetchval(
            "SELECT referral_id FROM referrals WHERE tenant = $1 AND request_id = $2",
            tenant,
            request_id,
        )
        return value if isinstance(value, uuid.UUID) else None

    async def lock_request(self, tenant: str, request_id: uuid.UUID) -> None:
        """Serialise concurrent submissions of one request (HTTP retry racing the event)."""
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"referral-request:{tenant}:{request_id}"
        )

    async def get_view(self, tenant: str, referral_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT referral_id, tenant, request_id, child_id, status, received_on, school_urn,"
            " request FROM referrals WHERE tenant = $1 AND referral_id = $2",
            tenant,
            referral_id,
        )
        if row is None:
            return None
        view = dict(row)
        view["request"] = json.loads(view["request"])
        return view
