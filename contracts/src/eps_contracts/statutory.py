"""Events of the statutory advice bounded context (filled in by the statutory work)."""

from __future__ import annotations
