"""A service starts on its own: it never waits for another service to create a topic it reads.

Incidents reads paging's outcomes (``eps.notifications.notification.v1``) beside the fast track;
a deployment where notifications has not started yet, or does not run, must still page nobody
and fast-track everything. The topics a service reads are declared by the contracts (name and
partitions), so the service creates any that is missing exactly as its owner would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from eps_chassis.service import ServiceRuntime, create_app
from eps_contracts.notifications import NOTIFICATIONS
from eps_incidents.bootstrap import SERVICE as INCIDENTS

from tests.support.clock import suite_clock
from tests.support.infra import Infra
from tests.support.services import Namespace, settings_for

pytestmark = pytest.mark.integration


async def partitions(infra: Infra, name: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([name])
    finally:
        await admin.close()
    if described.get("error_code"):
        return None
    return len(described["partitions"])


async def test_incidents_starts_its_consumers_before_any_other_service_has_run(
    infra: Infra, ns: Namespace
) -> None:
    settings = settings_for(infra, ns, "incidents", INCIDENTS.settings)
    app = create_app(INCIDENTS.define(settings), settings, suite_clock())
    runtime: ServiceRuntime[Any] = app.state.runtime
    await runtime.start()  # no topic of this namespace exists: nobody else has started
    try:
        async with asyncio.timeout(60):
            await runtime.broker_ready.wait()
    finally:
        await runtime.stop()
    consumed = runtime.consumed_topics()
    assert NOTIFICATIONS in consumed
    for topic in consumed:
        assert await partitions(infra, ns.topic(topic.name)) == topic.partitions, topic.name
