"""Events of the critical-incident bounded context (filled in by the incidents work)."""

from __future__ import annotations
