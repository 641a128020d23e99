"""HTTP entrypoints of the keys service: a child's data key for the services that seal and open
that child's personal fields, its shredding, and each service's dead-letter key of a day.

Services call as themselves (role ``service``, ``eps_chassis.key_client``), for the local
authority their token names; shredding may also be asked by a person (the principal EP, the
data-protection officer, an admin). Every call is audited, refusals too; a shredded key is
410 Gone."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any, TypeAlias

from eps_chassis.access import audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.errors import Forbidden
from eps_chassis.http import PROBLEM_JSON, json_body
from eps_chassis.http import Purpose as AccessPurpose
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from fastapi import APIRouter, Depends
from pydantic import Field

from eps_keys.adapters.kek import FileKeyEncryptionKey, KeyEncryptionKey
from eps_keys.domain import commands
from eps_keys.service_layer import handlers
from eps_keys.service_layer.unit_of_work import PostgresKeysUnitOfWork
from eps_keys.settings import KeysSettings
from eps_keys.views import DataKey, Shredded

router = APIRouter(prefix="/keys", tags=["keys"])

SERVICES = require_roles(Role.SERVICE)
SHREDDERS = require_roles(Role.SERVICE, Role.DATA_PROTECTION, Role.PRINCIPAL_EP, Role.ADMIN)
GONE: dict[int | str, dict[str, Any]] = {
    410: {
        "description": "The key was destroyed (the child erased; the dead letters' retention"
        " passed): nothing sealed with it opens any more.",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}

Runtime: TypeAlias = ServiceRuntime[PostgresKeysUnitOfWork]


_KEKS: dict[Path, KeyEncryptionKey] = {}


def _kek(runtime: Runtime = Depends(get_runtime)) -> KeyEncryptionKey:
    """The key-encryption key, read once from ``EPS_KEYS_KEK_FILE`` (see ``adapters.kek``)."""
    settings = runtime.settings
    assert isinstance(settings, KeysSettings)
    path = settings.keys_kek_file
    if path not in _KEKS:
        _KEKS[path] = FileKeyEncryptionKey.from_file(path)
    return _KEKS[path]


async def _child_key(
    runtime: Runtime, principal: Principal, kek: KeyEncryptionKey, child_id: uuid.UUID, create: bool
) -> DataKey:
    async with audited_access(
        runtime.uow,
        principal,
        action="provide-key" if create else "read-key",
        resource=f"child/{child_id}/key",
    ) as access:
        command = commands.ProvideChildKey(child_id, create=create)
        key = await handlers.provide_child_key(command, access.uow, kek)
        return DataKey.of(str(child_id), key)


@router.put("/children/{child_id}", response_model=DataKey, responses=GONE)
async def create_or_get_child_key(
    child_id: uuid.UUID,
    principal: Principal = SERVICES,
    runtime: Runtime = Depends(get_runtime),
    kek: KeyEncryptionKey = Depends(_kek),
) -> DataKey:
    """The child's data key, made on first use (a producer sealing the child's personal data);
    410 once shredded."""
    return await _child_key(runtime, principal, kek, child_id, create=True)


@router.get("/children/{child_id}", response_model=DataKey, responses=GONE)
async def get_child_key(
    child_id: uuid.UUID,
    principal: Principal = SERVICES,
    runtime: Runtime = Depends(get_runtime),
    kek: KeyEncryptionKey = Depends(_kek),
) -> DataKey:
    """The child's data key (a consumer opening the child's personal data); 410 once shredded
    or never made."""
    return await _child_key(runtime, principal, kek, child_id, create=False)


class ShreddingBody(ContractModel):
    erasure_id: uuid.UUID | None = Field(
        None, description="The erasure that asks for it (the privacy service's), if any."
    )


@router.post("/children/{child_id}/shredding", response_model=Shredded)
async def shred_child_key(
    child_id: uuid.UUID,
    principal: Principal = SHREDDERS,
    body: ShreddingBody = json_body(ShreddingBody, required=False),
    runtime: Runtime = Depends(get_runtime),
    x_purpose: AccessPurpose = None,
) -> Shredded:
    """Destroy the child's data key for good: every sealed copy of the child's personal data,
    on every topic, in every dead letter and backup of the log, becomes unreadable. Every
    service is told (``ChildKeyShredded``) and drops its cached copy. Shredding again answers
    the same."""
    async with audited_access(
        runtime.uow,
        principal,
        action="shred-key",
        resource=f"child/{child_id}/key",
        purpose=x_purpose,
    ) as access:
        command = commands.ShredChildKey(child_id, body.erasure_id)
        return Shredded.of(await handlers.shred_child_key(command, access.uow))


@router.put("/dead-letters/{service}/{day}", response_model=DataKey, responses=GONE)
async def dead_letter_key(
    service: str,
    day: date,
    principal: Principal = SERVICES,
    runtime: Runtime = Depends(get_runtime),
    kek: KeyEncryptionKey = Depends(_kek),
) -> DataKey:
    """The calling service's key for its dead letters of a UTC day, made on first use; 410
    once the dead letters' retention has passed."""
    async with audited_access(
        runtime.uow,
        principal,
        action="provide-key",
        resource=f"dead-letters/{service}/{day.isoformat()}/key",
    ) as access:
        if principal.subject != f"service:{service}":
            raise Forbidden("a service gets its own dead letters' keys only", field="service")
        command = commands.ProvideDeadLetterKey(service, day)
        key = await handlers.provide_dead_letter_key(command, access.uow, kek)
        return DataKey.of(f"dead-letters/{service}/{day.isoformat()}", key)
