"""The benchmarks' CPU meter (bench/cpu.py): it tells the system's parts apart and counts the
CPU each spent."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from bench import cpu


def busy(seconds: float) -> None:
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_the_cpu_this_process_spends_is_counted_as_the_benchmarks() -> None:
    before = cpu.cpu_seconds()
    busy(0.3)
    spent = cpu.spent(before, cpu.cpu_seconds())
    assert 0.25 <= spent[cpu.BENCHMARK] <= 0.6
    assert spent[cpu.MACHINE] >= 0.25
    assert list(spent)[-1] == cpu.MACHINE  # the parts first, the machine last


def test_a_service_run_as_its_own_process_is_told_apart_by_its_module() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "-m", "eps_incidents"]
    )
    try:
        assert cpu.part_of(psutil.Process(child.pid)) == "incidents"
    finally:
        child.kill()
        child.wait()
    assert cpu.part_of(psutil.Process()) == cpu.BENCHMARK


def test_processes_that_are_not_the_systems_are_left_out() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert cpu.part_of(psutil.Process(child.pid)) is None
    finally:
        child.kill()
        child.wait()
