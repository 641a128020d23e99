"""Persistence of consent cases, scoped by tenant."""

from __future__ import annotations

import uuid

import asyncpg

from eps_consent.domain.model import ConsentCase


class ConsentCaseRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, case: ConsentCase) -> bool:
        """Insert the case; False when the referral already has one."""
        inserted = await self.conn.fetchval(
            "INSERT INTO consent_cases (referral_id, tenant, child_id, consenters, state)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            case.referral_id,
            case.tenant,
            case.child_id,
            list(case.consenters),
            str(case.state),
        )
        return bool(inserted)

    async def exists(self, tenant: str, referral_id: uuid.UUID) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT true FROM consent_cases WHERE tenant = $1 AND referral_id = $2",
                tenant,
                referral_id,
            )
        )
