"""Personal data on the wire: how a contract marks a personal field, and the sealed value that
carries it encrypted for one child.

A child's personal data travels only where a consumer needs it, and then **sealed**: encrypted
with AES-256-GCM under that child's data key (held by the keys service, ``eps_keys``). Erasing
the child destroys the key (crypto-shredding), so every copy of the value, on every topic, in
every dead letter and in every backup of the log, becomes unreadable, while the rest of the event
(identifiers, dates of the process, counts) still replays.

A contract declares such a field with :func:`sealed_field`::

    child: Sealed = sealed_field(
        ChildForConsent,
        reason="consent: who decides depends on the child's age and looked-after status",
        description="The child's date of birth and looked-after status, sealed for the child.",
    )

In Python the producer puts an :class:`Unsealed` there (the content and the child it is about);
the chassis seals it when it writes the event to the outbox (``eps_chassis.sealing``), and an
event holding an :class:`Unsealed` cannot be serialised by anything else (it fails closed). On
the wire, and in the JSON Schemas and AsyncAPI documents, the field is a :class:`SealedValue`;
the schema of what it holds once opened is ``x-sealed-content`` and why consumers need it is
``x-personal-data``. A plain personal field (only on the upstream topics, which are purged once
processed) is marked with :func:`personal_field`.

The associated data (:func:`associated_data`) binds a sealed value to its local authority, its
event type, its field and its child: a value copied into another event, field or child's record
fails to open.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import Field, InstanceOf
from pydantic.json_schema import SkipJsonSchema

from eps_contracts.base import ContractModel

ALGORITHM: Final = "A256GCM"
"""AES-GCM with a 256-bit key (JOSE's name), a 96-bit random nonce and a 128-bit tag."""

PERSONAL_DATA = "x-personal-data"
"""JSON Schema keyword beside each personal field: why its consumers need it."""
SEALED_CONTENT = "x-sealed-content"
"""JSON Schema keyword beside each sealed field: the schema of its content once opened."""

UPSTREAM_PLAIN = "upstream, in plain: purged from the topic once processed; "
"""How the reason of a plain personal field on an upstream topic begins."""

C = TypeVar("C", bound=ContractModel)


class SealedValue(ContractModel):
    """A personal value encrypted for one child: AES-256-GCM under the child's data key, over
    the UTF-8 JSON of the content, with associated data binding it to its local authority,
    event type, field and child (``eps_contracts.sealed.associated_data``). It opens only
    with the key from the keys service, until the child is erased."""

    key_id: uuid.UUID = Field(description="The child whose data key sealed it (the child id).")
    alg: Literal["A256GCM"] = Field(description="AES-GCM, 256-bit key, 96-bit nonce.")
    nonce: str = Field(
        pattern=r"^[A-Za-z0-9+/]{16}$", description="The 12-byte nonce, base64 (standard)."
    )
    ciphertext: str = Field(
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        max_length=200_000,
        description="Ciphertext followed by the 16-byte tag, base64 (standard).",
    )


class Unsealed(Generic[C]):
    """In Python only: the content of a sealed field before the chassis seals it (on writing
    the event to the outbox). Never serialised: an event holding one fails to serialise."""

    __slots__ = ("child_id", "content")

    def __init__(self, content: C, child_id: uuid.UUID) -> None:
        self.content = content
        self.child_id = child_id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Unsealed)
            and other.content == self.content
            and other.child_id == self.child_id
        )

    def __hash__(self) -> int:
        return hash((self.content, self.child_id))

    def __repr__(self) -> str:
        return f"Unsealed({type(self.content).__name__}, child_id={self.child_id})"


Sealed = Annotated[SealedValue | SkipJsonSchema[InstanceOf[Unsealed[Any]]], "sealed"]
"""The type of a sealed field: a :class:`SealedValue` on the wire (and in every schema), an
:class:`Unsealed` in a producer's hands until the chassis seals it."""


def associated_data(*, tenant: str, event_type: str, field: str, child_id: uuid.UUID) -> bytes:
    """What a sealed value is bound to: it opens only in this event type's field, for this
    child of this local authority."""
    return f"eps-sealed/1|{tenant}|{event_type}|{field}|{child_id}".encode()


def sealed_field(content: type[ContractModel], *, reason: str, description: str) -> Any:
    """A sealed personal field: ``reason`` says why its consumers need it (``x-personal-data``),
    ``content`` is what it holds once opened (``x-sealed-content``)."""

    return Field(description=description, json_schema_extra=_SealedMark(content, reason))


class _SealedMark:
    """A sealed field's marks in its JSON Schema; it remembers the content's model."""

    def __init__(self, content: type[ContractModel], reason: str) -> None:
        self.content = content
        self.reason = reason

    def __call__(self, schema: dict[str, Any]) -> None:
        schema[PERSONAL_DATA] = self.reason
        schema[SEALED_CONTENT] = self.content.model_json_schema(ref_template="#/$defs/{model}")


def personal_field(default: Any = ..., *, reason: str, **field: Any) -> Any:
    """A personal field carried in plain (upstream topics only, purged once processed):
    ``reason`` says why it is there (``x-personal-data``)."""
    return Field(default, json_schema_extra={PERSONAL_DATA: reason}, **field)


def is_sealed_field(model: type[ContractModel], name: str) -> bool:
    """Whether ``name`` is a sealed field of ``model``."""
    info = model.model_fields.get(name)
    return info is not None and "sealed" in info.metadata


def sealed_fields(model: type[ContractModel]) -> tuple[str, ...]:
    """The sealed fields of a contract model, in declaration order."""
    return tuple(name for name in model.model_fields if is_sealed_field(model, name))


def content_of(model: type[ContractModel], name: str) -> type[ContractModel]:
    """The model a sealed field holds once opened."""
    mark = model.model_fields[name].json_schema_extra
    if not isinstance(mark, _SealedMark):
        raise KeyError(f"{model.__name__}.{name} is not a sealed field")
    return mark.content


def as_held_by_producer(model: ContractModel) -> str:
    """The JSON of ``model`` with each ``Unsealed`` field written as its content: for the
    producer's own tables (its history of what it published), never for the wire."""
    unsealed = {n for n, v in model if isinstance(v, Unsealed)}
    data = model.model_dump(mode="json", exclude=unsealed)
    for name in unsealed:
        data[name] = getattr(model, name).content.model_dump(mode="json")
    return json.dumps(data, separators=(",", ":"))
