"""The demo's way in: each service's HTTP API as a person with a role, and the upstream topics
as the LA's own systems publish to them. Nothing here touches a service's database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from eps_chassis.auth import issue_token
from eps_contracts import Event, envelope_for

T = TypeVar("T")

SERVICES = (
    "referrals",
    "consent",
    "scheduling",
    "incidents",
    "statutory",
    "billing",
    "notifications",
)


class DemoError(RuntimeError):
    """A step of the demo the services refused, or that did not happen in time."""


@dataclass
class Target:
    """Where the services are, and how to sign as the LA's people."""

    urls: Mapping[str, str]
    private_key: bytes
    kafka_bootstrap: str
    tenant: str
    topic_prefix: str = ""
    clock_offset: timedelta = timedelta(0)  # the services' clock ahead of the wall clock
    concurrency: int = 12
    startup_s: float = 120.0  # how long a service may take to be ready

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset


@dataclass
class Api:
    """HTTP clients for every service and a producer for the upstream topics, shared by the
    loader and the living mode. At most ``concurrency`` requests are in flight."""

    target: Target
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    producer: AIOKafkaProducer | None = None
    requests: Counter[str] = field(default_factory=Counter)  # made, by service
    _tokens: dict[tuple[str, str, str | None], tuple[str, float]] = field(default_factory=dict)
    _gate: asyncio.Semaphore | None = None
    _ready: set[str] = field(default_factory=set)

    async def __aenter__(self) -> Api:
        # a connection idle for uvicorn's keep-alive (5 s) is closed by the server, and one
        # reused just as it closes fails: let idle ones go sooner than that
        limits = httpx.Limits(max_connections=self.target.concurrency, keepalive_expiry=2.0)
        for name in SERVICES:
            self.clients[name] = httpx.AsyncClient(
                base_url=self.target.urls[name], timeout=30, limits=limits
            )
        self._gate = asyncio.Semaphore(self.target.concurrency)
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in self.clients.values():
            await client.aclose()
        if self.producer is not None:
            await self.producer.stop()

    def as_(self, role: str, subject: str, school_urn: str | None = None) -> dict[str, str]:
        key = (role, subject, school_urn)
        token, issued = self._tokens.get(key, ("", 0.0))
        if time.time() - issued > 3600:  # tokens last 8 hours; the living mode runs for days
            token = issue_token(
                self.target.private_key,
                subject=subject,
                role=role,
                tenant=self.target.tenant,
                school_urn=school_urn,
            )
            self._tokens[key] = (token, time.time())
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        json: Any = None,
        content: str | None = None,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> httpx.Response:
        """One request; a status outside ``ok`` is a DemoError naming what was refused."""
        assert self._gate is not None
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        await self.ready(service)  # make run starts loading while the services start
        self.requests[service] += 1
        for attempt in (1, 2, 3):
            try:
                async with self._gate:
                    response = await self.clients[service].request(
                        method, path, headers=headers, json=json, content=content, params=params
                    )
                break
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # the server closed a kept-alive connection as it was reused: the request was
                # not read, and every step here is safe to ask again (ids, look-before-acting)
                if attempt == 3:
                    raise
        if response.status_code not in ok:
            raise DemoError(f"{method} {service}{path}: {response.status_code} {response.text}")
        return response

    async def ready(self, service: str) -> None:
        """Wait until ``service`` is ready: its topics exist and its consumers run (publishing
        before would let the broker create a topic with its own defaults)."""
        if service in self._ready:
            return

        async def answered() -> bool:
            try:
                response = await self.clients[service].get("/health/ready")
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        await eventually(answered, f"{service} ready", timeout_s=self.target.startup_s)
        self._ready.add(service)

    async def publish(
        self, event: Event, *, system: str, event_id: uuid.UUID, read_by: str
    ) -> None:
        """Publish on an upstream topic as the LA's ``system`` does, with a stable event id
        (a replay is absorbed by the consumer's inbox), once ``read_by`` is ready."""
        await self.ready(read_by)
        if self.producer is None:
            self.producer = AIOKafkaProducer(
                bootstrap_servers=self.target.kafka_bootstrap, acks="all", enable_idempotence=True
            )
            await self.producer.start()
        tenant = self.target.tenant
        envelope = envelope_for(
            event,
            source=f"/la/{tenant}/{system}",
            tenant=tenant,
            actor=f"upstream:{system}",
            event_id=event_id,
            time=self.target.now(),
        )
        await self.producer.send_and_wait(
            self.target.topic_prefix + event.topic.name,
            envelope.model_dump_json().encode(),
            key=envelope.subject.encode(),
        )


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 60.0
) -> T:
    """Poll ``probe`` until it gives something; what the services do after an event takes a
    hop or two through Kafka."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2  # each probe is a request to a service that may be busy with the load itself
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)
