"""Base classes for every contract model: strict, immutable, documented, and refusing what no
record should hold: text with NUL or control characters, dates outside the years records span."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

from eps_contracts.topics import Topic

# C0 controls but tab, line feed and carriage return (free text has lines), DEL and C1 controls:
# PostgreSQL cannot store NUL in text at all, and none of them belongs in a record.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
"""Every date and time a record holds lies in these years (a birth, a booking, an invoice);
outside them date arithmetic overflows, so they are refused as input, naming the field."""


def refuse_control_characters(text: str) -> str:
    """``text`` unless it holds NUL or another control character (tab and new lines allowed)."""
    if _CONTROL.search(text):
        raise PydanticCustomError(
            "text_control_character", "must not contain NUL or other control characters"
        )
    return text


def within_years(value: date) -> date:
    # the date as written (converting a time at the edge of the calendar would overflow)
    if not EARLIEST <= (value.date() if isinstance(value, datetime) else value) <= LATEST:
        raise PydanticCustomError(
            "date_out_of_range",
            "must be between {earliest} and {latest}",
            {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
        )
    return value


def _checked(schema: Any, owner: type) -> Any:
    """``schema`` (a core schema) with every text, date and time in it checked: a copy, never
    the original, which pydantic may share. Nested models are left alone: a contract model
    checks its own fields."""
    kind = schema["type"]
    if kind == "str":
        return cs.no_info_after_validator_function(refuse_control_characters, schema)
    if kind in ("date", "datetime"):
        return cs.no_info_after_validator_function(within_years, schema)
    if kind in ("model", "definition-ref") and schema.get("cls") is not owner:
        return schema
    copied = dict(schema)
    for key in ("schema", "items_schema", "keys_schema", "values_schema"):
        inner = copied.get(key)
        if isinstance(inner, dict):
            copied[key] = _checked(inner, owner)
        elif isinstance(inner, list):  # a tuple's positions
            copied[key] = [_checked(item, owner) for item in inner]
    if kind == "model-fields":
        copied["fields"] = {
            name: {**field, "schema": _checked(field["schema"], owner)}
            for name, field in schema["fields"].items()
        }
    elif kind == "union":
        copied["choices"] = [
            (_checked(c[0], owner), c[1]) if isinstance(c, tuple) else _checked(c, owner)
            for c in schema["choices"]
        ]
    elif kind == "definitions":
        copied["definitions"] = [_checked(d, owner) for d in schema["definitions"]]
    return copied


class ContractModel(BaseModel):
    """A value carried inside an event.

    Strict (no silent coercion such as "1" -> 1) and immutable. Unknown fields are ignored so
    that a producer may add an optional field without breaking consumers of the older schema.
    Text holding NUL or control characters (tab and new lines aside) and dates outside
    1900-2199 are refused, naming the field.
    """

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /
    ) -> CoreSchema:
        # Checked in the model's own validator (text, dates), so the JSON Schemas stay as they
        # are and every refusal names its field, in an event as in an HTTP body.
        checked: CoreSchema = _checked(handler(source), cls)
        return checked


class Event(ContractModel):
    """The payload (`data`) of one event type.

    Subclasses declare the CloudEvents `type`, the topic it travels on and the field that holds
    the aggregate id (used as Kafka key and CloudEvents `subject`, so that all events of one
    aggregate stay in order on one partition).
    """

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    key_field: ClassVar[str]

    registry: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type is None:
            return
        if event_type in Event.registry:
            raise TypeError(f"event type {event_type} declared twice")
        Event.registry[event_type] = cls

    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))
