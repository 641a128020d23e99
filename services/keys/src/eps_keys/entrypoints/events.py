"""The keys service consumes no events: services ask for keys over HTTP (``entrypoints.http``)
and it publishes ``ChildKeyShredded`` (``eps_contracts.keys``) when a key is destroyed."""

from __future__ import annotations

from eps_chassis.consumer import EventConsumer

CONSUMERS: tuple[EventConsumer, ...] = ()
