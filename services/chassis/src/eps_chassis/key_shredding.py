"""Every service forgets a shredded key at once: it listens to ``eps.keys.child-keys.v1`` (no
consumer group, read whole from the start: one small record per erased child) and drops its
cached copy of each key the keys service shreds (``ChildKeyShredded``). Without it a copy would
live at most ``EPS_KEYS_CACHE_TTL_S``."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from eps_contracts import Envelope
from eps_contracts.keys import CHILD_KEYS, ChildKeyShredded

from eps_chassis.data_keys import DataKeys
from eps_chassis.logging import get_logger
from eps_chassis.retry import Backoff

log = get_logger()


async def forget_shredded_keys(
    bootstrap_servers: str, topic_prefix: str, keys: DataKeys, backoff: Backoff
) -> None:
    """Runs until cancelled: each key shredded is forgotten by ``keys``."""
    while True:
        consumer = AIOKafkaConsumer(
            topic_prefix + CHILD_KEYS.name,
            bootstrap_servers=bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
            backoff.reset()
            async for record in consumer:
                try:
                    event = Envelope[ChildKeyShredded].model_validate_json(record.value or b"")
                except ValueError:
                    continue  # not ours to judge: the keys service publishes only these
                keys.forget(event.tenant, uuid.UUID(str(event.data.child_id)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker away: listen again, the cache's TTL covers it
            log.warning("listening for shredded keys failed; again shortly", error=repr(exc))
            await backoff.sleep()
        finally:
            await consumer.stop()
