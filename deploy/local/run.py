"""`make run`: local Kafka and PostgreSQL, then every installed service; Ctrl-C stops all.

Each service runs as its own process (`python -m eps_<name>`, started by ``launcher``, as the
system tests start them) on its own port, with the same settings docker-compose passes. A
local signing key is created once so that `make token` can issue bearer tokens for each role.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import launcher  # beside this file
import localinfra
import standins
from eps_chassis.auth import Role, ensure_local_keys, issue_token
from eps_chassis.service import installed_services

REPO = Path(__file__).resolve().parents[2]
TENANT = "leicester-city"
EXAMPLE_SCHOOL = "123456"


def main() -> int:
    infra = localinfra.up()
    private, public = ensure_local_keys(REPO / "var" / "local" / "auth")
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "EPS_AUTH_PUBLIC_KEY_FILE": str(public),
    }
    paging_far_ends = standins.launch(REPO / "var" / "local" / "logs")
    processes = [
        launcher.start_service(
            definition,
            port=definition.local_port,
            environment={**environment, **own_settings(definition.name, private)},
            log_dir=REPO / "var" / "local" / "logs",
        )
        for definition in installed_services()
    ]

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name in launcher.wait_ready(processes):
            print(f"warning: {name} is not ready yet; see var/local/logs/{name}.log")
        print_banner(infra, processes, private.read_bytes())
        while not stopping:
            for p in processes:
                if p.process.poll() is not None:
                    print(f"{p.name} exited with {p.process.returncode}; see {p.log}")
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping services ...")
        launcher.stop(processes)
        paging_far_ends.terminate()
        paging_far_ends.wait()
        if infra.started:  # what was running before `make run` is left running
            print(f"stopping {' and '.join(infra.started)} ...")
            localinfra.down(only=infra.started)
        else:
            print("Kafka and PostgreSQL were running before: left running (make infra-down)")
    return 0


def own_settings(service: str, private_key: Path) -> dict[str, str]:
    """A service's own settings under `make run`: the console signs people in with local
    tokens (its development sign-in, refused anywhere without this key)."""
    if service == "console":
        return {
            "EPS_CONSOLE_DEV_SIGN_IN": "true",
            "EPS_CONSOLE_DEV_SIGNING_KEY_FILE": str(private_key),
        }
    return {}


def print_banner(
    infra: localinfra.LocalInfra, processes: list[launcher.ServiceProcess], private_key: bytes
) -> None:
    print()
    print(f"Kafka       {infra.kafka_bootstrap}")
    print(f"PostgreSQL  {infra.database_url}")
    for p in processes:
        print(f"{p.name:<11} {p.url}/docs   (metrics /metrics, health /health/ready)")
    print(
        f"paging      stand-ins for GOV.UK Notify (127.0.0.1:{standins.NOTIFY_PORT}) and SMTP"
        f" (127.0.0.1:{standins.SMTP_PORT}); what they received: {standins.SENT_URL}"
    )
    console = next((p for p in processes if p.name == "console"), None)
    if console is not None:
        print(
            f"incident room  {console.url}/console  (development sign-in: pick a role; the"
            f" example LA is {TENANT})"
        )
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
