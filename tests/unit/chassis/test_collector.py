"""The collector once a service has started: its heap frozen, full collections rarer."""

from __future__ import annotations

import gc

from eps_chassis.collector import settle_long_lived


def test_a_started_service_freezes_its_heap_and_collects_it_whole_ten_times_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        settle_long_lived()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (700, 10, 100)  # CPython's are 700, 10, 10
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
