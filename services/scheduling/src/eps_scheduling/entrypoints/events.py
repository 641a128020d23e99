"""Kafka entrypoints of the scheduling service."""

from __future__ import annotations
