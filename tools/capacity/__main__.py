"""The capacity planner's command line: ``python -m tools.capacity`` (``make simulate``).

Simulates the academic year under each booking rule for each seed (the same demand for both
rules), shows progress, and writes ``report.html``, ``figures.csv`` and ``weekly.csv`` to the
output folder (``var/simulate`` by default). ``--headline DIR`` also writes the headline chart
(``headline.svg``) and table (``headline.md``) there, as the README shows them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from eps_scheduling.domain.model import BookingRule
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tools.capacity.report import headline_chart, markdown_table, write_csv, write_html
from tools.capacity.scenario import Scenario
from tools.capacity.simulation import Result, Simulation, days


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Scenario()
    parser = argparse.ArgumentParser(prog="python -m tools.capacity", description=__doc__)
    parser.add_argument("--eps", type=int, default=defaults.ep_posts, help="EP posts")
    parser.add_argument("--vacancies", type=int, default=defaults.vacancies, help="posts unfilled")
    parser.add_argument("--demand", type=float, default=defaults.demand, help="demand multiplier")
    parser.add_argument(
        "--statutory-share",
        type=int,
        default=defaults.statutory_share_percent,
        help="%% of each EP's week kept for statutory work (deadline-aware rule)",
    )
    parser.add_argument(
        "--absence", type=float, default=defaults.absence_rate, help="share of EP days absent"
    )
    parser.add_argument("--schools", type=int, default=defaults.schools)
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds (years) per rule")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("var/simulate"))
    parser.add_argument("--headline", type=Path, help="also write headline.svg and .md here")
    args = parser.parse_args(argv)
    if not 0 <= args.vacancies < args.eps:
        parser.error("--vacancies must leave at least one EP in post")
    return args


def scenario_of(args: argparse.Namespace) -> Scenario:
    return replace(
        Scenario(),
        ep_posts=args.eps,
        vacancies=args.vacancies,
        demand=args.demand,
        statutory_share_percent=args.statutory_share,
        absence_rate=args.absence,
        schools=args.schools,
    )


def run(scenario: Scenario, seeds: range, progress: Progress) -> list[Result]:
    year_days = len(list(days(scenario.first_day, scenario.last_day)))
    task = progress.add_task("simulating", total=year_days * len(seeds) * len(BookingRule))
    results = []
    for seed in seeds:
        for rule in BookingRule:
            progress.update(task, description=f"seed {seed}, {rule}")
            simulation = Simulation(scenario, rule, seed)
            results.append(simulation.run(lambda n: progress.advance(task, n)))
    return results


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    scenario = scenario_of(args)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    ) as progress:
        results = run(scenario, seeds, progress)
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m tools.capacity " + shlex.join(sys.argv[1:] if argv is None else argv)
    write_csv(results, args.out)
    report = write_html(results, args.out, command, seconds)
    table = markdown_table(results)
    print(table)
    print(f"{len(results)} simulated years in {seconds:.1f} s; report: {report}")
    if args.headline:
        args.headline.mkdir(parents=True, exist_ok=True)
        (args.headline / "headline.svg").write_text(headline_chart(results))
        (args.headline / "headline.md").write_text(f"`{command}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
