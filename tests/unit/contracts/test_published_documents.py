"""The published documents an integrator builds from: every AsyncAPI document passes the AsyncAPI
project's own parser, every message describes its data, headers and key in both CloudEvents
modes, and a sample of every event type is valid against them and its JSON Schema, checked by
third-party validators (`tools/asyncapi/check.mjs`: @asyncapi/parser and ajv); and the
consumers read each published example as the event it shows."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from eps_chassis.decoding import Routes, Valid
from eps_contracts import Envelope, Event
from eps_contracts.binding import (
    BINARY_ATTRIBUTES,
    KafkaRecord,
    binary_record,
    structured_record,
)
from eps_contracts.examples import sample_data, sample_envelope, sample_records
from eps_contracts.schemas import SCHEMA_DIALECT, schema_file_name, schema_id

from tests.support.cloudevents import KafkaMessage, consumer_record

REPO = Path(__file__).resolve().parents[3]
CHECK = REPO / "tools" / "asyncapi" / "check.mjs"
SCHEMAS = REPO / "contracts" / "schemas"
DOCUMENTS = sorted((REPO / "contracts" / "asyncapi").glob("*.yaml"))
# incidents.yaml as main published it before issue 14: each envelope's data referred back to
# the envelope itself, and there was no binary mode.
BEFORE = Path(__file__).parent / "fixtures" / "incidents-asyncapi-before-issue-14.yaml"
EVENT_TYPES = sorted(Event.registry)


def run_check(
    tmp_path: Path, documents: list[Path], only: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not (CHECK.parent / "node_modules").is_dir():
        pytest.fail("the AsyncAPI tools are not installed: run `make asyncapi-tools`")
    records = [s for s in sample_records() if only is None or s["event_type"] == only]
    sample_file = tmp_path / "samples.json"
    sample_file.write_text(json.dumps(records))
    return subprocess.run(
        ["node", str(CHECK), "--schemas", str(SCHEMAS), "--samples", str(sample_file)]
        + [str(d) for d in documents],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_every_document_parses_and_every_event_is_valid_in_both_modes(tmp_path: Path) -> None:
    result = run_check(tmp_path, DOCUMENTS)

    assert result.returncode == 0, result.stdout + result.stderr
    for document in DOCUMENTS:
        assert f"parser: {document}: 0 errors" in result.stdout
    every = f"{len(EVENT_TYPES)}/{len(EVENT_TYPES)} event types valid"
    structured, binary = result.stdout.split("binary mode:")
    assert every in structured.split("structured mode:")[1]
    assert every in binary


def test_the_documents_before_issue_14_fail_with_a_real_fast_track_request(
    tmp_path: Path,
) -> None:
    result = run_check(tmp_path, [BEFORE], only="eps.incidents.fast-track-requested.v1")

    assert result.returncode == 1
    assert "structured mode: 0/1 messages valid" in result.stdout
    assert "FastTrackAllocationRequested payload: /data must have required property 'id'" in (
        result.stderr
    )
    assert "no binary-mode message of this type in any document" in result.stderr


def test_a_parser_error_fails_the_check(tmp_path: Path) -> None:
    broken = yaml.safe_load((REPO / "contracts" / "asyncapi" / "incidents.yaml").read_text())
    del broken["components"]["messages"]["FastTrackAllocationRequestedBinary"]
    document = tmp_path / "incidents.yaml"
    document.write_text(yaml.safe_dump(broken, sort_keys=False))

    result = run_check(tmp_path, [document], only="eps.incidents.fast-track-requested.v1")

    assert result.returncode == 1
    assert f"parser: {document}: 0 errors" not in result.stdout
    assert "FastTrackAllocationRequestedBinary" in result.stderr


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    return {d.stem: yaml.load(d.read_text(), Loader=yaml.CSafeLoader) for d in DOCUMENTS}


def _at(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_message_describes_its_data_key_and_headers(event_type: str) -> None:
    event_cls = Event.registry[event_type]
    name = event_cls.__name__
    described = 0
    for document in _documents().values():
        messages = document["components"]["messages"]
        if name not in messages:
            continue
        described += 1
        structured, binary = messages[name], messages[f"{name}Binary"]
        envelope = _at(document, structured["payload"]["$ref"])
        own = envelope["allOf"][1]["properties"]
        assert own["data"] == binary["payload"] == {"$ref": f"#/components/schemas/{name}"}
        data = _at(document, own["data"]["$ref"])
        assert set(data["properties"]) == set(event_cls.model_fields)
        assert own["type"]["const"] == event_type
        for message in (structured, binary):
            key = message["bindings"]["kafka"]["key"]
            assert f"data.{event_cls.key_field}" in key["description"]
            assert message["bindings"]["kafka"]["bindingVersion"]
            key_shown = f"Kafka key: {sample_envelope(event_cls).subject}"
            assert message["examples"][0]["summary"] == key_shown
        assert structured["contentType"] == "application/cloudevents+json"
        assert binary["contentType"] == "application/json"
    assert described >= 1, f"{event_type} is in no AsyncAPI document"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_json_schema_has_its_id_dialect_and_one_answer_for_the_key(
    event_type: str,
) -> None:
    event_cls = Event.registry[event_type]
    schema = json.loads((SCHEMAS / schema_file_name(event_type)).read_text())

    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["$id"] == schema_id(event_type)
    assert schema["$id"].startswith("https://")
    assert schema["x-eps-kafka-key"] == "subject"
    assert schema["x-eps-subject"] == f"data.{event_cls.key_field}"
    assert f"data.{event_cls.key_field}" in schema["properties"]["subject"]["description"]
    assert "x-eps-key" not in schema


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_a_sample_valid_by_its_own_model(event_type: str) -> None:
    event_cls = Event.registry[event_type]
    data = sample_data(event_cls)
    envelope = sample_envelope(event_cls)

    assert envelope.subject == str(getattr(data, event_cls.key_field))
    model = Envelope[event_cls]  # type: ignore[valid-type]
    assert model.model_validate_json(json.dumps(structured_record(envelope).value)) == envelope
    assert event_cls.model_validate_json(json.dumps(binary_record(envelope).value)) == data


def test_binary_mode_carries_every_attribute_of_the_envelope_as_a_header() -> None:
    attributes = set(Envelope.model_fields) - {"data", "datacontenttype"}
    assert set(BINARY_ATTRIBUTES) == attributes
    envelope = sample_envelope(Event.registry["eps.scheduling.appointment-booked.v1"])
    headers = binary_record(envelope).headers
    assert headers["content-type"] == "application/json"
    assert headers["ce_subject"] == envelope.subject == binary_record(envelope).key
    assert {f"ce_{a}" for a in attributes} == set(headers) - {"content-type"}


async def _never(event: object, uow: object) -> None:  # pragma: no cover - never called here
    raise AssertionError


@pytest.mark.parametrize("mode", [structured_record, binary_record], ids=["structured", "binary"])
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_consumers_read_each_published_example_as_the_event_it_shows(
    event_type: str, mode: Callable[[Envelope[Any]], KafkaRecord]
) -> None:
    event_cls = Event.registry[event_type]
    envelope = sample_envelope(event_cls)
    example = mode(envelope)
    routes = Routes()
    routes.add(event_cls, _never)
    message = KafkaMessage(
        example.key.encode(),
        [(name, value.encode()) for name, value in example.headers.items()],
        json.dumps(example.value).encode(),
    )

    decoded = routes.decode(consumer_record(message, event_cls.topic.name))

    assert isinstance(decoded, Valid), decoded
    assert decoded.envelope == envelope
