"""Every contract model, body or event, refuses NUL and control characters in text and dates
outside 1900-2199, naming the field; the JSON Schemas say nothing new."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from eps_contracts.base import ContractModel, Event
from pydantic import AwareDatetime, Field, ValidationError


class Visit(ContractModel):
    note: str
    on: date
    at: AwareDatetime | None = None
    tags: tuple[str, ...] = ()


class Case(ContractModel):
    visits: list[Visit] = Field(default_factory=list)
    summary: str = ""


def refusal(json: str) -> list[tuple[object, ...]]:
    with pytest.raises(ValidationError) as raised:
        Case.model_validate_json(json)
    return [(e["loc"], e["type"]) for e in raised.value.errors()]


@pytest.mark.parametrize("bad", ["\\u0000", "\\u0007", "\\u001b", "\\u007f", "\\u0085"])
def test_control_characters_are_refused_naming_the_field(bad: str) -> None:
    assert refusal(f'{{"summary": "a{bad}b"}}') == [(("summary",), "text_control_character")]
    nested = f'{{"visits": [{{"note": "ok", "on": "2026-01-05", "tags": ["x", "{bad}"]}}]}}'
    assert refusal(nested) == [(("visits", 0, "tags", 1), "text_control_character")]


def test_tabs_and_new_lines_are_text() -> None:
    case = Case.model_validate_json('{"summary": "line one\\n\\tline two\\r\\n"}')
    assert case.summary == "line one\n\tline two\r\n"


@pytest.mark.parametrize(
    ("field", "value"),
    [("on", "1899-12-31"), ("on", "2200-01-01"), ("at", "9999-12-31T23:59:59+14:00")],
)
def test_dates_outside_the_years_records_span_are_refused(field: str, value: str) -> None:
    visit = {"note": "n", "on": "2026-01-05", field: value}
    with pytest.raises(ValidationError) as raised:
        Visit.model_validate(visit | {"on": date.fromisoformat(visit["on"])} if field != "on"
                             else visit, strict=False)  # fmt: skip
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [
        ((field,), "date_out_of_range")
    ]
    assert Visit(note="n", on=date(1900, 1, 1), at=datetime.fromisoformat("2199-12-31T23:00Z"))


def test_every_event_refuses_them_too_and_its_schema_is_unchanged() -> None:
    for event_cls in Event.registry.values():
        schema = str(event_cls.model_json_schema())
        assert "text_control_character" not in schema and "\\x00" not in schema
    from tests.support.builders.referrals import referral_requested

    event = referral_requested().model_dump(mode="json")
    event["child"]["family_name"] = "Smith\u0000"
    with pytest.raises(ValidationError) as raised:
        type(referral_requested()).model_validate_json(json.dumps(event))
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [
        (("child", "family_name"), "text_control_character")
    ]
