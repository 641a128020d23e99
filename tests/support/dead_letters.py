"""A dead letter's original bytes, as a test reads them back: opened with the dead-letter key
of the test's keys (``eps_chassis.dead_letters`` seals them)."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import ConsumerRecord
from eps_chassis.data_keys import DataKeys
from eps_chassis.dead_letters import open_dead_letter


async def original_value(record: ConsumerRecord, keys: DataKeys) -> bytes:
    """The original value of a dead letter read from its topic."""
    opened = await open_dead_letter(record.value, list(record.headers), keys)
    assert opened is not None, "the dead letter's key was destroyed"
    return opened


async def original_value_of_row(row: Any, keys: DataKeys) -> bytes:
    """The original value of a dead letter still in the outbox (headers stored as hex)."""
    headers = [(k, bytes.fromhex(v)) for k, v in json.loads(row["headers"])]
    opened = await open_dead_letter(bytes(row["value"]), headers, keys)
    assert opened is not None, "the dead letter's key was destroyed"
    return opened
