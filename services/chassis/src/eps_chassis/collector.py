"""The garbage collector in a service process: what exists once it has started is frozen, full
collections are ten times rarer than CPython's default, and none runs while a batch is applied.

A service holds a large long-lived heap (modules, pydantic models and their validators, schemas)
and allocates about twenty objects an event. Every full collection walked that whole heap,
stalling the loop for tens of milliseconds; frozen (``gc.freeze``), it is left out of every
collection. Measured on the chassis consumer (``bench/chassis_bench.py``), decoding took about
twice as long without it.

What a polled batch holds (its records, envelopes and commands) outlives many young
collections, so it reaches the oldest generation, and with the heap frozen CPython then ran a
full collection every hundred young ones: on billing's batches of three thousand, 25 full
collections of about 40 ms each in 100,000 events, a tenth of the consumer's time
(``bench/billing.py``). One full collection for every hundred of the middle generation (not
ten) took two, and the consumer about 15% less time; each young collection is as short as
before.

Nothing is collected while a routine batch is applied (``paused``): all it allocates lives
until its transaction is done, so each young collection meanwhile walked the batch again. On
billing's benchmark (100,000 events in batches of about 2,800, three runs each way, alternated
in one process) the collector ran about 220 times instead of about 3,370, for 0.70-0.90 s
instead of 1.04-1.21 s. A priority event handled meanwhile meets no collection either.

The young generation's threshold stays CPython's. Raising it (a young collection every 5,000 to
20,000 allocations instead of 700) made the consumer up to 30% faster, but about doubled the
fast track's p99 (``bench/fast_track.py``, idle and queued: 73-178 ms in the runs made with
20,000, against 42-148 ms with CPython's): fewer collections, each longer, and one landing on an
incident's path is what the coordinator waits for.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG, MIDDLE, OLDEST = 700, 10, 100  # CPython's are 700, 10, 10


def settle_long_lived() -> None:
    """Call once the process has started: what exists now lives as long as the process, and is
    kept out of every collection from then on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLDEST)


_pauses = 0  # batches being applied now, across the process's consumers
_resume = False  # whether the collector ran before the first of them paused it


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection while a routine batch is applied: everything it allocates lives until it
    is done (and is then freed by reference counting), so collecting meanwhile walks the batch
    again and again for nothing. Reentrant across consumers; the collector runs again (as it
    was) once the last batch is done."""
    global _pauses, _resume
    if _pauses == 0:
        _resume = gc.isenabled()
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0 and _resume:
            gc.enable()
