"""One valid sample of every event type, built from its contract, for the published documents.

Each sample is derived from the event's JSON Schema (every field filled, optional ones too, so
the sample shows the whole shape), then read back through the event's own model, so it is
valid by construction. Values are fixed, not random: the documents are generated and checked
in, and a sample must not change between two runs. Identifiers depend only on the field's name
(every ``referral_id`` is the same referral), so the samples read as one story.

The AsyncAPI documents carry these samples as message examples, in both CloudEvents modes, and
the contract tests validate them with third-party validators against those documents and the
JSON Schemas.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from eps_contracts.base import Event
from eps_contracts.binding import binary_record, structured_record
from eps_contracts.envelope import Envelope, envelope_for

Schema = dict[str, Any]

SAMPLE_TENANT = "leicester-city"
SAMPLE_DATE = "2026-11-02"
SAMPLE_TIME = "2026-11-02T09:30:00+00:00"
_IDS = uuid.UUID("5b0f8a3c-2f4e-4d43-9a55-0c1e7d6b9e21")  # namespace of the sample ids

# Strings with a pattern: one sample per pattern the contracts use (a new pattern needs one).
_BY_PATTERN = {
    r"^[0-9]{6,7}$": "123456",  # school URN
    r"^[A-Z][0-9]{11}[0-9A-Z]$": "A12345678901B",  # UPN
    r"^(N1|N2|R|[1-9]|1[0-4])$": "5",  # year group
    r"^(autumn|spring)$": "autumn",
    r"^[a-z0-9][a-z0-9-]{1,62}$": SAMPLE_TENANT,
}
# By field name (or <model>.<field>), so that a sample reads like what the field holds.
_BY_NAME: dict[str, Any] = {
    # a sealed value's shape (eps_contracts.sealed): the bytes are illustrative, opening nothing
    "SealedValue.key_id": str(uuid.uuid5(_IDS, "child_id")),  # sealed for the sample child
    "SealedValue.nonce": "cmFuZG9tbm9uY2Ux",
    "SealedValue.ciphertext": "c2VhbGVkIGZvciB0aGUgY2hpbGQ7IG9wZW5zIHdpdGggaXRzIGtleSBvbmx5Lg==",
    "academic_year": 2026,
    "agency": "Children's social care",
    "assigned_to": "coordinator-1",
    "attendance_percent": 92.5,
    "attainment_summary": "Working below age-related expectations in reading and writing.",
    "background": "Attends a mainstream primary school; on SEN support since Year 2.",
    "basis_of_assessment": "Two observations in class, consultation with parents and SENCO.",
    "child_family_name": "Example",
    "child_given_name": "Amelia",
    "child_date_of_birth": "2017-03-14",
    "child_views": "Likes art and football; finds busy classrooms hard.",
    "concerns": "Difficulties with reading and with regulating emotions in class.",
    "date_of_birth": "2017-03-14",
    "days": 6,
    "duration_minutes": 90,
    "earliest": "2026-11-02T09:00:00+00:00",
    "ends_at": "2026-11-02T11:00:00+00:00",
    "description": "Pupil died in a road accident on the way to school.",
    "family_name": "Example",
    "given_name": "Amelia",
    "from_person": "coordinator-1",
    "extended_by": "user:dpo-1",
    "opened_by": "user:dpo-1",
    "record_type": "casework",
    "expires_on": "2027-11-02",
    "home_language": "English",
    "latest": "2026-11-20T17:00:00+00:00",
    "la_case_ref": "SEN-2026-0457",
    "line_count": 3,
    "DeliveredTimeCorrected.minutes": 60,
    "DeliveredTimeRecorded.minutes": 90,
    "SlaBought.minutes": 2520,
    "SlaChanged.minutes": 2880,
    "SlaCancelled.minutes": 0,
    "name": "Sam Example",
    "needs": "Cognition and learning; social, emotional and mental health.",
    "number": "INV-2026-000123",
    "organisation": "Example Primary School",
    "outcomes": "Reads independently at an age-appropriate level by the end of Key Stage 2.",
    "period_end": "2026-10-31",
    "period_start": "2026-10-01",
    "parent_views": "Parents want more support with reading at home.",
    # a priority group the sample's exclusion tier goes with (the tier needs this group)
    "priority_groups": "risk_of_exclusion",
    "professionals_involved": "Speech and language therapist",
    "provision": "Small-group literacy intervention three times a week.",
    "reason": "Example reason given by the person who made the change.",
    "recipient": "coordinator-1",
    "relationship": "mother",
    # a local authority's default minimum evidence (two cycles): the sample request is applied
    "review_cycles_completed": 2,
    "reported_by": "Headteacher",
    "school_name": "Example Primary School",
    "service": "referrals",
    "service_name": "Speech and language therapy",
    "setting_name": "Example Nursery",
    "sen_support_since": "2024-09-16",
    "sharing_agencies": "School nursing",
    "shortfall_reason": "Only one EP is free before the response is due.",
    "skip_reason": "The school's own assessment already covers this stage.",
    "starts_at": "2026-11-02T09:30:00+00:00",
    "strategies_tried": "Precision teaching",
    "summary": "Example summary.",
    "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
    "tenant": SAMPLE_TENANT,
    "text": "EPS critical incident, level 2 (sudden death of pupil) at school 123456, reported"
    " 09:30. Acknowledge in the EPS console. Ref 6f1c2d3e.",
    "total_pence": 126000,
    "valid_from": "2026-09-01",
    "valid_to": "2027-08-31",
    "to_person": "coordinator-2",
}
_PERSON = "Identifier of a person"


def sample_uuid(name: str) -> str:
    """The sample id of a field (or envelope attribute) of that name."""
    return str(uuid.uuid5(_IDS, name))


def _string(node: Schema, name: str) -> str:
    if "pattern" in node:
        return _BY_PATTERN[node["pattern"]]
    fmt = node.get("format")
    if fmt == "uuid":
        return sample_uuid(name)
    if fmt == "date":
        return SAMPLE_DATE
    if fmt == "date-time":
        return SAMPLE_TIME
    if name == "case_ref":
        return f"advice:{sample_uuid('advice_id')}"
    if _PERSON in node.get("description", "") or name.endswith(("_id", "_ids", "_by")):
        return name.removesuffix("s").removesuffix("_id").replace("_", "-") + "-1"
    raise ValueError(f"no sample string for field {name!r}: add one to examples._BY_NAME")


def _number(node: Schema) -> int | float:
    low = node.get("minimum", node.get("exclusiveMinimum", 0) + 1)
    value = max(low, 1)
    if "maximum" in node:
        value = min(value, node["maximum"])
    return value if node.get("type") == "integer" else float(value)


def _value(node: Schema, name: str, defs: Schema, owner: str = "") -> Any:
    if "$ref" in node:
        return _value(defs[node["$ref"].rsplit("/", 1)[-1]], name, defs, owner)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        return _value({**options[0], **_described(node)}, name, defs, owner)
    kind = node.get("type")
    if kind == "array":
        count = max(node.get("minItems", 1), 1)
        return [_value(node.get("items", {}), name, defs, owner) for _ in range(count)]
    for hint in (f"{owner}.{name}", name):
        if hint in _BY_NAME:
            return _BY_NAME[hint]
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if kind == "object":
        title = node.get("title", "")
        return {p: _value(sub, p, defs, title) for p, sub in node.get("properties", {}).items()}
    if kind == "string":
        return _string(node, name)
    if kind in ("integer", "number"):
        return _number(node)
    if kind == "boolean":
        return True
    raise ValueError(f"no sample for field {name!r} of schema {node}")


def _described(node: Schema) -> Schema:
    return {"description": node["description"]} if "description" in node else {}


@functools.cache
def sample_data(event_cls: type[Event]) -> Event:
    """A valid payload of the event type, every field filled."""
    schema = event_cls.model_json_schema(mode="validation")
    values = _value(schema, "", schema.get("$defs", {}))
    return event_cls.model_validate_json(json.dumps(values))


@functools.cache
def sample_envelope(event_cls: type[Event]) -> Envelope[Any]:
    """The sample payload in its envelope, as a service (or an LA's own system) would send it."""
    data = sample_data(event_cls)
    owner = event_cls.event_type.split(".")[1]
    upstream = owner == "upstream"
    return envelope_for(
        data,
        source=f"/la/{SAMPLE_TENANT}/case-management" if upstream else f"/eps/{owner}",
        tenant=SAMPLE_TENANT,
        actor="upstream:case-management" if upstream else f"service:{owner}",
        correlation_id=uuid.UUID(sample_uuid("correlationid")),
        causation_id=None if upstream else uuid.UUID(sample_uuid("causationid")),
        event_id=uuid.uuid5(_IDS, event_cls.event_type),
        time=datetime.fromisoformat(SAMPLE_TIME),
    )


def sample_records() -> list[dict[str, Any]]:
    """A sample record of every registered event type in both CloudEvents modes (key, headers
    and value), as `tools/asyncapi/check.mjs` reads them."""
    out: list[dict[str, Any]] = []
    for event_type, event_cls in sorted(Event.registry.items()):
        envelope = sample_envelope(event_cls)
        out.append(
            {
                "event_type": event_type,
                "model": event_cls.__name__,
                "structured": asdict(structured_record(envelope)),
                "binary": asdict(binary_record(envelope)),
            }
        )
    return out
