"""AsyncAPI 3.0 document of one service, built from its definition and the contracts.

Why not FastStream's generator: our consumers take the raw batch (to dead-letter invalid
records and commit offsets themselves), so FastStream would document an empty payload, and one
topic carries several event types. The contracts registry knows both, so the document is built
from it: channels are topics, operations are what the service sends and each consumer group
receives, and every event type is two messages, one per CloudEvents mode:

- ``<Event>``: structured mode, the value is the envelope (component schema
  ``<Event>Envelope``: the shared ``CloudEventsEnvelope`` attributes, ``type`` fixed, and
  ``data`` a ``$ref`` to the data schema ``<Event>``); header ``content-type:
  application/cloudevents+json``.
- ``<Event>Binary``: binary mode, the value is the data alone (schema ``<Event>``); header
  ``content-type: application/json`` and the attributes as ``ce_`` headers
  (``<Event>BinaryHeaders``).

Both declare the Kafka key (the envelope's ``subject``, the value of the event's key field) in
their Kafka binding, and carry a sample event (:mod:`eps_contracts.examples`) as example.
Models nested in several payloads are one component each.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from eps_contracts import Event, Topic, dead_letter_topic
from eps_contracts.binding import (
    BINARY_ATTRIBUTES,
    BINARY_CONTENT_TYPE,
    BINARY_HEADER_PREFIX,
    OPTIONAL_ATTRIBUTES,
    STRUCTURED_CONTENT_TYPE,
    KafkaRecord,
    binary_record,
    structured_record,
)
from eps_contracts.examples import sample_envelope
from eps_contracts.schemas import data_schema, envelope_attributes_schema, subject_description

from eps_chassis.service import ServiceDefinition

Document = dict[str, Any]

KAFKA_BINDING_VERSION = "0.5.0"
SCHEMAS = "#/components/schemas/"
ENVELOPE = "CloudEventsEnvelope"
STRUCTURED_HEADERS = "CloudEventsStructuredHeaders"
BINARY_HEADERS = "CloudEventsBinaryHeaders"
DEAD_LETTER_HEADERS = "DeadLetterHeaders"
DEAD_LETTER_HEADER_NAMES = {
    "dlq-reason": "Why the record was refused, e.g. 'type: unknown event type ...'.",
    "dlq-sealed": "The key its original value is sealed under: dead-letters/<service>/<UTC day>"
    " (destroyed once the dead letters' retention has passed).",
    "dlq-original-topic": "The topic the record was read from.",
    "dlq-original-partition": "Its partition.",
    "dlq-original-offset": "Its offset.",
    "dlq-consumer-group": "The consumer group that refused it.",
    "dlq-time": "When it was refused (RFC 3339).",
}

DOCUMENT_DESCRIPTION = """

**Kafka records.** The key of every record is the envelope's `subject`: the aggregate id, the
value of the data field each message names (e.g. `data.incident_id`), so that all events of
one aggregate stay in order on one partition. Every event type is described twice, once per
CloudEvents mode of the Kafka protocol binding, and consumers accept both on every topic:

- *structured* (message `<Event>`, what the services publish): the value is the CloudEvents
  envelope as JSON, header `content-type: application/cloudevents+json`;
- *binary* (message `<Event>Binary`, the CloudEvents SDKs' default): the value is the data alone
  as JSON, header `content-type: application/json`, and the attributes as headers `ce_specversion`,
  `ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_subject`, `ce_tenant`, `ce_correlationid`,
  `ce_causationid` (optional) and `ce_actor`.

A record that breaks its contract is dead-lettered with the reason (see the `eps.dlq.*` channel)."""


def _channel_id(topic: Topic) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", topic.name)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def _plain(node: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """An attribute's schema without pydantic's title and default, not nullable."""
    node = copy.deepcopy(node)
    if "anyOf" in node:
        node = {**next(o for o in node.pop("anyOf") if o.get("type") != "null"), **node}
    node.pop("title", None)
    node.pop("default", None)
    if description is not None:
        node["description"] = description
    return node


def _binary_headers_schema(envelope: dict[str, Any]) -> dict[str, Any]:
    attributes = envelope["properties"]
    properties: dict[str, Any] = {
        "content-type": {
            "type": "string",
            "const": BINARY_CONTENT_TYPE,
            "description": "The envelope's datacontenttype: the value is the data as JSON.",
        }
    }
    for name in BINARY_ATTRIBUTES:
        attribute = attributes[name]
        properties[BINARY_HEADER_PREFIX + name] = _plain(
            attribute, f"{attribute['description']} (The envelope's {name}.)"
        )
    return {
        "type": "object",
        "title": BINARY_HEADERS,
        "description": "CloudEvents binary mode: the envelope's attributes as Kafka headers,"
        " each a UTF-8 string.",
        "properties": properties,
        "required": [
            "content-type",
            *(BINARY_HEADER_PREFIX + n for n in BINARY_ATTRIBUTES if n not in OPTIONAL_ATTRIBUTES),
        ],
    }


def _structured_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": STRUCTURED_HEADERS,
        "description": "CloudEvents structured mode: the value is the envelope as JSON.",
        "properties": {"content-type": {"type": "string", "const": STRUCTURED_CONTENT_TYPE}},
        "required": ["content-type"],
    }


def _dead_letter_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": DEAD_LETTER_HEADERS,
        "description": "Why and where from; the original record's own headers follow unchanged.",
        "properties": {
            name: {"type": "string", "description": description}
            for name, description in DEAD_LETTER_HEADER_NAMES.items()
        },
        "required": list(DEAD_LETTER_HEADER_NAMES),
    }


class _Components:
    """The document's components: each schema under one name, defined once."""

    def __init__(self) -> None:
        envelope = envelope_attributes_schema()
        self.schemas: Document = {
            ENVELOPE: envelope,
            STRUCTURED_HEADERS: _structured_headers_schema(),
            BINARY_HEADERS: _binary_headers_schema(envelope),
        }
        self.messages: Document = {}

    def put_schema(self, name: str, schema: dict[str, Any]) -> None:
        if self.schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are both named {name}")

    def event_messages(self, event_cls: type[Event]) -> tuple[str, str]:
        """The ids of the event type's two messages (structured, binary), added once."""
        name = event_cls.__name__
        binary = f"{name}Binary"
        if name in self.messages:
            return name, binary
        data = data_schema(event_cls, ref_template=SCHEMAS + "{model}")
        for nested, schema in data.pop("$defs", {}).items():
            self.put_schema(nested, schema)
        self.put_schema(name, data)
        key = _plain(
            data["properties"][event_cls.key_field],
            f"The envelope's subject: the value of data.{event_cls.key_field}.",
        )
        self.put_schema(
            f"{name}Envelope",
            {
                "title": f"{name}Envelope",
                "description": f"The envelope of {event_cls.event_type}, data included.",
                "allOf": [
                    _ref(ENVELOPE),
                    {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string", "const": event_cls.event_type},
                            "subject": {**key, "description": subject_description(event_cls)},
                            "data": _ref(name),
                        },
                        "required": ["data"],
                    },
                ],
            },
        )
        self.put_schema(
            f"{name}BinaryHeaders",
            {
                "title": f"{name}BinaryHeaders",
                "allOf": [
                    _ref(BINARY_HEADERS),
                    {
                        "type": "object",
                        "properties": {
                            "ce_type": {"type": "string", "const": event_cls.event_type},
                            "ce_subject": key,
                        },
                    },
                ],
            },
        )
        doc = (event_cls.__doc__ or "").strip()
        common = {
            "name": event_cls.event_type,
            "summary": doc.splitlines()[0],
            "bindings": {
                "kafka": {
                    "key": {
                        **key,
                        "description": f"{subject_description(event_cls)} (The envelope's"
                        f" subject, or the ce_subject header in binary mode.)",
                    },
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        envelope = sample_envelope(event_cls)
        self.messages[name] = {
            **common,
            "title": f"{name} (structured mode)",
            "description": f"{doc}\n\nCloudEvents structured mode: the value is the envelope"
            f" as JSON. The same event in binary mode: message {binary}.",
            "contentType": STRUCTURED_CONTENT_TYPE,
            "headers": _ref(STRUCTURED_HEADERS),
            "payload": _ref(f"{name}Envelope"),
            "correlationId": {"location": "$message.payload#/correlationid"},
            "examples": [_example(structured_record(envelope))],
        }
        self.messages[binary] = {
            **common,
            "title": f"{name} (binary mode)",
            "description": f"{doc}\n\nCloudEvents binary mode: the value is the data alone as"
            f" JSON, the attributes are ce_ headers. The same event in structured mode:"
            f" message {name}.",
            "contentType": BINARY_CONTENT_TYPE,
            "headers": _ref(f"{name}BinaryHeaders"),
            "payload": _ref(name),
            "correlationId": {"location": "$message.header#/ce_correlationid"},
            "examples": [_example(binary_record(envelope))],
        }
        return name, binary

    def dead_letter_message(self) -> str:
        self.put_schema(DEAD_LETTER_HEADERS, _dead_letter_headers_schema())
        self.messages["DeadLetter"] = {
            "name": "dead-letter",
            "title": "A record this service refused",
            "summary": "The original record, its value sealed, with why it was refused.",
            # bytes of JSON: not an event of either CloudEvents mode, so not sampled as one
            "contentType": "application/octet-stream",
            "headers": _ref(DEAD_LETTER_HEADERS),
            "payload": {
                "description": "The original record value (any bytes, perhaps a child's personal"
                " data), sealed: AES-256-GCM under the key the header dlq-sealed names, bound to"
                " the original topic, partition and offset (docs/data-protection.md).",
                "type": "object",
                "required": ["key", "alg", "nonce", "ciphertext"],
                "properties": {
                    "key": {"type": "string", "description": "dead-letters/<service>/<UTC day>"},
                    "alg": {"const": "A256GCM", "type": "string"},
                    "nonce": {"type": "string", "description": "12 bytes, base64."},
                    "ciphertext": {"type": "string", "description": "Ciphertext and tag, base64."},
                },
            },
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The original record's key."},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        return "DeadLetter"


def _example(record: KafkaRecord) -> dict[str, Any]:
    return {
        "name": "sample",
        "summary": f"Kafka key: {record.key}",
        "headers": record.headers,
        "payload": record.value,
    }


def build_asyncapi(definition: ServiceDefinition) -> Document:
    channels: Document = {}
    operations: Document = {}
    components = _Components()

    def add_channel(topic: Topic, event_types: list[type[Event]]) -> list[dict[str, str]]:
        """The channel of a topic with these event types' messages; refs to those messages."""
        cid = _channel_id(topic)
        channel = channels.setdefault(
            cid,
            {
                "address": topic.name,
                "description": topic.description,
                "messages": {},
                "bindings": {
                    "kafka": {
                        "topic": topic.name,
                        "partitions": topic.partitions,
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            },
        )
        if topic.priority:
            channel["x-eps-priority"] = True  # relayed and handled ahead of routine traffic
        refs = []
        for event_cls in sorted(event_types, key=lambda e: e.event_type):
            for message in components.event_messages(event_cls):
                channel["messages"][message] = {"$ref": f"#/components/messages/{message}"}
                refs.append({"$ref": f"#/channels/{cid}/messages/{message}"})
        return refs

    for topic in definition.publishes:
        produced = [e for e in Event.registry.values() if e.topic == topic]
        operations[f"publish-{_channel_id(topic)}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{_channel_id(topic)}"},
            "summary": f"{definition.name} publishes through its transactional outbox"
            " (structured mode).",
            "messages": add_channel(topic, produced),
        }
    for consumer in definition.consumers:
        for topic in consumer.topics:
            handled = [e for e in consumer.handled_event_types if e.topic == topic]
            cid = _channel_id(topic)
            operations[f"consume-{consumer.name}-{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": consumer.description,
                "description": "Either CloudEvents mode is accepted.",
                "messages": add_channel(topic, handled),
                "bindings": {
                    "kafka": {
                        "groupId": {
                            "type": "string",
                            "enum": [f"{definition.name}.{consumer.name}"],
                        },
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            }
    dlq = dead_letter_topic(definition.name)
    dlq_id = _channel_id(dlq)
    dead_letter = components.dead_letter_message()
    channels[dlq_id] = {
        "address": dlq.name,
        "description": dlq.description,
        "messages": {dead_letter: {"$ref": f"#/components/messages/{dead_letter}"}},
        "bindings": {
            "kafka": {
                "topic": dlq.name,
                "partitions": dlq.partitions,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    operations[f"dead-letter-{dlq_id}"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{dlq_id}"},
        "summary": "Records this service could not accept, byte for byte, with the reason.",
        "messages": [{"$ref": f"#/channels/{dlq_id}/messages/{dead_letter}"}],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"EPS {definition.name} service",
            "version": "1.0.0",
            "description": definition.description + DOCUMENT_DESCRIPTION,
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "make run",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": components.messages, "schemas": components.schemas},
    }
