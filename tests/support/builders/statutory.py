"""Valid statutory advice payloads, for tests."""

from __future__ import annotations

ADVICE_HEADINGS = (
    "summary",
    "professionals_involved",
    "basis_of_assessment",
    "background",
    "child_views",
    "parent_views",
    "needs",
    "outcomes",
    "provision",
)


def advice_document() -> dict[str, str]:
    """Psychological advice with every heading written, naming no school (as JSON for HTTP)."""
    return {h: f"The {h.replace('_', ' ')}, as the EP found it." for h in ADVICE_HEADINGS}
