"""Benchmark harness: infrastructure, repeated runs, medians and percentiles, a results table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

import localinfra  # noqa: E402


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    """KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else the local launcher on own ports."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if kafka and database:
        yield Infra(kafka, database)
        return
    var_dir, ports = REPO / "var" / "bench-infra", (39092, 39093, 35432)
    started = localinfra.up(var_dir, *ports)
    try:
        yield Infra(kafka or started.kafka_bootstrap, database or started.database_url)
    finally:
        localinfra.down(var_dir, *ports)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figure:
    name: str
    unit: str
    runs: list[float] = field(default_factory=list)
    baseline: str | None = None  # name of the raw figure this one is compared with
    higher_is_better: bool = True

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


@dataclass
class Report:
    figures: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        unit: str,
        value: float,
        *,
        baseline: str | None = None,
        higher_is_better: bool = True,
    ) -> None:
        figure = self.figures.setdefault(
            name, Figure(name, unit, baseline=baseline, higher_is_better=higher_is_better)
        )
        figure.runs.append(value)

    def ratio(self, name: str) -> float | None:
        figure = self.figures[name]
        if figure.baseline is None or figure.baseline not in self.figures:
            return None
        return figure.median / self.figures[figure.baseline].median

    def render(self) -> str:
        """Each figure's median, its ratio to its baseline (the figure it names, measured in
        the same runs) and every run; then which baseline each ratio is to."""
        width = max(46, *(len(f.name) for f in self.figures.values()))
        lines = [
            f"{'figure':<{width}} {'median':>12} {'unit':<8} {'ratio':>6}  runs",
            "-" * (width + 50),
        ]
        for figure in self.figures.values():
            ratio = self.ratio(figure.name)
            shown = f"{ratio:.2f}x" if ratio is not None else ""
            runs = ", ".join(_fmt(r) for r in figure.runs)
            lines.append(
                f"{figure.name:<{width}} {_fmt(figure.median):>12} {figure.unit:<8} {shown:>6}"
                f"  {runs}"
            )
        lines.extend(
            f"  ratio of {f.name!r} is to {f.baseline!r}"
            for f in self.figures.values()
            if self.ratio(f.name) is not None
        )
        lines.extend(self.notes)
        return "\n".join(lines)

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"results-{time.strftime('%Y%m%dT%H%M%S')}.json"
        data = {
            name: {**asdict(f), "median": f.median, "ratio_vs_raw": self.ratio(name)}
            for name, f in self.figures.items()
        }
        path.write_text(json.dumps({"figures": data, "notes": self.notes}, indent=2))
        return path


def repeated(repeats: int, run: Callable[[Infra, Path], Coroutine[Any, Any, None]]) -> None:
    """``run`` ``repeats`` times on the same infrastructure, each in a fresh event loop, with a
    scratch directory."""
    logging.basicConfig(level=logging.WARNING)
    with provide_infra() as infra, tempfile.TemporaryDirectory() as tmp:
        for n in range(repeats):
            print(f"run {n + 1}/{repeats} ...", flush=True)
            asyncio.run(run(infra, Path(tmp)))


def finish(report: Report, directory: str) -> int:
    """Print the report and save it under ``var/<directory>``."""
    print()
    print(report.render())
    print(f"\nsaved {report.save(REPO / 'var' / directory).relative_to(REPO)}")
    return 0


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"
