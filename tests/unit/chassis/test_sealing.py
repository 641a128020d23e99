"""Sealed personal fields: a value sealed for a child opens for that child in that event type's
field and nowhere else; once the child's key is shredded it opens to None (the event still
applies); an event holding an unsealed value cannot be serialised; the cache forgets a shredded
key."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import ClassVar

import pytest
from eps_chassis.data_keys import CachedDataKeys, InMemoryDataKeys, KeyShredded
from eps_chassis.sealing import SealedValueInvalid, Sealer
from eps_contracts import Envelope, envelope_for, topics
from eps_contracts.base import ContractModel, Event
from eps_contracts.sealed import (
    PERSONAL_DATA,
    SEALED_CONTENT,
    Sealed,
    SealedValue,
    Unsealed,
    sealed_field,
)
from pydantic_core import PydanticSerializationError

TENANT = "leicester-city"


class ChildFacts(ContractModel):
    date_of_birth: date
    looked_after: bool


class _Sealing(Event):
    event_type: ClassVar[str] = "eps.test.sealing-tested.v1"
    topic: ClassVar[topics.Topic] = topics.REFERRALS
    key_field: ClassVar[str] = "subject_id"

    subject_id: uuid.UUID
    child: Sealed = sealed_field(ChildFacts, reason="the test needs it", description="Sealed.")


class _Other(_Sealing):
    event_type: ClassVar[str] = "eps.test.other-sealing-tested.v1"


# test event types, kept out of the platform's registry (its schemas, samples and documents)
Event.registry.pop(_Sealing.event_type)
Event.registry.pop(_Other.event_type)

FACTS = ChildFacts(date_of_birth=date(2015, 3, 1), looked_after=True)


def _envelope(event: Event) -> Envelope[Event]:
    return envelope_for(
        event,
        source="/eps/test",
        tenant=TENANT,
        actor="service:test",
        correlation_id=uuid.uuid4(),
        time=datetime(2026, 1, 5, tzinfo=UTC),
    )


async def _sealed(sealer: Sealer, child: uuid.UUID) -> _Sealing:
    event = _Sealing(subject_id=uuid.uuid4(), child=Unsealed(FACTS, child))
    sealed = await sealer.seal_event(event, TENANT)
    assert isinstance(sealed, _Sealing)
    return sealed


async def test_a_sealed_value_opens_for_its_child_and_not_once_shredded() -> None:
    keys = InMemoryDataKeys()
    sealer, child = Sealer(keys), uuid.uuid4()
    event = await _sealed(sealer, child)
    assert isinstance(event.child, SealedValue) and event.child.key_id == child
    wire = event.model_dump_json().encode()
    assert b"2015-03-01" not in wire
    received = Envelope[_Sealing].model_validate_json(_envelope(event).model_dump_json())
    assert await sealer.open_field(received, "child") == FACTS
    keys.shred(TENANT, child)
    assert await sealer.open_field(received, "child") is None


async def test_a_sealed_value_moved_to_another_event_or_child_does_not_open() -> None:
    sealer = Sealer(InMemoryDataKeys())
    child, other_child = uuid.uuid4(), uuid.uuid4()
    event = await _sealed(sealer, child)
    assert isinstance(event.child, SealedValue)
    await _sealed(sealer, other_child)  # the other child has a key too
    moved = _Other(subject_id=event.subject_id, child=event.child)
    with pytest.raises(SealedValueInvalid, match="child: the sealed value does not open"):
        await sealer.open_field(_envelope(moved), "child")
    relabelled = event.child.model_copy(update={"key_id": other_child})
    with pytest.raises(SealedValueInvalid):
        await sealer.open_field(_envelope(event.model_copy(update={"child": relabelled})), "child")


def test_an_unsealed_value_cannot_be_serialised_and_the_schema_says_why() -> None:
    event = _Sealing(subject_id=uuid.uuid4(), child=Unsealed(FACTS, uuid.uuid4()))
    with pytest.raises(PydanticSerializationError):
        event.model_dump_json()
    schema = _Sealing.model_json_schema()["properties"]["child"]
    assert schema["$ref"].endswith("/SealedValue")
    assert schema[PERSONAL_DATA] == "the test needs it"
    assert set(schema[SEALED_CONTENT]["properties"]) == {"date_of_birth", "looked_after"}


async def test_nothing_new_is_sealed_for_a_shredded_child() -> None:
    keys = InMemoryDataKeys()
    child = uuid.uuid4()
    await _sealed(Sealer(keys), child)
    keys.shred(TENANT, child)
    with pytest.raises(KeyShredded):
        await _sealed(Sealer(keys), child)


async def test_the_cache_asks_once_and_forgets_a_shredded_key() -> None:
    owner = InMemoryDataKeys()
    now = [0.0]
    cache = CachedDataKeys(owner, ttl_s=60, monotonic=lambda: now[0])
    child = uuid.uuid4()
    key = await cache.create_or_get(TENANT, child)
    assert await cache.get(TENANT, child) == key and owner.requests == 1
    now[0] = 61.0
    assert await cache.get(TENANT, child) == key and owner.requests == 2
    owner.shred(TENANT, child)
    cache.forget(TENANT, child)
    with pytest.raises(KeyShredded):
        await cache.get(TENANT, child)
