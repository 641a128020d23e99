"""Run services in-process against the real broker and database, isolated per test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient
from eps_chassis.auth import Role, ensure_local_keys, issue_token
from eps_chassis.clock import Clock
from eps_chassis.data_keys import DataKeys, InMemoryDataKeys
from eps_chassis.sealing import Sealer
from eps_chassis.service import (
    Service,
    ServiceRuntime,
    create_app,
    ensure_topics,
)
from eps_chassis.settings import ServiceSettings
from eps_contracts import all_topics
from eps_keys.adapters.kek import ensure_local_kek

from tests.support.clock import suite_clock
from tests.support.infra import REPO, Infra

KEYS_DIR = REPO / "var" / "test-keys"
S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Namespace:
    """A per-test topic prefix and schema suffix, so tests never see each other's data; and the
    test's children's data keys, shared by the services it starts (in place of the keys
    service, which a test of erasure starts itself: ``running(..., data_keys=...)``)."""

    tag: str
    data_keys: InMemoryDataKeys = field(default_factory=InMemoryDataKeys, compare=False)

    @classmethod
    def new(cls) -> Namespace:
        return cls(f"t{uuid.uuid4().hex[:10]}")

    @property
    def topic_prefix(self) -> str:
        return f"{self.tag}."

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def schema(self, service: str) -> str:
        return f"{service}_{self.tag}"

    def group(self, service: str, consumer: str) -> str:
        return f"{self.topic_prefix}{service}.{consumer}"


def settings_for(
    infra: Infra,
    ns: Namespace,
    service: str,
    settings: type[S],
    **overrides: Any,
) -> S:
    _, public = ensure_local_keys(KEYS_DIR)
    values: dict[str, Any] = dict(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=infra.database_url,
        topic_prefix=ns.topic_prefix,
        db_schema=ns.schema(service),
        auth_public_key_file=public,
        outbox_poll_interval_s=0.2,
        retry_backoff_initial_s=0.05,
        retry_backoff_max_s=1.0,
        publish_timeout_s=5.0,
        # the keys service's KEK (other services ignore it): the tests' own, made once
        keys_kek_file=ensure_local_kek(KEYS_DIR / "kek.key"),
    )
    values.update(overrides)
    return settings(**values)


def token(
    role: Role,
    *,
    tenant: str = "leicester-city",
    school_urn: str | None = None,
    subject: str | None = None,
) -> str:
    """A bearer token for ``role`` (subject ``test-<role>`` unless given)."""
    private, _ = ensure_local_keys(KEYS_DIR)
    return issue_token(
        private.read_bytes(),
        subject=subject or f"test-{role}",
        role=role,
        tenant=tenant,
        school_urn=school_urn,
    )


async def create_topics(infra: Infra, ns: Namespace) -> None:
    """Every topic of the platform in the test's namespace: a service waits for the topics it
    consumes to be created by their owners, and a test that starts it alone stands in for them."""
    await ensure_topics(infra.kafka_bootstrap, all_topics(), ns.topic_prefix)


def bearer(
    role: Role,
    *,
    tenant: str = "leicester-city",
    school_urn: str | None = None,
    subject: str | None = None,
) -> dict[str, str]:
    """The ``Authorization`` header of a caller with ``role`` (see :func:`token`): the one way
    tests build it."""
    bearer_token = token(role, tenant=tenant, school_urn=school_urn, subject=subject)
    return {"Authorization": f"Bearer {bearer_token}"}


async def get_json_or_none(
    client: httpx.AsyncClient, path: str, role: Role
) -> dict[str, Any] | None:
    """What ``path`` answers a caller with ``role``: its JSON object, or None for a 404 (not
    there yet); any other status fails the test."""
    response = await client.get(path, headers=bearer(role))
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextlib.asynccontextmanager
async def running(
    service: Service[Any],
    infra: Infra,
    ns: Namespace,
    *,
    clock: Clock | None = None,
    data_keys: DataKeys | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[ServiceRuntime[Any], httpx.AsyncClient]]:
    """Start a service (database, relay, consumers, jobs) and give an HTTP client bound to it.

    Its settings are the test's infrastructure and namespace, with ``overrides`` (the service's
    own settings too: ``running(SERVICE, ..., held_release_interval_s=0.2)``); its clock is the
    suite clock (``tests.support.clock``) unless the test gives its own; its data keys the
    test's (``ns.data_keys``) unless it gives others (a client of a keys service it runs)."""
    name = service.definition().name
    settings = settings_for(infra, ns, name, service.settings, **overrides)
    definition = service.define(settings)
    await create_topics(infra, ns)
    app = create_app(definition, settings, clock or suite_clock())
    runtime: ServiceRuntime[Any] = app.state.runtime
    if settings.keys_url is None:
        runtime.sealer = Sealer(data_keys if data_keys is not None else ns.data_keys)
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.broker_ready.wait(), 60)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield runtime, client
    finally:
        await runtime.stop()


def module_path(module: str) -> Path:
    return REPO / module


async def drop_namespace(infra: Infra, namespace: Namespace) -> None:
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
