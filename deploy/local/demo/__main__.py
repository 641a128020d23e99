"""Load the demo LA into running services (`make demo`, or `make run` after the services are
ready), showing progress; with ``--live`` it then keeps the LA living until stopped.

    PYTHONPATH=deploy/local uv run python -m demo [--live] [--tenant leicester-city]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from eps_chassis.auth import ensure_local_keys
from eps_chassis.service import installed_services
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from demo.api import Api, Target
from demo.la import LONDON, TENANT, leicester_city
from demo.living import live
from demo.loader import Loaded, Loader
from demo.loader import Progress as LoaderProgress

REPO = Path(__file__).resolve().parents[3]
KEYS = REPO / "var" / "local" / "auth"


class Bars(LoaderProgress):
    """The loader's progress as rich bars, one per part."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def start(self, part: str, total: int) -> None:
        self.tasks[part] = int(self.progress.add_task(part, total=total))

    def advance(self, part: str, steps: int = 1) -> None:
        self.progress.advance(self.tasks[part], steps)  # type: ignore[arg-type]


def local_target(tenant: str = TENANT, kafka: str | None = None) -> Target:
    """The services as `make run` starts them: their own ports, the local signing key."""
    private, _ = ensure_local_keys(KEYS)
    return Target(
        urls={d.name: f"http://127.0.0.1:{d.local_port}" for d in installed_services()},
        private_key=private.read_bytes(),
        kafka_bootstrap=kafka or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
        tenant=tenant,
        topic_prefix=os.environ.get("EPS_TOPIC_PREFIX", ""),
        clock_offset=timedelta(seconds=float(os.environ.get("EPS_CLOCK_OFFSET_S", "0"))),
    )


async def load(target: Target, console: Console | None = None) -> Loaded:
    """Load the demo LA, with progress bars on ``console``; gives what was created."""
    la = leicester_city(target.now().astimezone(LONDON).date(), target.tenant)
    columns = (
        TextColumn("{task.description:<17}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console or Console(), transient=False) as progress:
        async with Api(target) as api:
            loaded = await Loader(api, la, Bars(progress)).load()
            loaded.requests.update(api.requests)
            return loaded


async def load_and_live(
    target: Target,
    *,
    living: bool,
    stop: threading.Event,
    loaded_event: threading.Event | None = None,
) -> Loaded:
    """Load the demo LA (``loaded_event`` is set once it is), then, when ``living``, keep it
    living until ``stop`` is set."""
    console = Console()
    started = time.monotonic()
    loaded = await load(target, console)
    made = ", ".join(f"{n} {part}" for part, n in sorted(loaded.created.items())) or "nothing new"
    console.print(
        f"demo LA [bold]{target.tenant}[/] loaded in {time.monotonic() - started:.1f} s ({made})"
    )
    if loaded_event is not None:
        loaded_event.set()
    if living:
        console.print("keeping it living: new referrals, incidents now and then, visits completed")
        async with Api(target) as api:
            await live(
                api,
                leicester_city(target.now().astimezone(LONDON).date(), target.tenant),
                stop,
                console,
            )
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--live", action="store_true", help="keep the LA living after loading")
    parser.add_argument("--tenant", default=TENANT, help="the local authority to load into")
    parser.add_argument("--kafka", default=None, help="Kafka bootstrap servers")
    args = parser.parse_args(argv)
    stop = threading.Event()
    try:
        asyncio.run(
            load_and_live(local_target(args.tenant, args.kafka), living=args.live, stop=stop)
        )
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
