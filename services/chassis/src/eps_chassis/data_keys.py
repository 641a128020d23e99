"""Where a service gets the children's data keys: the port, a short-lived cache in front of it,
and an in-memory owner for unit tests.

The keys service (``eps_keys``) is their one owner; services reach it over HTTP
(``eps_chassis.key_client``). A key is cached in memory for ``ttl_s`` (a batch of one child's
events asks once), never written anywhere, and dropped at once when the keys service says it was
shredded (``ChildKeyShredded``, or a 410 Gone from it).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from eps_chassis.errors import EventRejected, OwnedElsewhere, TransientError


class KeyShredded(Exception):
    """The child's data key was destroyed (the child was erased): nothing sealed for the child
    opens any more, and nothing new is sealed for them."""

    def __init__(self, tenant: str, child_id: uuid.UUID) -> None:
        super().__init__(f"the data key of child {child_id} ({tenant}) has been shredded")
        self.tenant = tenant
        self.child_id = child_id


class KeyUnavailable(TransientError):
    """The keys service could not be asked (down, slow, refused our credential): transient, the
    batch is retried, nothing is dead-lettered for it."""


def owned_elsewhere(child_id: uuid.UUID) -> EventRejected:
    """An event naming a child of another local authority (its key is another LA's): the
    event is refused, as any naming another's record (``errors.OwnedElsewhere``)."""
    return EventRejected.because(OwnedElsewhere("child", child_id, field="child_id"))


class DataKeys(Protocol):
    """A child's 256-bit data key, by local authority and child id."""

    async def create_or_get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        """The child's key, made on first use. Raises :class:`KeyShredded`."""

    async def get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        """The child's key. Raises :class:`KeyShredded` (also for a key never made: nothing
        could have been sealed with it); ``EventRejected`` for another LA's child."""

    async def dead_letter_key(self, service: str, day: str) -> bytes:
        """The key a service's dead letters of one day (``YYYY-MM-DD``, UTC) are sealed with,
        made on first use. Raises :class:`KeyShredded` once the retention rule destroyed it."""

    def forget(self, tenant: str, child_id: uuid.UUID) -> None:
        """Drop any copy of the child's key held here (it was shredded)."""


class CachedDataKeys:
    """``DataKeys`` in front of another, keeping each key for ``ttl_s`` seconds in memory."""

    def __init__(
        self,
        inner: DataKeys,
        ttl_s: float = 60.0,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._now = monotonic
        self._keys: dict[tuple[str, str], tuple[float, bytes]] = {}

    def _cached(self, entry: tuple[str, str]) -> bytes | None:
        found = self._keys.get(entry)
        if found is None:
            return None
        if found[0] < self._now():
            del self._keys[entry]
            return None
        return found[1]

    def _keep(self, entry: tuple[str, str], key: bytes) -> bytes:
        if len(self._keys) >= self.max_entries:
            self._keys.clear()  # rare: a cold cache costs one request per child
        self._keys[entry] = (self._now() + self.ttl_s, key)
        return key

    async def create_or_get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        entry = (tenant, str(child_id))
        if (key := self._cached(entry)) is not None:
            return key
        try:
            return self._keep(entry, await self.inner.create_or_get(tenant, child_id))
        except KeyShredded:
            self.forget(tenant, child_id)
            raise

    async def get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        entry = (tenant, str(child_id))
        if (key := self._cached(entry)) is not None:
            return key
        try:
            return self._keep(entry, await self.inner.get(tenant, child_id))
        except KeyShredded:
            self.forget(tenant, child_id)
            raise

    async def dead_letter_key(self, service: str, day: str) -> bytes:
        entry = ("dead-letters", f"{service}/{day}")
        if (key := self._cached(entry)) is not None:
            return key
        return self._keep(entry, await self.inner.dead_letter_key(service, day))

    def forget(self, tenant: str, child_id: uuid.UUID) -> None:
        self._keys.pop((tenant, str(child_id)), None)
        self.inner.forget(tenant, child_id)


class InMemoryDataKeys:
    """Keys made and kept in this process: unit tests and benchmarks, never a service (its keys
    would die with it, and every sealed value with them)."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], bytes | None] = {}
        self.requests = 0

    async def create_or_get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        self.requests += 1
        if any(c == str(child_id) and t != tenant for t, c in self.keys):
            raise owned_elsewhere(child_id)
        entry = (tenant, str(child_id))
        if entry not in self.keys:
            self.keys[entry] = os.urandom(32)
        key = self.keys[entry]
        if key is None:
            raise KeyShredded(tenant, child_id)
        return key

    async def get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        self.requests += 1
        if any(c == str(child_id) and t != tenant for t, c in self.keys):
            raise owned_elsewhere(child_id)
        key = self.keys.get((tenant, str(child_id)))
        if key is None:
            raise KeyShredded(tenant, child_id)
        return key

    async def dead_letter_key(self, service: str, day: str) -> bytes:
        return await self.create_or_get(
            "dead-letters", uuid.uuid5(uuid.NAMESPACE_URL, service + day)
        )

    def shred(self, tenant: str, child_id: uuid.UUID) -> None:
        self.keys[(tenant, str(child_id))] = None

    def forget(self, tenant: str, child_id: uuid.UUID) -> None:
        """Nothing cached here: this is the owner."""


class NoDataKeys:
    """A service with no keys service configured (``EPS_KEYS_URL`` unset): it neither seals nor
    opens, and says so the first time it is asked."""

    async def create_or_get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        raise KeyUnavailable("no keys service configured (EPS_KEYS_URL)")

    async def get(self, tenant: str, child_id: uuid.UUID) -> bytes:
        raise KeyUnavailable("no keys service configured (EPS_KEYS_URL)")

    async def dead_letter_key(self, service: str, day: str) -> bytes:
        raise KeyUnavailable("no keys service configured (EPS_KEYS_URL)")

    def forget(self, tenant: str, child_id: uuid.UUID) -> None:
        pass
