"""HTTP entrypoints of the scheduling service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/scheduling", tags=["scheduling"])
