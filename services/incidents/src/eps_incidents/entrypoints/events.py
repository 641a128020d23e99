"""Kafka entrypoints of the incidents service."""

from __future__ import annotations
