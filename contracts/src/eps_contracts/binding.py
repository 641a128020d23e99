"""How an envelope travels as a Kafka record: the CloudEvents Kafka protocol binding, both modes.

Whatever the mode, the Kafka key is the envelope's ``subject``: the aggregate id, the value of
the payload field each event type names as its ``key_field`` (a referral's id, an incident's
id, a school's URN), so that all events of one aggregate stay in order on one partition.

- **Structured mode** (what the services publish): the value is the whole envelope as JSON and
  the header ``content-type`` is ``application/cloudevents+json``.
- **Binary mode** (what the CloudEvents SDKs send by default): the value is ``data`` alone as
  JSON, the header ``content-type`` is ``application/json`` (the envelope's
  ``datacontenttype``), and every other attribute travels in a header of its own, named
  ``ce_<attribute>`` (``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``, ``ce_time``,
  ``ce_subject``, and the extensions ``ce_tenant``, ``ce_correlationid``, ``ce_causationid``,
  ``ce_actor``), its value the attribute as a UTF-8 string.

Every consumer accepts both modes on every topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eps_contracts.envelope import CONTENT_TYPE, Envelope

STRUCTURED_CONTENT_TYPE = CONTENT_TYPE
BINARY_CONTENT_TYPE = "application/json"
BINARY_HEADER_PREFIX = "ce_"
# Envelope attributes that travel as ce_ headers in binary mode (datacontenttype travels as
# content-type and data as the value); causationid is the only optional one.
BINARY_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "tenant",
    "correlationid",
    "causationid",
    "actor",
)
OPTIONAL_ATTRIBUTES = frozenset({"causationid"})


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """A record as it is published: key, headers (as text) and the value's JSON."""

    key: str
    headers: dict[str, str]
    value: Any


def structured_record(envelope: Envelope[Any]) -> KafkaRecord:
    return KafkaRecord(
        key=envelope.subject,
        headers={"content-type": STRUCTURED_CONTENT_TYPE},
        value=envelope.model_dump(mode="json"),
    )


def binary_record(envelope: Envelope[Any]) -> KafkaRecord:
    attributes = envelope.model_dump(mode="json")
    headers = {"content-type": attributes["datacontenttype"]}
    for name in BINARY_ATTRIBUTES:
        if attributes.get(name) is not None:
            headers[BINARY_HEADER_PREFIX + name] = str(attributes[name])
    return KafkaRecord(key=envelope.subject, headers=headers, value=attributes["data"])
