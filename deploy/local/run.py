"""`make run`: local Kafka and PostgreSQL, then every installed service; Ctrl-C stops all.

Each service runs as its own process (`python -m eps_<name>`) on its own port, with the same
settings docker-compose passes. A local signing key is created once so that `make token` can
issue bearer tokens for each role.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import localinfra  # beside this file
from eps_chassis.auth import Role, ensure_local_keys, issue_token
from eps_chassis.service import installed_services

REPO = Path(__file__).resolve().parents[2]
TENANT = "leicester-city"
EXAMPLE_SCHOOL = "123456"


def main() -> int:
    infra = localinfra.up()
    private, public = ensure_local_keys(REPO / "var" / "local" / "auth")
    services = installed_services()
    processes: list[Process] = []
    (REPO / "var" / "local" / "logs").mkdir(parents=True, exist_ok=True)
    for definition in services:
        port = definition.local_port
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "DATABASE_URL": infra.database_url,
            "EPS_HTTP_PORT": str(port),
            "EPS_AUTH_PUBLIC_KEY_FILE": str(public),
        }
        log = (REPO / "var" / "local" / "logs" / f"{definition.name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", f"eps_{definition.name}"], env=env, stdout=log, stderr=log
        )
        processes.append((definition.name, port, process))

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        wait_ready(processes)
        print_banner(infra, processes, private.read_bytes())
        while not stopping:
            for name, _, process in processes:
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; see var/local/logs/{name}.log")
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping services ...")
        for _, _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, _, process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if infra.started:  # what was running before `make run` is left running
            print(f"stopping {' and '.join(infra.started)} ...")
            localinfra.down(only=infra.started)
        else:
            print("Kafka and PostgreSQL were running before: left running (make infra-down)")
    return 0


def wait_ready(processes: list[Process]) -> None:
    deadline = time.monotonic() + 120
    pending = {name: port for name, port, _ in processes}
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    for name in pending:
        print(f"warning: {name} is not ready yet; see var/local/logs/{name}.log")


Process = tuple[str, int, subprocess.Popen[bytes]]


def print_banner(
    infra: localinfra.LocalInfra, processes: list[Process], private_key: bytes
) -> None:
    print()
    print(f"Kafka       {infra.kafka_bootstrap}")
    print(f"PostgreSQL  {infra.database_url}")
    for name, port, _ in processes:
        print(f"{name:<11} http://127.0.0.1:{port}/docs   (metrics /metrics, health /health/ready)")
    print()
    print("Tokens (valid 8 hours; another with: make token ROLE=<role> [SCHOOL=<urn>]):")
    for role in Role:
        school = EXAMPLE_SCHOOL if role in (Role.SENCO, Role.SCHOOL_BUSINESS_MANAGER) else None
        token = issue_token(
            private_key, subject=f"local-{role}", role=role, tenant=TENANT, school_urn=school
        )
        print(f"  {role:<24} {token}")
    print()
    print("Logs in var/local/logs/. Ctrl-C stops everything.")


if __name__ == "__main__":
    sys.exit(main())
