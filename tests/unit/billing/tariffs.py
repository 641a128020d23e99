"""The tariffs used by the billing unit tests: the same rules as the seed migration."""

from __future__ import annotations

from datetime import date
from typing import Any

from eps_billing.domain.tariff import Tariff

LEICESTER_RULES: dict[str, Any] = {
    "spot_units": [
        {"name": "hour", "minutes": 60, "pence": 15000},
        {"name": "half day", "minutes": 180, "pence": 40000},
        {"name": "day", "minutes": 360, "pence": 70000},
    ],
    "sla": {
        "day_minutes": 360,
        "day_pence": 65000,
        "min_days": 5,
        "max_days": 30,
        "carry_over": True,
    },
    "critical_incident": "free",
    "cancellation_full_charge_days": 14,
    "billing_period_months": 1,
    "grace_days": 5,
}
NOTTINGHAM_RULES: dict[str, Any] = {
    "spot_units": [{"name": "session", "minutes": 180, "pence": 39300}],
    "sla": {
        "day_minutes": 360,
        "day_pence": 78600,
        "min_days": 3,
        "max_days": 40,
        "carry_over": False,
    },
    "critical_incident": "traded",
    "billing_period_months": 3,
    "grace_days": 10,
}

LEICESTER = Tariff.from_rules(
    "leicester-city", date(2025, 9, 1), date(2026, 8, 31), LEICESTER_RULES
)
NOTTINGHAM = Tariff.from_rules(
    "nottingham-city", date(2025, 9, 1), date(2026, 8, 31), NOTTINGHAM_RULES
)
