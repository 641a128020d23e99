"""The planner's report: figures per rule and seed as CSV, and an HTML page of SVG charts.

The charts are matplotlib's, rendered to SVG and put in the page as they are (no script, no
network), so the page opens anywhere and can be attached to a board paper.
"""

from __future__ import annotations

import csv
import html
import io
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt
from eps_scheduling.domain.model import BookingRule

from tools.capacity.simulation import Result, Week

LABELS = {
    BookingRule.FIRST_FREE: "first come first served",
    BookingRule.DEADLINE_AWARE: "deadline-aware (the service's policy)",
}
WEEKS = "week of the school year (week 1 holds 1 September)"
COLOURS = {BookingRule.FIRST_FREE: "#d4351c", BookingRule.DEADLINE_AWARE: "#1d70b8"}


@dataclass(frozen=True, slots=True)
class Figures:
    """One simulated year's headline figures."""

    rule: str
    seed: int
    advice_requests: int
    advice_due_in_year: int
    on_time_share: float
    on_time_share_excluding_exceptions: float
    referrals: int
    first_contact_median_days: float
    first_contact_p90_days: float
    referrals_never_seen: int
    ep_utilisation: float
    incidents: int
    incident_response_median_hours: float
    incident_eps_short: int
    traded_income_pence: int
    waiting_at_year_end: int

    @classmethod
    def of(cls, result: Result) -> Figures:
        contact = sorted(result.days_to_first_contact())
        response = sorted(result.incident_hours())
        return cls(
            rule=str(result.rule),
            seed=result.seed,
            advice_requests=len(result.advice()),
            advice_due_in_year=len(result.advice_due()),
            on_time_share=round(result.on_time_share(), 4),
            on_time_share_excluding_exceptions=round(
                result.on_time_share(excluding_exceptions=True), 4
            ),
            referrals=len(result.referrals()),
            first_contact_median_days=statistics.median(contact) if contact else 0.0,
            first_contact_p90_days=percentile(contact, 0.9),
            referrals_never_seen=sum(1 for c in result.referrals() if c.first_contact_on is None),
            ep_utilisation=round(result.utilisation(), 4),
            incidents=len(result.incidents),
            incident_response_median_hours=round(statistics.median(response), 2)
            if response
            else 0.0,
            incident_eps_short=sum(short for _, _, short in result.incidents),
            traded_income_pence=result.traded_pence(),
            waiting_at_year_end=len(result.waiting),
        )


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(share * len(ordered)))])


def write_csv(results: Sequence[Result], out: Path) -> tuple[Path, Path]:
    """``figures.csv`` (one row per rule and seed) and ``weekly.csv`` (one per week too)."""
    figures_path, weekly_path = out / "figures.csv", out / "weekly.csv"
    rows = [asdict(Figures.of(r)) for r in results]
    with figures_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with weekly_path.open("w", newline="") as f:
        lines = csv.writer(f)
        lines.writerow(
            [
                "rule",
                "seed",
                "week_of",
                "waiting_referrals",
                "waiting_statutory",
                "open_advice",
                "booked_minutes",
                "capacity_minutes",
                "traded_pence",
            ]
        )
        for r in results:
            for w in r.weeks:
                lines.writerow(
                    [
                        r.rule,
                        r.seed,
                        w.monday.isoformat(),
                        w.waiting_referrals,
                        w.waiting_statutory,
                        w.open_advice,
                        w.booked_minutes,
                        w.capacity_minutes,
                        w.traded_pence,
                    ]
                )
    return figures_path, weekly_path


def by_rule(results: Sequence[Result]) -> dict[BookingRule, list[Result]]:
    grouped: dict[BookingRule, list[Result]] = {}
    for r in results:
        grouped.setdefault(r.rule, []).append(r)
    return grouped


def svg(figure: plt.Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def headline_chart(results: Sequence[Result]) -> str:
    """On-time share of statutory advice per rule: each seed a dot, the mean a bar."""
    figure, axes = plt.subplots(figsize=(7, 3.2))
    grouped = by_rule(results)
    for row, (rule, runs) in enumerate(grouped.items()):
        for offset, excluding in ((-0.17, False), (0.17, True)):
            shares = [100 * r.on_time_share(excluding_exceptions=excluding) for r in runs]
            y = row + offset
            axes.barh(y, statistics.mean(shares), height=0.3, color=COLOURS[rule], alpha=0.35)
            axes.scatter(shares, [y] * len(shares), color=COLOURS[rule], s=14, zorder=3)
            axes.hlines(y, min(shares), max(shares), color=COLOURS[rule], linewidth=2)
            axes.text(
                max(shares) + 1,
                y,
                f"{statistics.mean(shares):.0f}%"
                + (" without exceptions" if excluding else " all advice"),
                va="center",
                fontsize=8,
            )
    axes.set_yticks(range(len(grouped)), [LABELS[r] for r in grouped])
    axes.set_xlim(0, 125)
    axes.set_xlabel(f"statutory advice on time, % (each dot a seed; {len(results) // 2} seeds)")
    axes.axvline(100 * 2 / 3, color="#505a5f", linestyle=":", linewidth=1)
    axes.text(100 * 2 / 3, -0.6, " a third late", fontsize=7, color="#505a5f")
    return svg(figure)


def weekly_chart(results: Sequence[Result], what: str, title: str, ylabel: str) -> str:
    figure, axes = plt.subplots(figsize=(7, 3))
    for rule, runs in by_rule(results).items():
        weeks = list(range(1, len(runs[0].weeks) + 1))
        series = [[weekly_value(w, what) for w in r.weeks] for r in runs]
        mean = [statistics.fmean(values) for values in zip(*series, strict=True)]
        low = [min(values) for values in zip(*series, strict=True)]
        high = [max(values) for values in zip(*series, strict=True)]
        axes.plot(weeks, mean, color=COLOURS[rule], label=LABELS[rule])
        axes.fill_between(weeks, low, high, color=COLOURS[rule], alpha=0.15)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(WEEKS)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8)
    return svg(figure)


def weekly_value(week: Week, what: str) -> float:
    if what == "backlog":
        return float(week.waiting_referrals + week.waiting_statutory)
    if what == "utilisation":  # no EP time at all (the summer): no point, not 0%
        capacity = week.capacity_minutes
        return 100 * week.booked_minutes / capacity if capacity else math.nan
    return float(week.open_advice)


def cumulative_income_chart(results: Sequence[Result]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3))
    for rule, runs in by_rule(results).items():
        weeks = list(range(1, len(runs[0].weeks) + 1))
        totals = []
        for r in runs:
            running, series = r.sla_pence, []
            for w in r.weeks:
                running += w.traded_pence
                series.append(running / 100)
            totals.append(series)
        mean = [statistics.mean(v) for v in zip(*totals, strict=True)]
        axes.plot(weeks, mean, color=COLOURS[rule], label=LABELS[rule])
    axes.set_title("Traded income, cumulative (SLAs sold, then spot time beyond them)", fontsize=10)
    axes.set_xlabel(WEEKS)
    axes.set_ylabel("GBP")
    axes.legend(fontsize=8)
    return svg(figure)


def distribution_chart(
    results: Sequence[Result], values_of: str, title: str, xlabel: str, limit: float
) -> str:
    figure, axes = plt.subplots(figsize=(7, 3))
    for rule, runs in by_rule(results).items():
        values = sorted(
            v
            for r in runs
            for v in (
                r.days_to_first_contact() if values_of == "first_contact" else r.incident_hours()
            )
        )
        if not values:
            continue
        share = [100 * (i + 1) / len(values) for i in range(len(values))]
        axes.step(values, share, where="post", color=COLOURS[rule], label=LABELS[rule])
    axes.set_xlim(0, limit)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("% within")
    axes.legend(fontsize=8)
    return svg(figure)


def table(results: Sequence[Result]) -> list[tuple[str, dict[BookingRule, str]]]:
    """The headline rows: mean (min to max over the seeds) per rule."""

    def spread(rule_runs: list[Result], value: Callable[[Result], float], fmt: str) -> str:
        values = [value(r) for r in rule_runs]
        return (
            f"{fmt.format(statistics.mean(values))} ({fmt.format(min(values))} to"
            f" {fmt.format(max(values))})"
        )

    grouped = by_rule(results)
    rows: list[tuple[str, Callable[[Result], float], str]] = [
        ("Statutory advice on time, all (%)", lambda r: 100 * r.on_time_share(), "{:.0f}"),
        (
            "Statutory advice on time, without exceptions (%)",
            lambda r: 100 * r.on_time_share(excluding_exceptions=True),
            "{:.0f}",
        ),
        (
            "Days to first contact, median",
            lambda r: Figures.of(r).first_contact_median_days,
            "{:.1f}",
        ),
        (
            "Days to first contact, 90th percentile",
            lambda r: Figures.of(r).first_contact_p90_days,
            "{:.0f}",
        ),
        ("EP utilisation (%)", lambda r: 100 * r.utilisation(), "{:.0f}"),
        (
            "Incident: hours to the first EP on site, median",
            lambda r: Figures.of(r).incident_response_median_hours,
            "{:.1f}",
        ),
        ("Traded income (GBP)", lambda r: r.traded_pence() / 100, "{:,.0f}"),
        ("Requests still waiting at the year's end", lambda r: len(r.waiting), "{:.0f}"),
    ]
    return [
        (name, {rule: spread(runs, value, fmt) for rule, runs in grouped.items()})
        for name, value, fmt in rows
    ]


def markdown_table(results: Sequence[Result]) -> str:
    rules = list(by_rule(results))
    lines = [
        "| figure | " + " | ".join(LABELS[r] for r in rules) + " |",
        "|---|" + "---|" * len(rules),
    ]
    for name, cells in table(results):
        lines.append(f"| {name} | " + " | ".join(cells[r] for r in rules) + " |")
    return "\n".join(lines)


def write_html(results: Sequence[Result], out: Path, command: str, seconds: float) -> Path:
    scenario = results[0].scenario
    rules = list(by_rule(results))
    head = "".join(f"<th>{html.escape(LABELS[r])}</th>" for r in rules)
    body = "".join(
        "<tr><th>"
        + html.escape(name)
        + "</th>"
        + "".join(f"<td>{html.escape(cells[r])}</td>" for r in rules)
        + "</tr>"
        for name, cells in table(results)
    )
    what_if = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (
            ("EP posts (vacancies)", f"{scenario.ep_posts} ({scenario.vacancies})"),
            ("schools", scenario.schools),
            ("demand multiplier", scenario.demand),
            ("requests for advice a year", f"{scenario.advice_requests:.0f}"),
            ("referrals a year", f"{scenario.referrals:.0f}"),
            ("critical incidents a year", f"{scenario.incidents:.0f}"),
            (
                "statutory share of each week (deadline-aware)",
                f"{scenario.statutory_share_percent}%",
            ),
            ("absence rate", f"{scenario.absence_rate:.0%}"),
            ("seeds", len(results) // len(rules)),
        )
    )
    charts = [
        ("Statutory advice on time", headline_chart(results)),
        (
            "Weekly backlog",
            weekly_chart(
                results,
                "backlog",
                "Requests waiting for a booking (mean, min-max band)",
                "requests",
            ),
        ),
        (
            "Open statutory advice",
            weekly_chart(
                results, "open_advice", "Statutory advice open at each week's end", "advice"
            ),
        ),
        (
            "Days to first contact",
            distribution_chart(
                results,
                "first_contact",
                "Referrals: days from referral to first contact",
                "days",
                90,
            ),
        ),
        (
            "EP utilisation",
            weekly_chart(results, "utilisation", "Diary time booked, % of EP time available", "%"),
        ),
        (
            "Critical incidents",
            distribution_chart(
                results, "incidents", "Hours from report to the first EP on site", "hours", 30
            ),
        ),
        ("Traded income", cumulative_income_chart(results)),
    ]
    sections = "".join(f"<h2>{html.escape(title)}</h2>{chart}" for title, chart in charts)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Capacity planner</title>
<style>body{{font-family:Arial,sans-serif;max-width:60em;margin:2em auto;color:#0b0c0c}}
table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #b1b4b6;padding:.3em .6em;
text-align:left}}svg{{max-width:100%;height:auto}}</style></head><body>
<h1>Capacity planner: {scenario.academic_year}/{scenario.academic_year + 1 - 2000}</h1>
<p>One academic year of the EP service simulated day by day with the services' own domain code,
under each booking rule on the same demand (the same seeds). Each figure is the mean over the
seeds, with the lowest and highest in brackets. {seconds:.0f} s to run:
<code>{html.escape(command)}</code>.</p>
<table>{what_if}</table>
<table><tr><th>figure</th>{head}</tr>{body}</table>
{sections}
<p>Figures as CSV: <a href="figures.csv">figures.csv</a> (each rule and seed),
<a href="weekly.csv">weekly.csv</a> (each week).</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
