"""Kafka entrypoints of the statutory service."""

from __future__ import annotations
