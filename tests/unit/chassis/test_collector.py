"""The collector once a service has started: its heap frozen, full collections rarer, and
none while a routine batch is applied."""

from __future__ import annotations

import contextlib
import gc

from eps_chassis.collector import paused, settle_long_lived


def test_a_started_service_freezes_its_heap_and_collects_it_whole_ten_times_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        settle_long_lived()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (700, 10, 100)  # CPython's are 700, 10, 10
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_collector_waits_while_any_batch_is_applied_and_runs_again_after_the_last() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():  # a second consumer's batch, applied meanwhile
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first is not done yet
    assert gc.isenabled()


def test_a_collector_switched_off_before_a_batch_stays_off_after_it() -> None:
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_runs_again_when_a_batch_fails() -> None:
    with contextlib.suppress(RuntimeError), paused():
        raise RuntimeError("the batch's transaction failed")
    assert gc.isenabled()
