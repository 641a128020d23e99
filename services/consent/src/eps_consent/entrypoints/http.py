"""HTTP entrypoints of the consent service (decisions arrive in the consent issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/consent", tags=["consent"])
