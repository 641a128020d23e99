"""AsyncAPI 3.0 document of one service, built from its definition and the contracts.

Why not FastStream's generator: our consumers take the raw batch (to dead-letter invalid
records and commit offsets themselves), so FastStream would document an empty payload, and one
topic carries several event types. The contracts registry knows both, so the document is built
from it: channels are topics, messages are event types, payloads are the committed JSON Schemas.
"""

from __future__ import annotations

import re
from typing import Any

from eps_contracts import CONTENT_TYPE, Event, Topic, dead_letter_topic
from eps_contracts.schemas import event_schema

from eps_chassis.service import ServiceDefinition

Document = dict[str, Any]


def _channel_id(topic: Topic) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", topic.name)


def build_asyncapi(definition: ServiceDefinition) -> Document:
    channels: Document = {}
    operations: Document = {}
    messages: Document = {}
    schemas: Document = {}

    def add_message(event_cls: type[Event]) -> dict[str, str]:
        name = event_cls.__name__
        schema = event_schema(event_cls, ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
        messages[name] = {
            "name": event_cls.event_type,
            "title": name,
            "summary": (event_cls.__doc__ or "").strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"The {event_cls.key_field}."},
                }
            },
        }
        return {"$ref": f"#/components/messages/{name}"}

    def add_channel(topic: Topic, event_types: list[type[Event]]) -> str:
        cid = _channel_id(topic)
        channel = channels.setdefault(
            cid, {"address": topic.name, "description": topic.description, "messages": {}}
        )
        if topic.priority:
            channel["x-eps-priority"] = True  # relayed and handled ahead of routine traffic
        for event_cls in event_types:
            channel["messages"][event_cls.__name__] = add_message(event_cls)
        return cid

    def refs(cid: str, event_types: list[type[Event]]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{cid}/messages/{e.__name__}"} for e in event_types]

    for topic in definition.publishes:
        produced = [e for e in Event.registry.values() if e.topic == topic]
        produced.sort(key=lambda e: e.event_type)
        cid = add_channel(topic, produced)
        operations[f"publish-{cid}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"{definition.name} publishes through its transactional outbox.",
            "messages": refs(cid, produced),
        }
    for consumer in definition.consumers:
        for topic in consumer.topics:
            handled = [e for e in consumer.handled_event_types if e.topic == topic]
            handled.sort(key=lambda e: e.event_type)
            cid = add_channel(topic, handled)
            operations[f"consume-{consumer.name}-{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": consumer.description,
                "messages": refs(cid, handled),
                "bindings": {
                    "kafka": {
                        "groupId": {
                            "type": "string",
                            "enum": [f"{definition.name}.{consumer.name}"],
                        }
                    }
                },
            }
    dlq = dead_letter_topic(definition.name)
    channels[_channel_id(dlq)] = {
        "address": dlq.name,
        "description": dlq.description
        + " Headers: dlq-reason, dlq-original-topic, dlq-original-partition,"
        " dlq-original-offset, dlq-consumer-group, dlq-time, plus the original headers.",
    }
    operations[f"dead-letter-{_channel_id(dlq)}"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{_channel_id(dlq)}"},
        "summary": "Records this service could not accept, byte for byte.",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"EPS {definition.name} service",
            "version": "1.0.0",
            "description": definition.description,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "make run",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
