"""The parts of ``docs/integrating.md`` written from the contracts, so that the guide cannot drift.

The guide's prose is written by hand; its tables of envelope attributes and Kafka keys and its
worked examples (every event type of every ``eps.upstream.*`` topic, in both CloudEvents modes,
with the console-producer command that publishes it) are written by these functions, called
from ``[[[cog ... ]]]`` blocks in the guide (cogapp). ``make contracts`` rewrites them; the
tests fail when the guide is stale (``tests/unit/test_integrating_guide.py``), check every
example against the published documents, and run the guide's commands against the services
(``tests/integration/test_integrating_guide.py``).

The examples are the contracts' own samples (``eps_contracts.examples``): the events the
AsyncAPI documents carry as message examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eps_contracts import Envelope, Event, all_topics, dead_letter_topic
from eps_contracts.binding import (
    BINARY_HEADER_PREFIX,
    KafkaRecord,
    binary_record,
    structured_record,
)
from eps_contracts.examples import sample_envelope
from eps_contracts.topics import Topic

REPO = Path(__file__).resolve().parents[1]
JAVA_EXAMPLE = REPO / "docs" / "examples" / "PublishCloudEvent.java"
UPSTREAM_PREFIX = "eps.upstream."
BOOTSTRAP = "127.0.0.1:19092"  # the local broker of `make run` (and Docker Compose's, published)
PRODUCER = "kafka-console-producer.sh"
# Kafka's console producer reads one record a line: headers, key and value, here separated by
# "|" (visible, and safe in a here-document), each header "name:value", headers comma-separated.
DELIMITER = "|"
PRODUCER_OPTIONS = (
    "--producer-property acks=all --property parse.key=true --property parse.headers=true"
    f" --property 'headers.delimiter={DELIMITER}' --property 'key.separator={DELIMITER}'"
)
MODES = ("structured", "binary")
# Who takes each upstream topic in, and where an upstream system reads what became of a request.
CONSUMERS = {
    "eps.upstream.referral-requests.v1": "referrals",
    "eps.upstream.incident-reports.v1": "incidents",
    "eps.upstream.statutory-requests.v1": "statutory",
}


def upstream_topics() -> list[Topic]:
    return [t for t in all_topics() if t.name.startswith(UPSTREAM_PREFIX)]


def event_types_on(topic: Topic) -> list[type[Event]]:
    """The topic's event types, in the order a system would send them about one request."""
    found = [cls for cls in Event.registry.values() if cls.topic == topic]
    return sorted(found, key=lambda cls: (_sent_after(cls), cls.event_type))


def _sent_after(event_cls: type[Event]) -> int:
    # news about a request (an appeal) follows the request itself, and its withdrawal ends it
    if event_cls.event_type.endswith("-requested.v1"):
        return 0
    return 2 if event_cls.event_type.endswith("-withdrawn.v1") else 1


def record_of(envelope: Envelope[Any], mode: str) -> KafkaRecord:
    return structured_record(envelope) if mode == "structured" else binary_record(envelope)


def producer_line(record: KafkaRecord) -> str:
    """The record as one line of the console producer's input: headers|key|value."""
    headers = ",".join(f"{name}:{value}" for name, value in record.headers.items())
    for part in (*record.headers.values(), record.key):
        if any(c in part for c in (DELIMITER, ",", "\n")):
            raise ValueError(f"{part!r} cannot travel in a console-producer line")
    value = json.dumps(record.value, separators=(",", ":"), ensure_ascii=False)
    return DELIMITER.join((headers, record.key, value))


def producer_command(topic: str, lines: list[str]) -> str:
    """The shell command publishing ``lines`` to ``topic``, input in a quoted here-document."""
    return "\n".join(
        [
            f"{PRODUCER} --bootstrap-server {BOOTSTRAP} --topic {topic} \\",
            f"  {PRODUCER_OPTIONS} <<'EOF'",
            *lines,
            "EOF",
        ]
    )


def envelope_attributes() -> str:
    """The table of envelope attributes: name, binary-mode header, required, meaning."""
    rows = [
        "| attribute | binary mode: header | required | what it holds |",
        "|---|---|---|---|",
    ]
    required_attributes = Envelope[Event].model_json_schema(mode="validation")["required"]
    for name, field in Envelope.model_fields.items():
        if name == "data":
            header = "the record value"
        elif name == "datacontenttype":
            header = "`content-type`"
        else:
            header = f"`{BINARY_HEADER_PREFIX}{name}`"
        if name in required_attributes:
            required = "yes"
        elif field.default is not None:
            required = f"no: `{field.default}` when left out"
        else:
            required = "no"
        what = (field.description or "").replace("|", "\\|")
        if name == "tenant":
            what = "The local authority: an `id` of `contracts/local-authorities.csv`."
        if name == "data":
            what = "The event itself: the JSON Schema's `#/$defs/<Event>`."
        rows.append(f"| `{name}` | {header} | {required} | {what} |")
    return "\n".join(rows) + "\n"


def key_table() -> str:
    """Each upstream event type: its topic, the service taking it in, and its Kafka key."""
    rows = [
        "| topic | event type | Kafka key and `subject` | taken in by | dead letters |",
        "|---|---|---|---|---|",
    ]
    for topic in upstream_topics():
        service = CONSUMERS[topic.name]
        for event_cls in event_types_on(topic):
            rows.append(
                f"| `{topic.name}` | `{event_cls.event_type}` | `data.{event_cls.key_field}` |"
                f" {service} | `{dead_letter_topic(service).name}` |"
            )
    return "\n".join(rows) + "\n"


def worked_examples() -> str:
    """Every event type of every upstream topic: key, headers and value in each mode, and the
    console-producer command that publishes it."""
    return "\n".join(_examples()) + "\n"


def _examples() -> Iterator[str]:
    for topic in upstream_topics():
        service = CONSUMERS[topic.name]
        yield f"### `{topic.name}`\n"
        yield f"{topic.description} Taken in by {service}.\n"
        for event_cls in event_types_on(topic):
            envelope = sample_envelope(event_cls)
            yield f"#### `{event_cls.event_type}`\n"
            yield (
                f"Kafka key: `{envelope.subject}`, the envelope's `subject`, which is"
                f" `data.{event_cls.key_field}`. JSON Schema:"
                f" [`contracts/schemas/{event_cls.event_type}.json`]"
                f"(../contracts/schemas/{event_cls.event_type}.json).\n"
            )
            for mode in MODES:
                yield from _example(topic, event_cls, envelope, mode)


def _example(
    topic: Topic, event_cls: type[Event], envelope: Envelope[Any], mode: str
) -> Iterator[str]:
    record = record_of(envelope, mode)
    label = f"{event_cls.event_type} {mode}"
    if mode == "structured":
        yield "**Structured mode**: the value is the whole envelope. Headers:\n"
    else:
        yield (
            "**Binary mode**: the value is `data` alone; every other attribute is a `ce_`"
            " header. Headers:\n"
        )
    yield f"<!-- example: {label} headers -->"
    yield "```text"
    yield from (f"{name}: {value}" for name, value in record.headers.items())
    yield "```\n"
    yield "Value:\n"
    yield f"<!-- example: {label} value -->"
    yield "```json"
    yield json.dumps(record.value, indent=2, ensure_ascii=False)
    yield "```\n"
    yield "Published with Kafka's console producer:\n"
    yield f"<!-- example: {label} command -->"
    yield "```bash"
    yield producer_command(topic.name, [producer_line(record)])
    yield "```\n"


def java_example() -> str:
    """The Java program publishing an event in binary mode, as the guide shows it."""
    return f"```java\n{JAVA_EXAMPLE.read_text()}```\n"
