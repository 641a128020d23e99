"""HTTP entrypoints of the statutory service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/statutory", tags=["statutory"])
