"""Run the benchmarks: raw baselines and the platform, each repeated, medians printed.

    uv run python bench/run.py [--repeats 3] [--records 50000] [--samples 300]

Kafka and PostgreSQL come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else the local
launcher is started on its own ports (39092, 35432) and stopped afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines import run_baselines
from bench.chassis_bench import consumer_target, run_platform
from bench.harness import Infra, Report, finish, repeated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    report = Report()

    async def one_run(infra: Infra, tmp: Path) -> None:
        await run_baselines(infra, report, records=args.records, samples=args.samples)
        await run_platform(infra, report, events=args.records, tmp=tmp)

    repeated(args.repeats, one_run)
    report.notes.append(consumer_target(report))
    return finish(report, "bench")


if __name__ == "__main__":
    sys.exit(main())
