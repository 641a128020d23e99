"""Decoding: each consumed record against its contract, once.

A record carries its event in either CloudEvents mode, structured or binary (``kafka_binding``);
both are validated by the same envelope model. It is *valid* (an envelope of an event type this
consumer handles, with its handler), *invalid* (no envelope, no CloudEvents type, a type its
topic does not carry, or an envelope or payload that breaks its contract: it will be
dead-lettered with the reason), or *ignored* (a type its topic carries that this consumer does
not handle: producers may add types to a stream without breaking anyone).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from eps_contracts import Envelope, Event, all_topics
from pydantic import ValidationError

from eps_chassis.kafka_binding import Carried, Unreadable, carried, parsed

E = TypeVar("E", bound=Event)
Handler = Callable[[Envelope[Any], Any], Awaitable[None]]  # (event, the service's unit of work)
BatchHandler = Callable[[Sequence[Envelope[Any]], Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Valid:
    record: ConsumerRecord
    envelope: Envelope[Any]
    handler: Handler | None  # None: the event type has a batch handler
    batch_handler: BatchHandler | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    record: ConsumerRecord
    reason: str


@dataclass(frozen=True, slots=True)
class Ignored:
    record: ConsumerRecord


Decoded = Valid | Invalid | Ignored


def describe_validation_error(exc: ValidationError, name_of: Callable[[str], str] = str) -> str:
    """Each faulty field and its rule; ``name_of`` names a top-level field as the producer wrote
    it (a ``ce_`` header in binary mode)."""
    return "; ".join(
        ".".join([name_of(str(err["loc"][0])), *(str(p) for p in err["loc"][1:])])
        + f": {err['msg']}"
        if err["loc"]
        else f"<root>: {err['msg']}"
        for err in exc.errors()
    )


@functools.cache
def types_carried_by(record_topic: str) -> tuple[str, ...]:
    """The event types the contracts put on the topic a record came from (its name may carry an
    environment's prefix, ``EPS_TOPIC_PREFIX``); none for a topic that is no contract's."""
    named = [t for t in all_topics() if record_topic.endswith(t.name)]
    if not named:
        return ()
    topic = max(named, key=lambda t: len(t.name))
    return tuple(sorted(t for t, cls in Event.registry.items() if cls.topic == topic))


def _not_carried(event_type: str, record_topic: str, field: str) -> str:
    carried_here = types_carried_by(record_topic)
    declared = Event.registry.get(event_type)
    which = (
        f"{event_type!r} travels on {declared.topic}, not on {record_topic}"
        if declared is not None
        else f"unknown event type {event_type!r} on {record_topic}"
    )
    return f"{field}: {which}; it carries {', '.join(carried_here) or 'no event type'}"


class Routes:
    """Which handler takes each event type, and the envelope model that type is read with."""

    def __init__(self) -> None:
        self.handlers: dict[str, tuple[type[Envelope[Any]], Handler]] = {}
        self.batch_handlers: dict[str, tuple[type[Envelope[Any]], BatchHandler]] = {}

    def __contains__(self, event_type: str) -> bool:
        return event_type in self.handlers or event_type in self.batch_handlers

    @property
    def event_types(self) -> list[type[Event]]:
        return [Event.registry[t] for t in (*self.handlers, *self.batch_handlers)]

    def add(self, event_cls: type[Event], handler: Handler) -> None:
        self.handlers[event_cls.event_type] = (Envelope[event_cls], handler)  # type: ignore[valid-type]

    def add_batch(self, event_cls: type[Event], handler: BatchHandler) -> None:
        self.batch_handlers[event_cls.event_type] = (Envelope[event_cls], handler)  # type: ignore[valid-type]

    def decode(self, record: ConsumerRecord) -> Decoded:
        read = carried(record.value, record.headers)
        if isinstance(read, Unreadable):
            return Invalid(record, read.reason)
        if read.guessed:
            quick = self._decode_guessed(record, read)
            if quick is not None:
                return quick
            read = parsed(read.envelope)
            if isinstance(read, Unreadable):
                return Invalid(record, read.reason)
        return self._route(record, read)

    def _decode_guessed(self, record: ConsumerRecord, read: Carried) -> Valid | None:
        """The record validated in one JSON pass, when its guessed type is one this consumer
        handles and the validated envelope confirms it; None sends it the whole way (which
        also gives a record that is not valid its reason)."""
        assert isinstance(read.event_type, str)
        registered = self.handlers.get(read.event_type)
        batch_registered = self.batch_handlers.get(read.event_type)
        chosen = registered or batch_registered
        if chosen is None or read.event_type not in types_carried_by(record.topic):
            return None
        try:
            envelope = chosen[0].model_validate_json(read.envelope)
        except ValidationError:
            return None
        if envelope.type != read.event_type:
            return None
        if batch_registered is not None:
            return Valid(record, envelope, None, batch_registered[1])
        assert registered is not None
        return Valid(record, envelope, registered[1])

    def _route(self, record: ConsumerRecord, read: Carried) -> Decoded:
        event_type = read.event_type
        if not isinstance(event_type, str):
            return Invalid(record, f"{read.name_of('type')}: missing CloudEvents type attribute")
        if event_type not in types_carried_by(record.topic):
            return Invalid(record, _not_carried(event_type, record.topic, read.name_of("type")))
        registered = self.handlers.get(event_type)
        batch_registered = self.batch_handlers.get(event_type)
        if registered is None and batch_registered is None:
            return Ignored(record)
        chosen = registered or batch_registered
        assert chosen is not None
        try:
            envelope = chosen[0].model_validate_json(read.envelope)
        except ValidationError as exc:
            return Invalid(record, describe_validation_error(exc, read.name_of))
        if batch_registered is not None:
            return Valid(record, envelope, None, batch_registered[1])
        assert registered is not None
        return Valid(record, envelope, registered[1])
