"""Events of the billing bounded context (filled in by the billing work)."""

from __future__ import annotations
