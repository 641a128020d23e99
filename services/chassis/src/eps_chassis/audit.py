"""Audit log of access to children's records (UK GDPR Article 9 special category data).

Every access is one row: who (``actor``, ``role``, ``tenant``), what (``action`` on
``resource``), why (``purpose``, the caller's ``X-Purpose``), the ``outcome`` (``allowed``, or
the refusal: ``unauthenticated``, ``denied``, ``not_found``, ``refused``, ``invalid``) with the
``reason`` it was refused, when, from where (``client``, for a caller not known) and in which
request's conversation. The table is append-only (chassis migration 0006): rows are never
changed or removed by the services.
"""

from __future__ import annotations

import re
import uuid

import asyncpg

from eps_chassis.auth import Claimed, Principal
from eps_chassis.context import request_correlation

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LONGEST = 500


def printable(text: str | None, longest: int = _LONGEST) -> str | None:
    """What a caller sent, as the audit log keeps it: control characters escaped (PostgreSQL
    refuses NUL) and cut at ``longest`` characters."""
    if text is None:
        return None
    escaped = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return escaped if len(escaped) <= longest else escaped[: longest - 1] + "…"


async def record_access(
    conn: asyncpg.Connection | asyncpg.Pool,
    principal: Principal | Claimed | None,
    *,
    action: str,
    resource: str,
    outcome: str = "allowed",
    purpose: str | None = None,
    reason: str | None = None,
    client: str | None = None,
    correlation_id: uuid.UUID | None = None,
) -> None:
    """Write who did what to which record, when, why and with what outcome (a refusal with its
    reason), in which request's conversation (``correlation_id``, by default the HTTP
    request's). ``principal`` is ``None`` for a caller nobody knows (no token, a forged one):
    their ``client`` address is then all there is."""
    await conn.execute(
        "INSERT INTO audit_log (tenant, actor, role, action, resource, purpose, outcome,"
        " correlation_id, reason, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        principal.tenant if principal is not None else None,
        principal.actor if principal is not None else "anonymous",
        str(principal.role) if principal is not None and principal.role else None,
        action,
        printable(resource),
        printable(purpose),
        outcome,
        correlation_id or request_correlation(),
        printable(reason),
        client,
    )
