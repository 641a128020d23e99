"""Time-driven work of the console: none. Its clocks count down in the page, from what the
board last rendered; breaches are the incidents service's to declare (and arrive as events)."""

from __future__ import annotations

from eps_chassis.jobs import PeriodicJob

from eps_console.settings import ConsoleSettings


def console_jobs(settings: ConsoleSettings) -> list[PeriodicJob]:
    return []
