"""Both CloudEvents modes of the Kafka binding decode to the same envelope, with the same rules;
an event of a type its topic does not carry is invalid, with the reason."""

from __future__ import annotations

import json

import pytest
from aiokafka import ConsumerRecord
from eps_chassis.consumer import EventConsumer
from eps_chassis.decoding import Ignored, Invalid, Valid
from eps_contracts import topics
from eps_contracts.consent import ConsentCaseOpened
from eps_contracts.referrals import ReferralRequested
from eps_contracts.statutory import UPSTREAM_STATUTORY_REQUESTS, PsychologicalAdviceRequested

from tests.support.builders import referrals as builders
from tests.support.cloudevents import KafkaMessage, binary, consumer_record, structured

consumer = EventConsumer(name="test", topics=[topics.UPSTREAM_REFERRAL_REQUESTS, topics.REFERRALS])
UPSTREAM = topics.UPSTREAM_REFERRAL_REQUESTS.name


@consumer.on(ReferralRequested)
async def handle(event: object, uow: object) -> None:  # pragma: no cover - never called here
    raise AssertionError


def record(message: KafkaMessage, topic: str = UPSTREAM) -> ConsumerRecord:
    return consumer_record(message, topic)


def invalid(message: KafkaMessage, topic: str = UPSTREAM) -> str:
    decoded = consumer.decode(record(message, topic))
    assert isinstance(decoded, Invalid), decoded
    return decoded.reason


def test_binary_mode_decodes_to_the_envelope_structured_mode_carries() -> None:
    envelope = builders.upstream_envelope()
    for message in (structured(envelope), binary(envelope)):
        decoded = consumer.decode(record(message))
        assert isinstance(decoded, Valid)
        assert decoded.envelope == envelope
        assert decoded.handler is handle


def test_binary_mode_reads_the_data_media_type_with_its_parameters() -> None:
    envelope = builders.upstream_envelope()
    message = binary(envelope, **{"content-type": "application/json; charset=utf-8"})
    decoded = consumer.decode(record(message))
    assert isinstance(decoded, Valid) and decoded.envelope == envelope
    without = binary(envelope, **{"content-type": None})  # JSON data, as the contract says
    assert isinstance(consumer.decode(record(without)), Valid)


def test_a_binary_event_without_a_type_header_is_invalid_naming_the_header() -> None:
    assert invalid(binary(builders.upstream_envelope(), ce_type=None)) == (
        "ce_type: missing CloudEvents type attribute"
    )


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"ce_id": None}, "ce_id: Field required"),
        ({"ce_id": "not-a-uuid"}, "ce_id: Input should be a valid UUID"),
        ({"ce_time": "2026-11-02T09:00:00"}, "ce_time: Input should have timezone info"),
        ({"ce_tenant": "Leicester City"}, "ce_tenant: String should match pattern"),
        ({"ce_actor": None}, "ce_actor: Field required"),
        ({"ce_specversion": "0.3"}, "ce_specversion: Input should be '1.0'"),
        ({"content-type": "text/plain"}, "content-type: Input should be 'application/json'"),
    ],
)
def test_a_binary_event_breaking_the_envelope_names_the_header(
    override: dict[str, str | None], reason: str
) -> None:
    assert reason in invalid(binary(builders.upstream_envelope(), **override))


def test_a_binary_event_breaking_its_payload_names_the_field_of_the_data() -> None:
    envelope = builders.upstream_envelope()
    message = binary(envelope)
    data = json.loads(message.value)
    data["child"]["date_of_birth"] = "2016-13-45"
    reason = invalid(KafkaMessage(message.key, message.headers, json.dumps(data).encode()))
    assert reason.startswith("data.child.date_of_birth: Input should be a valid date")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            KafkaMessage(b"k", [("ce_type", ReferralRequested.event_type.encode())], b"{nope"),
            "data: the record value is not JSON",
        ),
        (
            KafkaMessage(b"k", [("ce_type", b"\xff\xfe")], b"{}"),
            "ce_type: header value is not UTF-8",
        ),
        (
            KafkaMessage(b"k", [("ce_type", b"a"), ("ce_type", b"b")], b"{}"),
            "ce_type: header given twice, differently",
        ),
        (
            KafkaMessage(b"k", [("content-type", b"application/cloudevents-batch+json")], b"[]"),
            "content-type: 'application/cloudevents-batch+json' is not a format",
        ),
        (KafkaMessage(b"k", [("ce_type", b"a")], b""), "empty record value"),
    ],
)
def test_a_record_that_carries_no_envelope_is_invalid_with_the_reason(
    message: KafkaMessage, reason: str
) -> None:
    assert invalid(message).startswith(reason)


def test_structured_mode_is_chosen_by_content_type_even_beside_ce_headers() -> None:
    envelope = builders.upstream_envelope()
    message = structured(envelope)
    stray = KafkaMessage(
        message.key, [*message.headers, ("ce_type", b"eps.nope.v1")], message.value
    )
    decoded = consumer.decode(record(stray))
    assert isinstance(decoded, Valid) and decoded.envelope == envelope


def test_a_type_of_another_topic_is_invalid_naming_what_the_topic_carries() -> None:
    consent = json.dumps({"type": ConsentCaseOpened.event_type}).encode()
    reason = invalid(KafkaMessage(b"k", [], consent), topics.REFERRALS.name)
    assert reason.startswith(
        f"type: {ConsentCaseOpened.event_type!r} travels on {topics.CONSENT.name},"
        f" not on {topics.REFERRALS.name}; it carries eps.referrals."
    )
    # an upstream request sent to the wrong upstream topic is no request at all
    advice = binary(builders.upstream_envelope())
    misplaced = binary(
        builders.upstream_envelope(), ce_type=PsychologicalAdviceRequested.event_type
    )
    assert isinstance(consumer.decode(record(advice)), Valid)
    assert invalid(misplaced) == (
        f"ce_type: {PsychologicalAdviceRequested.event_type!r} travels on"
        f" {UPSTREAM_STATUTORY_REQUESTS.name}, not on {UPSTREAM};"
        f" it carries {ReferralRequested.event_type}"
    )


def test_a_misspelt_type_is_invalid_naming_the_types_the_topic_carries() -> None:
    typo = binary(builders.upstream_envelope(), ce_type="eps.upstream.referal-requested.v1")
    assert invalid(typo) == (
        f"ce_type: unknown event type 'eps.upstream.referal-requested.v1' on {UPSTREAM};"
        f" it carries {ReferralRequested.event_type}"
    )


def test_the_topic_is_recognised_under_an_environments_prefix() -> None:
    envelope = builders.upstream_envelope()
    prefixed = f"t0123456789.{UPSTREAM}"
    assert isinstance(consumer.decode(record(binary(envelope), prefixed)), Valid)
    received = json.dumps({"type": "eps.referrals.referral-received.v1"}).encode()
    assert isinstance(
        consumer.decode(record(KafkaMessage(b"k", [], received), f"dev-{topics.REFERRALS}")),
        Ignored,
    )
