"""A warning or error repeated word for word is written at most once per interval.

While the broker is away the Kafka client reports every failed reconnection, tens a second per
client (over 6,000 lines a minute from one service): one line per interval says as much. The
next line of the same message that passes carries ``repeats_suppressed``, the number held back
since the last one written. Only exact repeats are held back (same logger, level, message and
fields: a line bound to another request differs by its correlation id); info and debug lines
never are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

SUPPRESSED_ATTRIBUTE = "repeats_suppressed"  # on the record that passes, for the formatter


@dataclass
class _Written:
    at: float
    suppressed: int = 0


class RepeatLimiter(logging.Filter):
    """A ``logging`` filter (on the handler, so it sees every logger's records).

    ``interval_s`` 0 turns it off. ``clock`` is monotonic seconds (a test's own). The messages
    it remembers are bounded by ``max_tracked``: beyond it, those whose interval has passed are
    forgotten (with the count of any repeats of theirs held back since, never written)."""

    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        level: int = logging.WARNING,
        max_tracked: int = 1024,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.level = level
        self.max_tracked = max_tracked
        self._clock = clock
        self._written: dict[Hashable, _Written] = {}
        self._lock = threading.Lock()  # records may come from other threads

    def filter(self, record: logging.LogRecord) -> bool:
        if self.interval_s <= 0 or record.levelno < self.level:
            return True
        key = _identity(record)
        now = self._clock()
        with self._lock:
            last = self._written.get(key)
            if last is not None and now - last.at < self.interval_s:
                last.suppressed += 1
                return False
            if len(self._written) >= self.max_tracked:
                self._forget_before(now - self.interval_s)
            self._written[key] = _Written(now)
        if last is not None and last.suppressed:
            setattr(record, SUPPRESSED_ATTRIBUTE, last.suppressed)
        return True

    def _forget_before(self, moment: float) -> None:
        self._written = {k: w for k, w in self._written.items() if w.at >= moment}


def _identity(record: logging.LogRecord) -> Hashable:
    """What makes two records the same line: a structlog record's message is its event dict
    (the time is added later, when it is written), anyone else's the formatted message."""
    message = record.msg
    if isinstance(message, dict):
        text = repr(sorted((str(k), repr(v)) for k, v in message.items()))
    else:
        text = record.getMessage()
    return (record.name, record.levelno, text)
