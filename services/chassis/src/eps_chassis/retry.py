"""What to do about a failure that should heal by itself: retry, after a jittered backoff."""

from __future__ import annotations

import asyncio
import random

import asyncpg
from aiokafka.errors import KafkaError

from eps_chassis.errors import TransientError

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
    """A failure of the database, the broker or the network, not of the work itself."""
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
