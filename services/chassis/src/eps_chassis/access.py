"""Audited access to one child's record: the HTTP entrypoints' way into a unit of work.

Every read and write of a child's record is written to the service's ``audit_log`` (UK GDPR
Article 9 special category data): who, with which role, what, which record, why, with what
outcome and when. ``audited_access`` opens a unit of work for the caller, lets the entrypoint
check the record's school against the caller's (school staff see only their own school's
children) and do its work, then records the access:

- on success, in the same transaction as the work, so the record of a change commits with it;
- on a :class:`DomainError` (not found, forbidden, a refused rule or transition), on the pool
  after the work's transaction has rolled back, with the outcome (``not_found``, ``denied`` or
  ``refused``) and the reason; the error is then re-raised for the HTTP layer to answer.

Refusals before a route's work begins (no valid token, a role not allowed, invalid input) are
audited by the HTTP layer (``eps_chassis.http``), so every refusal is written once.

Most routes act on one record named in the path: a service declares each kind once as a
:class:`OneRecord` (its audited name, its view, where its school is), and every such route is
``await REFERRAL.act(runtime.uow, principal, referral_id, action="triage", work=...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from eps_chassis.audit import record_access
from eps_chassis.auth import Principal
from eps_chassis.context import MessageContext, current_correlation
from eps_chassis.errors import DomainError, Forbidden, NotFound
from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWorkFactory

U = TypeVar("U", bound=PostgresUnitOfWork)
V = TypeVar("V")


def outcome_of(error: DomainError) -> str:
    """The audited outcome of a refusal: ``not_found``, ``denied`` or ``refused``."""
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, Forbidden):
        return "denied"
    return "refused"


@dataclass
class Access(Generic[U]):
    """One caller's access to one record, inside its unit of work."""

    uow: U
    principal: Principal
    resource: str
    """What is audited, e.g. ``referral/<id>``; the entrypoint may name it once it is known."""

    def check_school(self, school_urn: str | None) -> None:
        """School staff act only for children of their own school (and never without one)."""
        principal = self.principal
        if principal.is_school_staff and (
            principal.school_urn is None or school_urn != principal.school_urn
        ):
            raise Forbidden("school staff may act only for children of their own school")


@asynccontextmanager
async def audited_access(
    uows: UnitOfWorkFactory[U],
    principal: Principal,
    *,
    action: str,
    resource: str,
    purpose: str | None = None,
    correlation_id: uuid.UUID | None = None,
) -> AsyncIterator[Access[U]]:
    """A unit of work for ``principal`` acting on ``resource``, audited whatever the outcome."""
    context = MessageContext(
        principal.tenant, principal.actor, correlation_id or current_correlation()
    )
    access: Access[U] | None = None
    try:
        async with uows(context) as uow:
            access = Access(uow, principal, resource)
            yield access
            await record_access(
                uow.conn,
                principal,
                action=action,
                resource=access.resource,
                purpose=purpose,
                correlation_id=context.correlation_id,
            )
    except DomainError as exc:
        await record_access(
            uows.pool,
            principal,
            action=action,
            resource=access.resource if access is not None else resource,
            purpose=purpose,
            outcome=outcome_of(exc),
            reason=exc.describe(),
            correlation_id=context.correlation_id,
        )
        exc.audited = True  # the HTTP layer answers it without writing it again
        raise


@dataclass(frozen=True)
class OneRecord(Generic[U, V]):
    """One kind of record the HTTP entrypoints act on by its id, declared once by its service.

    ``kind`` names it in the audit log (``<kind>/<id>``, or ``audited_as`` once it is shown:
    an appointment for a referral is part of the child's record); ``view`` shows it (``None``
    when there is none: a 404 saying ``missing``, naming ``field``); ``school`` says whose
    child it is, where school staff may call: it is checked before any work is done.
    """

    kind: str
    view: Callable[[U, uuid.UUID], Awaitable[V | None]]
    school: Callable[[V], str | None] | None = None
    audited_as: Callable[[uuid.UUID, V], str] | None = None
    missing: str = ""
    field: str | None = None

    async def show(self, access: Access[U], record_id: uuid.UUID) -> V:
        """The record as it now is, in ``access``'s unit of work (and named, once known)."""
        shown = await self.view(access.uow, record_id)
        if shown is None:
            raise NotFound(self.missing or f"no such {self.kind}", field=self.field)
        if self.audited_as is not None:
            access.resource = self.audited_as(record_id, shown)
        return shown

    async def act(
        self,
        uows: UnitOfWorkFactory[U],
        principal: Principal,
        record_id: uuid.UUID,
        *,
        action: str,
        work: Callable[[U], Awaitable[object]] | None = None,
        purpose: str | None = None,
    ) -> V:
        """Do ``work`` (none: a read) on the record for ``principal``, audited whatever the
        outcome; the record as the work left it."""
        async with audited_access(
            uows, principal, action=action, resource=f"{self.kind}/{record_id}", purpose=purpose
        ) as access:
            shown: V | None = None
            if self.school is not None:  # whose child, before anything is done to the record
                shown = await self.show(access, record_id)
                access.check_school(self.school(shown))
            if work is not None:
                await work(access.uow)
                shown = None
            return shown if shown is not None else await self.show(access, record_id)
