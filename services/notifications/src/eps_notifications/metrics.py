"""Paging's own Prometheus metrics, in the chassis's conventions (``eps_`` names, a ``service``
label, few label values: never a person or an authority)."""

from __future__ import annotations

from prometheus_client import Gauge

WAITING = Gauge(
    "eps_notifications_waiting",
    "Messages not yet settled: pending (due or waiting to be retried), sending (an attempt in"
    " progress or in doubt), sent (accepted, delivery not yet reported by Notify)",
    ["service", "status"],
)
OLDEST_PENDING = Gauge(
    "eps_notifications_oldest_pending_seconds",
    "How long the oldest message still to be sent has waited since it was recorded (0: none)",
    ["service"],
)

WAITING_STATUSES = ("pending", "sending", "sent")
