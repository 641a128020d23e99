"""The garbage collector set for a process that consumes events in batches.

CPython's defaults (a young collection every 700 allocations, a full one every 100 young ones)
were made for small heaps of short-lived objects. A service holds a large long-lived heap
(modules, pydantic models and their validators, schemas) and allocates about twenty objects an
event, a thousand events a batch: the young collections moved each batch's envelopes from
generation to generation while they were still in use, and every full collection walked the
whole heap, stalling the loop for tens of milliseconds. Measured on the chassis consumer
(``bench/chassis_bench.py``), decoding took twice as long with the defaults as with this.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations between young collections: a batch's envelopes die young
OLDER_THRESHOLDS = (50, 100)  # young collections per middle one, middle ones per full one


def settle_long_lived() -> None:
    """Call once the process has started: what exists now lives as long as the process, and is
    kept out of every collection from then on (``gc.freeze``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
