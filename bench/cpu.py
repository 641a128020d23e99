"""CPU time spent by each part of the system while a benchmark measures: the benchmark's own
process (with the services, when they run in its event loop), each service run in its own process
(``python -m eps_<name>``), PostgreSQL's processes, the Kafka broker, and the whole machine.

A latency measured one request at a time is a path whose parts mostly work one after another:
divided by the requests, the CPU they spent is close to a floor under the median, whatever the
waits (``bench/fast_track.py``).
"""

from __future__ import annotations

import os
from collections import Counter

import psutil

BENCHMARK = "the benchmark's process"
POSTGRES = "postgresql"
KAFKA = "kafka broker"
MACHINE = "whole machine"


def part_of(process: psutil.Process) -> str | None:
    """Which part a process is, or None for a process that is not the system's."""
    if process.pid == os.getpid():
        return BENCHMARK
    try:
        name, cmdline = process.name(), process.cmdline()
    except psutil.Error:  # gone, or not ours to read
        return None
    if name == "postgres":
        return POSTGRES
    if "kafka.Kafka" in cmdline:
        return KAFKA
    if "-m" in cmdline[:-1] and cmdline[cmdline.index("-m") + 1].startswith("eps_"):
        return cmdline[cmdline.index("-m") + 1].removeprefix("eps_")  # a service, by its name
    return None


def cpu_seconds() -> Counter[str]:
    """CPU seconds (user and system) each part has used so far, and the whole machine's."""
    used: Counter[str] = Counter()
    for process in psutil.process_iter():
        part = part_of(process)
        if part is None:
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        used[part] += times.user + times.system
    machine = psutil.cpu_times()
    used[MACHINE] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    return used


def spent(before: Counter[str], after: Counter[str]) -> dict[str, float]:
    """CPU seconds each part spent between two readings, the busiest part first. A process that
    ended in between (a PostgreSQL backend of a closed connection) is not counted."""
    parts = {part: after[part] - before.get(part, 0.0) for part in after}
    return dict(sorted(parts.items(), key=lambda item: (item[0] == MACHINE, -item[1])))
