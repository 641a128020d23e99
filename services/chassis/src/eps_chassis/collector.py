"""The garbage collector in a service process: what exists once it has started is frozen, and
full collections are ten times rarer than CPython's default.

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

The young generation's threshold stays CPython's. Raising it (a young collection every 5,000 to
20,000 allocations instead of 700) made the consumer up to 30% faster, but about doubled the
fast track's p99 (``bench/fast_track.py``, idle and queued: 73-178 ms in the runs made with
20,000, against 42-148 ms with CPython's): fewer collections, each longer, and one landing on an
incident's path is what the coordinator waits for.
"""

from __future__ import annotations

import gc

YOUNG, MIDDLE, OLDEST = 700, 10, 100  # CPython's are 700, 10, 10


def settle_long_lived() -> None:
    """Call once the process has started: what exists now lives as long as the process, and is
    kept out of every collection from then on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLDEST)
