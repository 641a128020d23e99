"""Base classes for every contract model: strict, immutable, documented."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from eps_contracts.topics import Topic


class ContractModel(BaseModel):
    """A value carried inside an event.

    Strict (no silent coercion such as "1" -> 1) and immutable. Unknown fields are ignored so
    that a producer may add an optional field without breaking consumers of the older schema.
    """

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
        validate_default=True,
    )


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
