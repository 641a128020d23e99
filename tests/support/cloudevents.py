"""An envelope as a producer in another language writes it to Kafka, in either CloudEvents mode
(the Kafka protocol binding): the key, the headers and the value, as bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord
from eps_contracts import CONTENT_TYPE, Envelope


@dataclass(frozen=True)
class KafkaMessage:
    key: bytes
    headers: list[tuple[str, bytes]]
    value: bytes


def structured(envelope: Envelope[Any]) -> KafkaMessage:
    """The whole envelope as the value; ``content-type: application/cloudevents+json``."""
    return KafkaMessage(
        envelope.subject.encode(),
        [("content-type", CONTENT_TYPE.encode())],
        envelope.model_dump_json().encode(),
    )


def binary(envelope: Envelope[Any], **header_overrides: str | None) -> KafkaMessage:
    """The data as the value, each attribute a ``ce_`` header (as the CloudEvents SDKs write
    them by default) and ``content-type`` the data's; ``ce_x=None`` leaves header ``ce_x`` out,
    another value replaces it."""
    attributes = json.loads(envelope.model_dump_json(exclude={"data"}))
    headers: dict[str, str | None] = {
        "content-type" if name == "datacontenttype" else f"ce_{name}": value
        for name, value in attributes.items()
        if value is not None
    }
    headers.update(header_overrides)
    return KafkaMessage(
        envelope.subject.encode(),
        [(name, value.encode()) for name, value in headers.items() if value is not None],
        envelope.data.model_dump_json().encode(),
    )


def consumer_record(message: KafkaMessage, topic: str) -> ConsumerRecord:
    """``message`` as a consumer polls it from ``topic``."""
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=message.key,
        value=message.value,
        checksum=None,
        serialized_key_size=len(message.key),
        serialized_value_size=len(message.value),
        headers=message.headers,
    )
