"""Audit log of access to children's records (UK GDPR Article 9 special category data)."""

from __future__ import annotations

import uuid

import asyncpg

from eps_chassis.auth import Principal
from eps_chassis.context import request_correlation


async def record_access(
    conn: asyncpg.Connection | asyncpg.Pool,
    principal: Principal,
    *,
    action: str,
    resource: str,
    outcome: str = "allowed",
    purpose: str | None = None,
    correlation_id: uuid.UUID | None = None,
) -> None:
    """Write who did what to which record, when, why and with what outcome, in which request's
    conversation (``correlation_id``, by default the HTTP request's)."""
    await conn.execute(
        "INSERT INTO audit_log (tenant, actor, role, action, resource, purpose, outcome,"
        " correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        principal.tenant,
        principal.actor,
        str(principal.role),
        action,
        resource,
        purpose,
        outcome,
        correlation_id or request_correlation(),
    )
