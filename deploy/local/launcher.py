"""Every installed service as its own process, started the way `make run` starts them.

`make run` (``run.py``) and the system tests (``tests/system``) both start the services here,
so the tests exercise the deployment a user runs: the same command (``python -m eps_<name>``),
the same settings read from the environment, one process per service on its own port. Only
the settings differ (ports, the test run's topic prefix and schemas, shorter intervals).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from eps_chassis.service import ServiceDefinition


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def start_service(
    definition: ServiceDefinition,
    *,
    port: int,
    environment: Mapping[str, str],
    log_dir: Path,
    log_name: str | None = None,
) -> ServiceProcess:
    """One process of one service: ``python -m eps_<name>`` with the given settings."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{log_name or definition.name}.log"
    env = {**os.environ, **environment, "EPS_HTTP_PORT": str(port)}
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"eps_{definition.name}"],
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,  # a Ctrl-C reaches the supervisor, which stops them in order
        )
    return ServiceProcess(definition.name, port, process, log)


def wait_ready(processes: Iterable[ServiceProcess], timeout_s: float = 120.0) -> list[str]:
    """Wait until each process answers ready (database and Kafka consumers up); returns the
    names of those that did not in time, or exited."""
    pending = list(processes)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if p.process.poll() is None and not p.ready()]
        if pending:
            time.sleep(0.25)
    return [p.name for p in pending] + [
        p.name for p in processes if p.process.poll() is not None and p not in pending
    ]


def stop(processes: Iterable[ServiceProcess], timeout_s: float = 30.0) -> None:
    """SIGTERM (a graceful stop: consumers leave their groups, the relay finishes), then kill
    what is still running after ``timeout_s``."""
    running = [p for p in processes if p.process.poll() is None]
    for p in running:
        p.process.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        p.process.send_signal(signal.SIGTERM)
    for p in running:
        try:
            p.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.process.kill()
            p.process.wait()
