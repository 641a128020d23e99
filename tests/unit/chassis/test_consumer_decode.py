"""Decoding a record: valid, invalid (with a reason naming the field), or not ours."""

from __future__ import annotations

import json

from aiokafka import ConsumerRecord
from eps_chassis.consumer import EventConsumer
from eps_chassis.decoding import Ignored, Invalid, Valid
from eps_contracts import topics
from eps_contracts.referrals import ReferralReceived

from tests.support.builders import referrals as builders
from tests.support.cloudevents import KafkaMessage, consumer_record

consumer = EventConsumer(name="test", topics=[topics.UPSTREAM_REFERRAL_REQUESTS, topics.REFERRALS])


@consumer.on(builders.ReferralRequested)
async def handle(event: object, uow: object) -> None:  # pragma: no cover - never called here
    raise AssertionError


def record(
    value: bytes | None, topic: str = topics.UPSTREAM_REFERRAL_REQUESTS.name
) -> ConsumerRecord:
    return consumer_record(KafkaMessage(b"k", [], value or b""), topic)


def test_a_valid_event_is_decoded_with_its_handler() -> None:
    envelope = builders.upstream_envelope()
    decoded = consumer.decode(record(envelope.model_dump_json().encode()))
    assert isinstance(decoded, Valid)
    assert decoded.envelope == envelope
    assert decoded.handler is handle


def test_bytes_that_are_not_json_are_invalid() -> None:
    decoded = consumer.decode(record(b"\xff\xfe"))
    assert isinstance(decoded, Invalid) and decoded.reason.startswith("not JSON")


def test_an_empty_record_is_invalid() -> None:
    decoded = consumer.decode(record(None))
    assert isinstance(decoded, Invalid) and decoded.reason == "empty record value"


def test_an_unknown_event_type_is_invalid() -> None:
    decoded = consumer.decode(record(json.dumps({"type": "eps.nope.v1"}).encode()))
    assert isinstance(decoded, Invalid) and "unknown event type 'eps.nope.v1'" in decoded.reason


def test_a_type_its_topic_carries_without_a_handler_here_is_ignored() -> None:
    other = json.dumps({"type": ReferralReceived.event_type}).encode()
    assert isinstance(consumer.decode(record(other, topics.REFERRALS.name)), Ignored)


def test_the_reason_names_each_faulty_field() -> None:
    body = json.loads(builders.upstream_envelope().model_dump_json())
    body["data"]["child"]["date_of_birth"] = "2016-13-45"
    body["tenant"] = "Not A Tenant!"
    decoded = consumer.decode(record(json.dumps(body).encode()))
    assert isinstance(decoded, Invalid)
    assert "tenant: String should match pattern" in decoded.reason
    assert "data.child.date_of_birth: Input should be a valid date" in decoded.reason


def test_strict_types_refuse_coercion() -> None:
    body = json.loads(builders.upstream_envelope().model_dump_json())
    body["data"]["child"]["looked_after"] = "yes"
    decoded = consumer.decode(record(json.dumps(body).encode()))
    assert isinstance(decoded, Invalid)
    assert "data.child.looked_after: Input should be a valid boolean" in decoded.reason


def test_a_type_read_from_the_text_is_confirmed_by_the_envelope_or_read_again() -> None:
    """The type is read from the record's text when it stands among the first fields, so the
    JSON is parsed once; where the text misleads, the record is decoded the whole way."""
    envelope = builders.upstream_envelope()
    written = envelope.model_dump_json().encode()
    assert written.startswith(b'{"specversion":"1.0","id":')  # the quick path is the usual one
    body = json.loads(written)
    # a later duplicate "type" (the last one counts) names a type this topic does not carry
    misleading = written[:-1] + b',"type":"eps.nope.v1"}'
    decoded = consumer.decode(record(misleading))
    assert isinstance(decoded, Invalid) and "unknown event type 'eps.nope.v1'" in decoded.reason
    # a broken payload under the guessed type: the reason names the field, as before
    body["data"]["child"]["date_of_birth"] = "2016-13-45"
    decoded = consumer.decode(record(json.dumps(body).encode()))
    assert isinstance(decoded, Invalid) and "data.child.date_of_birth" in decoded.reason
    # JSON that breaks after a readable type is still "not JSON"
    decoded = consumer.decode(record(written[: written.index(b'"type"') + 60]))
    assert isinstance(decoded, Invalid) and decoded.reason.startswith("not JSON")
