"""The garbage collector in a service process: what exists once it has started is frozen.

A service holds a large long-lived heap (modules, pydantic models and their validators, schemas)
and allocates about twenty objects an event. Every full collection walked that whole heap,
stalling the loop for tens of milliseconds; frozen (``gc.freeze``), it is left out of every
collection. Measured on the chassis consumer (``bench/chassis_bench.py``), decoding took about
twice as long without it.

The thresholds stay CPython's. Raising them (a young collection every 5,000 to 20,000
allocations instead of 700) made the consumer up to 30% faster, but about doubled the fast
track's p99 (``bench/fast_track.py``, idle and queued: 73-178 ms in the runs made with 20,000,
against 42-148 ms with CPython's): fewer collections, each longer, and one landing on an
incident's path is what the coordinator waits for.
"""

from __future__ import annotations

import gc


def settle_long_lived() -> None:
    """Call once the process has started: what exists now lives as long as the process, and is
    kept out of every collection from then on."""
    gc.collect()
    gc.freeze()
