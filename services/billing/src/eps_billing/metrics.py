"""Billing's own Prometheus metrics, in the chassis's conventions (``eps_`` names, a
``service`` label, few label values: never a school or an authority)."""

from __future__ import annotations

from prometheus_client import Gauge

UNPRICED = Gauge(
    "eps_billing_unpriced",
    "Delivered time, late cancellations and SLAs held because they cannot be priced yet",
    ["service", "item", "reason"],
)
UNPRICED_OLDEST = Gauge(
    "eps_billing_unpriced_oldest_seconds",
    "How long the oldest item held unpriced has waited (0 when none)",
    ["service", "item", "reason"],
)

ITEMS = ("delivery", "late_cancellation", "agreement")
"""What can be held: delivered time, an unjudged cancellation, an SLA."""
