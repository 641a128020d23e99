from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.clock import AWKWARD_INSTANTS, suite_clock_at
from tests.support.infra import Infra, provide_infra
from tests.support.services import Namespace


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture(params=sorted(AWKWARD_INSTANTS))
def awkward_instant(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """Runs the test once at each awkward instant (night, Friday evening, the October clock
    change), with the suite clock, and so every service the test starts, moved there."""
    instant = AWKWARD_INSTANTS[request.param]
    with suite_clock_at(instant):
        yield instant


@pytest.fixture
async def ns(request: pytest.FixtureRequest) -> AsyncIterator[Namespace]:
    namespace = Namespace.new()
    yield namespace
    if "infra" in request.fixturenames:
        await _drop(request.getfixturevalue("infra"), namespace)


async def _drop(infra: Infra, namespace: Namespace) -> None:
    """Remove a test's topics and schemas: a long-lived local broker otherwise gathers tens of
    thousands of partitions over many runs and runs out of file descriptors."""
    with contextlib.suppress(Exception):  # tidying up; never a test failure
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if t.startswith(namespace.topic_prefix)]
            if topics:
                await admin.delete_topics(topics)
        finally:
            await admin.close()
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(infra.database_url)
        try:
            schemas = await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"%\\_{namespace.tag}"
            )
            for row in schemas:
                await conn.execute(f'DROP SCHEMA "{row["nspname"]}" CASCADE')
        finally:
            await conn.close()
