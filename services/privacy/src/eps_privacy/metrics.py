"""The privacy service's gauges."""

from __future__ import annotations

from prometheus_client import Gauge

SUBJECT_ACCESS_OPEN = Gauge(
    "eps_privacy_subject_access_open",
    "Open subject access requests, by how soon they are due (due_soon, overdue, later).",
    ["service", "when"],
)
