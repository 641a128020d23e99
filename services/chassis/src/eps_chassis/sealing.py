"""Sealing and opening a child's personal fields (``eps_contracts.sealed``) with the child's data
key: AES-256-GCM (the ``cryptography`` package), a random 96-bit nonce per value, and associated
data binding the value to its local authority, event type, field and child.

Producers put an ``Unsealed`` in a sealed field; the unit of work seals every one when it writes
the event to the outbox (:meth:`Sealer.seal_event`), so the domain stays free of I/O and nothing
unsealed reaches the outbox. Consumers open a field through ``uow.sealer``
(:meth:`Sealer.open_field`): the content, or None once the child's key has been shredded, so
that the event is still applied for everything else (counts, billing, timeliness); a value that
fails to open under a live key (altered, or moved from another event, field or child) rejects
the event, which is dead-lettered.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eps_contracts import Envelope, Event
from eps_contracts.base import ContractModel
from eps_contracts.sealed import (
    ALGORITHM,
    SealedValue,
    Unsealed,
    associated_data,
    content_of,
    sealed_fields,
)

from eps_chassis.data_keys import DataKeys, KeyShredded, NoDataKeys
from eps_chassis.errors import EventRejected

C = TypeVar("C", bound=ContractModel)
NONCE_BYTES = 12


class SealedValueInvalid(EventRejected):
    """A sealed value does not open under its child's live key: altered, or moved from another
    event type, field, child or local authority. The event is dead-lettered."""


def seal_bytes(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext with its tag) of ``plaintext`` under ``key``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_bytes(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """The plaintext; raises ``cryptography.exceptions.InvalidTag`` when it does not open."""
    return AESGCM(key).decrypt(nonce, ciphertext, aad)


def seal_value(
    key: bytes,
    content: ContractModel,
    *,
    tenant: str,
    event_type: str,
    field: str,
    child_id: uuid.UUID,
) -> SealedValue:
    """``content`` sealed under ``key`` for one child's field of one event type."""
    aad = associated_data(tenant=tenant, event_type=event_type, field=field, child_id=child_id)
    nonce, ciphertext = seal_bytes(key, content.model_dump_json().encode(), aad)
    return SealedValue(
        key_id=child_id,
        alg=ALGORITHM,
        nonce=base64.b64encode(nonce).decode(),
        ciphertext=base64.b64encode(ciphertext).decode(),
    )


class Sealer:
    """Seals and opens personal fields with the data keys of ``keys``."""

    def __init__(self, keys: DataKeys) -> None:
        self.keys = keys

    async def seal(
        self,
        content: ContractModel,
        *,
        tenant: str,
        event_type: str,
        field: str,
        child_id: uuid.UUID,
    ) -> SealedValue:
        key = await self.keys.create_or_get(tenant, child_id)
        return seal_value(
            key, content, tenant=tenant, event_type=event_type, field=field, child_id=child_id
        )

    async def open(
        self,
        sealed: SealedValue,
        content: type[C],
        *,
        tenant: str,
        event_type: str,
        field: str,
    ) -> C | None:
        """The content of ``sealed``, or None when its child's key has been shredded."""
        try:
            key = await self.keys.get(tenant, sealed.key_id)
        except KeyShredded:
            return None
        aad = associated_data(
            tenant=tenant, event_type=event_type, field=field, child_id=sealed.key_id
        )
        try:
            plaintext = open_bytes(
                key, base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), aad
            )
        except (InvalidTag, ValueError) as exc:
            raise SealedValueInvalid(
                f"{field}: the sealed value does not open for child {sealed.key_id} in"
                f" {event_type} (altered, or moved from another event, field or child)"
            ) from exc
        return content.model_validate(json.loads(plaintext), strict=False)

    async def open_field(self, envelope: Envelope[Any], field: str) -> Any:
        """The content of the sealed ``field`` of an event, or None once its child's key has
        been shredded (or when the field is empty)."""
        data: Event = envelope.data
        value = getattr(data, field)
        if value is None:
            return None
        if isinstance(value, Unsealed):  # an event that never left this process
            return value.content
        return await self.open(
            value,
            content_of(type(data), field),
            tenant=envelope.tenant,
            event_type=data.event_type,
            field=field,
        )

    async def seal_event(self, event: Event, tenant: str) -> Event:
        """``event`` with every ``Unsealed`` field sealed for its child (the same event when it
        has none). A child whose key was shredded is erased: raises ``KeyShredded``."""
        update: dict[str, SealedValue] = {}
        for name in sealed_fields(type(event)):
            value = getattr(event, name)
            if isinstance(value, Unsealed):
                update[name] = await self.seal(
                    value.content,
                    tenant=tenant,
                    event_type=event.event_type,
                    field=name,
                    child_id=value.child_id,
                )
        return event.model_copy(update=update) if update else event


NO_SEALER = Sealer(NoDataKeys())
"""A service with no keys service configured: sealing or opening fails, saying so."""
