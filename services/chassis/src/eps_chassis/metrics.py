"""Prometheus metrics shared by every service (labels: service, topic or event type)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "eps_events_consumed_total", "Events processed by a consumer", ["service", "event_type"]
)
EVENTS_DUPLICATE = Counter(
    "eps_events_duplicate_total", "Events skipped because already processed", ["service"]
)
EVENTS_IGNORED = Counter(
    "eps_events_ignored_total", "Events of a type this consumer does not handle", ["service"]
)
BATCHES_PREEMPTED = Counter(
    "eps_batches_preempted_total",
    "Routine batches rolled back to let critical-incident work go first",
    ["service"],
)
EVENTS_PUBLISHED = Counter(
    "eps_events_published_total", "Records published by the outbox relay", ["service", "topic"]
)
EVENTS_FAILED = Counter(
    "eps_events_failed_total", "Processing attempts that failed and will be retried", ["service"]
)
EVENTS_DEAD_LETTERED = Counter(
    "eps_events_dead_lettered_total", "Events sent to the dead-letter topic", ["service"]
)
HANDLER_LATENCY = Histogram(
    "eps_handler_latency_seconds",
    "Time to process one consumed batch, inbox to commit",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_LAG = Gauge(
    "eps_outbox_lag_seconds", "Age of the oldest unpublished outbox record", ["service"]
)
OUTBOX_PENDING = Gauge("eps_outbox_pending", "Unpublished outbox records", ["service"])
EVENTS_HELD_TOTAL = Counter(
    "eps_events_held_total",
    "Events held because they name something the service does not know yet",
    ["service"],
)
EVENTS_HELD = Gauge(
    "eps_held_events", "Events held now, waiting for data they name", ["service", "consumer"]
)
