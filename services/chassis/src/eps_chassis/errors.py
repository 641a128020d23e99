"""Failure classes and the backoff used whenever something must be tried again."""

from __future__ import annotations

import asyncio
import random

import asyncpg
from aiokafka.errors import KafkaError


class EventRejected(Exception):
    """A handler refuses an event for a business reason: it is dead-lettered, not retried."""

    @classmethod
    def because(cls, error: DomainError) -> EventRejected:
        """The domain's refusal, naming the field at fault, as the dead letter's reason."""
        return cls(f"{error.field}: {error}" if error.field else str(error))


class NotYetKnown(Exception):
    """A handler's event names something this service does not know yet (a school not yet
    registered, an advice request not yet received): the event is held where a person can see
    it (``held_events``) and applied when the data arrives, never dead-lettered for it.

    ``awaiting`` names what it waits for (see :func:`reference`); whatever records that data
    calls ``uow.release(awaiting)``. ``field`` names the input that refers to it.
    """

    def __init__(self, reason: str, *, awaiting: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.awaiting = awaiting
        self.field = field


def reference(kind: str, tenant: str, key: object) -> str:
    """What a held event waits for, e.g. ``school:leicester-city:123456``: the raiser and the
    releaser of one service build it the same way."""
    return f"{kind}:{tenant}:{key}"


class TransientError(Exception):
    """Raised by a handler for a failure that should heal by itself (retry with backoff)."""


_TRANSIENT = (
    TransientError,
    OSError,
    TimeoutError,
    KafkaError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT)


class Backoff:
    """Exponential backoff with full jitter, so a storm of retries never pins the CPU."""

    def __init__(self, initial_s: float = 0.1, max_s: float = 10.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        cap = min(self.max_s, self.initial_s * (2**self.attempt))
        self.attempt += 1
        return random.uniform(cap / 2, cap)

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_delay())

    def reset(self) -> None:
        self.attempt = 0


class DomainError(Exception):
    """A rule of the domain refuses a command. ``field`` names the input at fault, if any."""

    status_code = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """The command does not fit the current state (e.g. an invalid lifecycle transition)."""

    status_code = 409


class Forbidden(DomainError):
    status_code = 403
