"""Decoding: each consumed record against its contract, once.

A record is *valid* (an envelope of an event type this consumer handles, with its handler),
*invalid* (not JSON, no CloudEvents type, a type no contract declares, or a payload that breaks
its contract: it will be dead-lettered with the reason), or *ignored* (a declared event type
this consumer does not handle: producers may add types to a stream without breaking anyone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from eps_contracts import Envelope, Event
from pydantic import ValidationError
from pydantic_core import from_json

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


def describe_validation_error(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )


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
        value = record.value
        if not value:
            return Invalid(record, "empty record value")
        try:
            head = from_json(value)
        except ValueError as exc:
            return Invalid(record, f"not JSON: {exc}")
        event_type = head.get("type") if isinstance(head, dict) else None
        if not isinstance(event_type, str):
            return Invalid(record, "type: missing CloudEvents type attribute")
        registered = self.handlers.get(event_type)
        batch_registered = self.batch_handlers.get(event_type)
        if registered is None and batch_registered is None:
            return (
                Ignored(record)
                if event_type in Event.registry
                else Invalid(record, f"type: unknown event type {event_type!r}")
            )
        chosen = registered or batch_registered
        assert chosen is not None
        try:
            envelope = chosen[0].model_validate_json(value)
        except ValidationError as exc:
            return Invalid(record, describe_validation_error(exc))
        if batch_registered is not None:
            return Valid(record, envelope, None, batch_registered[1])
        assert registered is not None
        return Valid(record, envelope, registered[1])
