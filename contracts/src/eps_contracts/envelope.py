"""The CloudEvents 1.0 envelope every event travels in.

The services publish in CloudEvents *structured* mode: the Kafka record value is the whole
envelope as JSON (``content-type: application/cloudevents+json``). Every consumer also accepts
*binary* mode (the value is ``data`` alone, the attributes travel as ``ce_`` headers), the
default of the CloudEvents SDKs: see :mod:`eps_contracts.binding`. In both the Kafka key is
``subject``, the aggregate id (the value of the payload field the event type names as its
``key_field``).

Extension attributes (lower-case, as CloudEvents requires): ``tenant`` (the local authority),
``correlationid`` (the whole conversation), ``causationid`` (the event or request that caused
this one) and ``actor`` (who did it).
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from eps_contracts.base import Event

CONTENT_TYPE = "application/cloudevents+json"

TenantId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
        description="The local authority that owns the record, e.g. 'leicester-city'.",
    ),
]
Actor = Annotated[
    str,
    Field(
        pattern=r"^(user|service|upstream):[^\s]{1,200}$",
        description="Who did it: 'user:<subject>', 'service:<name>' or 'upstream:<system>'.",
    ),
]

DataT = TypeVar("DataT", bound=Event)


class Envelope(BaseModel, Generic[DataT]):
    """CloudEvents 1.0 envelope carrying one event payload in ``data``."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents specification version.")
    id: uuid.UUID = Field(description="Unique event id; consumers deduplicate on it.")
    source: str = Field(
        min_length=1, description="URI reference of the producer, e.g. '/eps/referrals'."
    )
    type: str = Field(
        min_length=1, description="Event type, e.g. 'eps.referrals.referral-received.v1'."
    )
    time: AwareDatetime = Field(description="When the fact happened (RFC 3339, with offset).")
    subject: str = Field(
        min_length=1,
        description="The aggregate id (the value of the data field the event type names as its"
        " key); also the Kafka key, which keeps one aggregate's events in order.",
    )
    datacontenttype: Literal["application/json"] = Field(
        "application/json", description="Media type of data."
    )
    tenant: TenantId
    correlationid: uuid.UUID = Field(description="Id shared by every event of one conversation.")
    causationid: uuid.UUID | None = Field(
        None, description="Id of the event or request that caused this event."
    )
    actor: Actor
    data: DataT


@functools.cache
def _envelope_of(event_cls: type[BaseModel]) -> Any:
    """``Envelope[event_cls]``, looked up once: pydantic's own lookup costs about 1 ms a call."""
    return Envelope[event_cls]  # type: ignore[valid-type]


def envelope_for(
    data: DataT,
    *,
    source: str,
    tenant: str,
    actor: str,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> Envelope[DataT]:
    """Wrap a payload in a new envelope; no correlation given starts a new conversation."""
    new_id = event_id or uuid.uuid4()
    envelope: Envelope[DataT] = _envelope_of(type(data))(
        id=new_id,
        source=source,
        type=data.event_type,
        time=time or datetime.now(UTC),
        subject=data.aggregate_id(),
        tenant=tenant,
        correlationid=correlation_id or new_id,
        causationid=causation_id,
        actor=actor,
        data=data,
    )
    return envelope


class RawEnvelope(BaseModel):
    """The envelope with ``data`` left undecoded: used to route by ``type`` before validating."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    specversion: Literal["1.0"]
    id: uuid.UUID
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    subject: str = Field(min_length=1)
    tenant: TenantId
    correlationid: uuid.UUID
    causationid: uuid.UUID | None = None
    actor: Actor
    data: dict[str, Any]
