"""JSON Schema of every event as it travels (envelope + data), and a compatibility check.

Each file is a JSON Schema draft 2020-12 document (``$schema``) with a stable ``$id``
(:data:`SCHEMA_BASE_URI` + the file name: an identifier, not a download address). The whole
schema is the structured-mode record value (the envelope); ``#/$defs/<event model>`` is the
data alone, which is the record value in binary mode. The Kafka key is the envelope's
``subject``, which is the value of ``data.<key field>`` (``x-eps-subject``).

A change is *breaking* for a consumer of the committed schema when it removes a field, changes
a field's type (including dropping ``null`` or an enum value), makes a field required that
was optional or absent, or changes the schema's ``$id``. Adding an optional field or an enum
value is compatible. A breaking change needs a new event type version (``...v2``) instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eps_contracts.base import Event
from eps_contracts.envelope import Envelope

Schema = dict[str, Any]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI = "https://eps-platform.example.org/contracts/schemas/"


def schema_id(event_type: str) -> str:
    """The ``$id`` of an event type's JSON Schema."""
    return SCHEMA_BASE_URI + schema_file_name(event_type)


def subject_description(event_cls: type[Event]) -> str:
    """What the envelope's ``subject`` (and so the Kafka key) of this event type holds."""
    return (
        f"The aggregate id: the value of data.{event_cls.key_field}. It is also the Kafka key,"
        " so that every event of one aggregate stays in order on one partition."
    )


def data_schema(event_cls: type[Event], ref_template: str = "#/$defs/{model}") -> Schema:
    """The JSON Schema of an event's data (its payload) alone."""
    return event_cls.model_json_schema(ref_template=ref_template, mode="validation")


def envelope_attributes_schema() -> Schema:
    """The envelope's attributes, the same for every event type (``data`` left out)."""
    schema = Envelope[Event].model_json_schema(mode="validation")
    schema.pop("$defs", None)
    del schema["properties"]["data"]
    schema["required"].remove("data")
    schema["title"] = "CloudEventsEnvelope"
    schema["description"] = (
        "CloudEvents 1.0 attributes of every event, with the extensions tenant, correlationid,"
        " causationid and actor."
    )
    return schema


def event_schema(event_cls: type[Event], ref_template: str = "#/$defs/{model}") -> Schema:
    """The JSON Schema of one event type, envelope included."""
    schema = Envelope[event_cls].model_json_schema(  # type: ignore[valid-type]
        ref_template=ref_template, mode="validation"
    )
    schema["title"] = event_cls.__name__
    schema["description"] = (event_cls.__doc__ or "").strip()
    schema["properties"]["type"] = {"const": event_cls.event_type, "type": "string"}
    schema["properties"]["subject"]["description"] = subject_description(event_cls)
    schema["x-eps-topic"] = event_cls.topic.name
    schema["x-eps-kafka-key"] = "subject"
    schema["x-eps-subject"] = f"data.{event_cls.key_field}"
    return schema


def schema_file_name(event_type: str) -> str:
    return f"{event_type}.json"


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def all_event_schemas() -> dict[str, str]:
    """File name -> rendered schema document, for every registered event type."""
    return {
        schema_file_name(t): render(
            {"$schema": SCHEMA_DIALECT, "$id": schema_id(t), **event_schema(cls)}
        )
        for t, cls in sorted(Event.registry.items())
    }


# --- compatibility -------------------------------------------------------------------------


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root.get("$defs", {})[name]
    return node


def _variants(node: Schema, root: Schema) -> list[Schema]:
    node = _resolve(node, root)
    if "anyOf" in node:
        out: list[Schema] = []
        for option in node["anyOf"]:
            out.extend(_variants(option, root))
        return out
    return [node]


def _kind(node: Schema) -> str:
    if "const" in node:
        return f"const:{node['const']}"
    if "enum" in node:
        return "enum"
    kind = node.get("type", "any")
    fmt = node.get("format")
    return f"{kind}:{fmt}" if fmt else str(kind)


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Changes from ``old`` to ``new`` that would break a consumer or producer of ``old``."""
    problems: list[str] = []
    if "$id" in old and new.get("$id") != old["$id"]:
        problems.append(f"$id changed from {old['$id']} (integrators refer to it)")
    _compare(old, old, new, new, "", problems)
    return problems


def _compare(
    old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str, problems: list[str]
) -> None:
    old_variants = _variants(old, old_root)
    new_variants = _variants(new, new_root)
    new_by_kind: dict[str, Schema] = {}
    for variant in new_variants:
        new_by_kind.setdefault(_kind(variant), variant)
    for variant in old_variants:
        kind = _kind(variant)
        if kind == "enum":
            match = next((v for v in new_variants if "enum" in v), None)
            if match is None:
                problems.append(f"{path or '<root>'}: enum became {_kind(new_variants[0])}")
                continue
            removed = set(variant["enum"]) - set(match["enum"])
            if removed:
                problems.append(f"{path}: enum values removed: {sorted(map(str, removed))}")
            continue
        counterpart = new_by_kind.get(kind)
        if counterpart is None:
            shown = ", ".join(sorted(_kind(v) for v in new_variants))
            problems.append(f"{path or '<root>'}: type {kind} changed to {shown}")
            continue
        if kind == "object":
            _compare_object(variant, old_root, counterpart, new_root, path, problems)
        elif kind == "array":
            _compare(
                variant.get("items", {}),
                old_root,
                counterpart.get("items", {}),
                new_root,
                f"{path}[]",
                problems,
            )


def _compare_object(
    old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str, problems: list[str]
) -> None:
    old_props: Schema = old.get("properties", {})
    new_props: Schema = new.get("properties", {})
    old_required = set(old.get("required", []))
    for name in sorted(set(new.get("required", [])) - old_required):
        problems.append(f"{path}{'.' if path else ''}{name}: became required")
    for name, old_prop in old_props.items():
        where = f"{path}{'.' if path else ''}{name}"
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        _compare(old_prop, old_root, new_props[name], new_root, where, problems)


def check_against_committed(directory: Path) -> list[str]:
    """Problems between the committed schema files and the current models."""
    problems: list[str] = []
    current = {name: json.loads(text) for name, text in all_event_schemas().items()}
    for path in sorted(directory.glob("*.json")):
        if path.name not in current:
            problems.append(f"{path.name}: event type removed (consumers may still depend on it)")
            continue
        for change in breaking_changes(json.loads(path.read_text()), current[path.name]):
            problems.append(f"{path.name}: {change}")
    return problems
