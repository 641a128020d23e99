"""`make run`: local Kafka and PostgreSQL, then every installed service, then the demo LA;
Ctrl-C stops all.

Each service runs as its own process (`python -m eps_<name>`, started by ``launcher``, as the
system tests start them) on its own port, with the same settings docker-compose passes. A
local signing key is created once so that `make token` can issue bearer tokens for each role.
Once the services are ready the demo LA (``demo``) is loaded through their APIs (``--no-demo``:
an empty system), and with ``--live`` kept living until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import launcher  # beside this file
import localinfra
import standins
from demo.__main__ import load_and_live, local_target
from demo.api import DemoError
from demo.la import LONDON, TENANT, leicester_city
from eps_chassis.auth import ensure_local_keys
from eps_chassis.service import installed_services
from eps_keys.adapters.kek import ensure_local_kek

REPO = Path(__file__).resolve().parents[2]
KEYS_PORT = 8009  # the keys service's local_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make run")
    parser.add_argument("--no-demo", action="store_true", help="start empty (make run DEMO=0)")
    parser.add_argument("--live", action="store_true", help="keep the demo LA living (LIVE=1)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    infra = localinfra.up()
    private, public = ensure_local_keys(REPO / "var" / "local" / "auth")
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "EPS_AUTH_PUBLIC_KEY_FILE": str(public),
        # the keys service (children's data keys), asked by each service with its own token
        "EPS_KEYS_URL": f"http://127.0.0.1:{KEYS_PORT}",
        "EPS_KEYS_SIGNING_KEY_FILE": str(private),
        "EPS_KEYS_KEK_FILE": str(ensure_local_kek(REPO / "var" / "local" / "keys" / "kek.key")),
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
    demo_stop = threading.Event()
    demo: threading.Thread | None = None
    try:
        for name in launcher.wait_ready(processes):
            print(f"warning: {name} is not ready yet; see var/local/logs/{name}.log")
        print(f"services ready in {time.monotonic() - started:.1f} s")
        if not args.no_demo:
            # once the services are ready: loading while they start was no faster on this
            # machine (it takes the same two cores their start needs)
            loaded = threading.Event()
            demo = threading.Thread(
                target=run_demo, args=(infra, args.live, loaded, demo_stop), daemon=True
            )
            demo.start()
        if demo is not None:
            while not (loaded.is_set() or stopping or not demo.is_alive()):
                time.sleep(0.1)
            print(f"up with the demo LA in {time.monotonic() - started:.1f} s")
        print_banner(infra, processes, demo=not args.no_demo)
        while not stopping:
            for p in processes:
                if p.process.poll() is not None:
                    print(f"{p.name} exited with {p.process.returncode}; see {p.log}")
                    stopping = True
            time.sleep(0.5)
    finally:
        demo_stop.set()
        if demo is not None:
            demo.join(timeout=5)
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


def run_demo(
    infra: localinfra.LocalInfra, living: bool, loaded: threading.Event, stop: threading.Event
) -> None:
    """Load the demo LA (and keep it living): in a thread of its own, so that Ctrl-C reaches
    the supervisor, which stops it with everything else."""
    try:
        asyncio.run(
            load_and_live(
                local_target(kafka=infra.kafka_bootstrap),
                living=living,
                stop=stop,
                loaded_event=loaded,
            )
        )
    except DemoError as e:
        print(f"the demo LA did not load: {e}")
    finally:
        loaded.set()


def own_settings(service: str, private_key: Path) -> dict[str, str]:
    """A service's own settings under `make run`: the console signs people in with local
    tokens (its development sign-in, refused anywhere without this key); billing finalises
    invoices every few seconds, so that the demo's closed months are issued as it loads."""
    if service == "console":
        return {
            "EPS_CONSOLE_DEV_SIGN_IN": "true",
            "EPS_CONSOLE_DEV_SIGNING_KEY_FILE": str(private_key),
        }
    if service == "billing":
        return {"EPS_BILLING_FINALISE_INTERVAL_S": "5"}
    return {}


def print_banner(
    infra: localinfra.LocalInfra, processes: list[launcher.ServiceProcess], *, demo: bool
) -> None:
    """Where to look and how to sign in, in a few lines."""
    urls = {p.name: p.url for p in processes}
    la = leicester_city(time_today())
    school = la.schools[0]
    print()
    if "console" in urls:
        print(
            f"Incident room  {urls['console']}/console  (Development sign-in: a role, an id,"
            f" the LA {TENANT})"
        )
    apis = "  ".join(
        f"{name} :{url.rsplit(':', 1)[1]}" for name, url in urls.items() if name != "console"
    )
    print(f"APIs (Swagger at /docs)  {apis}")
    if demo:
        print(
            f"Sign in as  principal EP {la.principal.ep_id} | EP {school.named_ep_id} |"
            f" coordinator {la.coordinators[0].person_id} | finance {la.finance.person_id} |"
            f" SENCO or school business manager of {school.urn} ({school.name})"
        )
    print(
        "A token     make token ROLE=ep SUB=<id>  |  ROLE=senco SCHOOL=<urn>  |  roles: ep,"
        " senior_ep, principal_ep, coordinator, senco, school_business_manager, finance, admin"
    )
    print(f"Paging      what reached phones and mailboxes: {standins.SENT_URL}")
    print(
        f"Kafka {infra.kafka_bootstrap}  PostgreSQL {infra.database_url}  logs var/local/logs/."
        "  Ctrl-C stops everything."
    )


def time_today() -> date:
    return datetime.now(LONDON).date()


if __name__ == "__main__":
    sys.exit(main())
