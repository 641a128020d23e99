"""An outbox relay in an OS process of its own, reporting what it does: for failover tests.

    python -m tests.support.relay_runner --service relay-a --schema S --dsn ... --bootstrap ...

Each report is one line on stdout, ``RELAY {json}``, stamped with ``time.monotonic()`` (the
system-wide monotonic clock on Linux, comparable with the test's own):

* ``started``; ``claimed`` / ``released`` a lane (``reason`` says why it was given up);
* ``sending`` a batch (outbox ``ids``) before its first record goes to the producer, and
  ``marked`` once the batch is marked published;
* ``holding`` a batch: after SIGUSR1, the routine lane's next acknowledged batch is held unmarked
  for ``--hold-s`` (renewing the claim meanwhile, as any wait of a leader does), so that a test
  can stop the process with a batch in flight.

SIGTERM stops the relay (releasing its lanes) and the process. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import structlog
from eps_chassis.outbox import Written
from eps_chassis.relay import OutboxRelay, _Claim, _Lane
from eps_chassis.retry import Backoff

PREFIX = "RELAY "


def report(event: str, **fields: object) -> None:
    line = json.dumps({"t": time.monotonic(), "event": event, **fields})
    print(PREFIX + line, flush=True)


class ReportingRelay(OutboxRelay):
    """An outbox relay that reports its claims, sends and marks."""

    def __init__(self, *, hold_s: float, **settings: Any) -> None:
        super().__init__(**settings)
        self.hold_s = hold_s
        self.hold_next = False

    def _claimed(self, lane: _Lane) -> None:
        super()._claimed(lane)
        report("claimed", lane=lane.name)

    def _released(self, lane: _Lane, reason: BaseException) -> None:
        super()._released(lane, reason)
        report("released", lane=lane.name, reason=repr(reason))

    async def _send_in_order(self, claim: _Claim, lane: _Lane, records: Written) -> None:
        report("sending", lane=lane.name, ids=[i for i, _ in records])
        await super()._send_in_order(claim, lane, records)

    async def _mark(self, claim: _Claim, lane: _Lane, ids: Sequence[int]) -> None:
        if self.hold_next and not lane.only_these:
            self.hold_next = False
            report("holding", lane=lane.name, ids=list(ids))
            await claim.keep(asyncio.sleep(self.hold_s))
        await super()._mark(claim, lane, ids)
        report("marked", lane=lane.name, ids=list(ids))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--priority-topic", action="append", default=[])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--poll-interval-s", type=float, default=0.2)
    parser.add_argument("--publish-timeout-s", type=float, default=5.0)
    parser.add_argument("--claim-timeout-s", type=float, default=10.0)
    parser.add_argument("--hold-s", type=float, default=2.0)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    relay = ReportingRelay(
        service=args.service,
        schema=args.schema,
        dsn=args.dsn,
        bootstrap_servers=args.bootstrap,
        topic_prefix=args.topic_prefix,
        batch_size=args.batch_size,
        poll_interval_s=args.poll_interval_s,
        publish_timeout_s=args.publish_timeout_s,
        claim_timeout_s=args.claim_timeout_s,
        backoff=Backoff(0.05, 0.5),
        priority_topics=args.priority_topic,
        hold_s=args.hold_s,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(relay, "hold_next", True))
    await relay.start()
    report("started")
    try:
        await stop.wait()
    finally:
        await relay.stop()
        report("stopped")


if __name__ == "__main__":
    asyncio.run(main())
