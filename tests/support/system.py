"""The whole system for the system tests: all six services as separate processes, started by
``deploy/local/launcher.py`` exactly as `make run` starts them, on the real broker and database.

One system per test session, isolated from every other test by a topic prefix and its own
schemas, run at the suite clock (``EPS_TEST_NOW`` moves it; each process gets the same
``EPS_CLOCK_OFFSET_S``). Journeys keep out of each other's way by each acting for a local
authority of its own, and reach the system through its public entry points only: HTTP, and the
upstream topics an LA's own systems publish to.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import launcher
import standins
from eps_chassis.auth import Role, ensure_local_keys
from eps_chassis.service import ServiceDefinition, installed_services
from eps_contracts import Envelope, Event, envelope_for
from eps_contracts.local_authorities import LOCAL_AUTHORITIES
from eps_keys.adapters.kek import ensure_local_kek

from tests.support.clock import suite_now, suite_offset
from tests.support.dead_letters import original_value
from tests.support.infra import REPO, Infra
from tests.support.kafka import publish_raw, read_topic
from tests.support.services import KEYS_DIR, Namespace, bearer

LOG_ROOT = REPO / "var" / "test-system"
SHORT_INTERVALS = {
    # quicker than production, so that a journey waits seconds, not minutes
    "EPS_OUTBOX_POLL_INTERVAL_S": "0.2",
    "EPS_RETRY_BACKOFF_INITIAL_S": "0.05",
    "EPS_RETRY_BACKOFF_MAX_S": "1.0",
    "EPS_HELD_RELEASE_INTERVAL_S": "0.5",
    "EPS_RELAY_CLAIM_TIMEOUT_S": "5",
    "EPS_BILLING_FINALISE_INTERVAL_S": "1",
    "EPS_NOTIFICATIONS_SEND_INTERVAL_S": "0.2",
    "EPS_NOTIFICATIONS_STATUS_INTERVAL_S": "0.5",
    "EPS_NOTIFICATIONS_RETRY_FIRST_S": "0.5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class System:
    infra: Infra
    ns: Namespace
    log_dir: Path
    definitions: dict[str, ServiceDefinition]
    processes: dict[str, launcher.ServiceProcess] = field(default_factory=dict)
    replicas: list[launcher.ServiceProcess] = field(default_factory=list)
    offsets: dict[str, float] = field(default_factory=dict)
    # each service's port, chosen before any starts: the privacy service is told them all
    ports: dict[str, int] = field(default_factory=dict)
    # paging's far ends (deploy/local/standins), a process of their own on ports of the run's
    notify_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    paging_far_ends: subprocess.Popen[bytes] | None = None

    @property
    def sent_url(self) -> str:
        """What the Notify and SMTP stand-ins received, newest first (``{"sent": [...]}``)."""
        return f"http://127.0.0.1:{self.notify_port}/sent"

    # --- processes ------------------------------------------------------------------------

    def environment(self, name: str) -> dict[str, str]:
        _, public = ensure_local_keys(KEYS_DIR)
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "DATABASE_URL": self.infra.database_url,
            "EPS_AUTH_PUBLIC_KEY_FILE": str(public),
            "EPS_TOPIC_PREFIX": self.ns.topic_prefix,
            "EPS_DB_SCHEMA": self.ns.schema(name),
            "EPS_CLOCK_OFFSET_S": str(self.offsets.get(name, suite_offset().total_seconds())),
            "EPS_NOTIFY_BASE_URL": f"http://127.0.0.1:{self.notify_port}",
            "EPS_SMTP_PORT": str(self.smtp_port),
            # the keys service (children's data keys), asked by each service as itself
            "EPS_KEYS_URL": f"http://127.0.0.1:{self.port('keys')}",
            "EPS_KEYS_SIGNING_KEY_FILE": str(ensure_local_keys(KEYS_DIR)[0]),
            "EPS_KEYS_KEK_FILE": str(ensure_local_kek(KEYS_DIR / "kek.key")),
            "EPS_PRIVACY_SERVICES": json.dumps(
                {n: f"http://127.0.0.1:{self.port(n)}" for n in self.definitions if n != "privacy"}
            ),
            **SHORT_INTERVALS,
        }

    def port(self, name: str) -> int:
        return self.ports.setdefault(name, free_port())

    def start(self, name: str, *, replica: bool = False) -> launcher.ServiceProcess:
        definition = self.definitions[name]
        label = f"{name}-replica-{len(self.replicas) + 1}" if replica else name
        process = launcher.start_service(
            definition,
            port=free_port() if replica else self.port(name),
            environment=self.environment(name),
            log_dir=self.log_dir,
            log_name=label,
        )
        if replica:
            self.replicas.append(process)
        else:
            self.processes[name] = process
        return process

    def start_all(self) -> None:
        self.paging_far_ends = standins.launch(self.log_dir, self.notify_port, self.smtp_port)
        for name in self.definitions:
            self.start(name)
        self.wait_ready(list(self.processes.values()))

    def wait_ready(self, processes: list[launcher.ServiceProcess]) -> None:
        late = launcher.wait_ready(processes, timeout_s=120)
        if late:
            logs = {name: self.tail(name) for name in late}
            raise RuntimeError(f"not ready: {late}\n" + json.dumps(logs, indent=1))

    def restart(self, name: str, *, clock_ahead: timedelta = timedelta(0)) -> None:
        """Stop a service and start it again, its clock ``clock_ahead`` of the suite clock
        (time passes for it: a billing period closes, say) while the rest run on."""
        launcher.stop([self.processes[name]])
        self.offsets[name] = (suite_offset() + clock_ahead).total_seconds()
        self.wait_ready([self.start(name)])

    def stop_all(self) -> None:
        launcher.stop([*self.replicas, *self.processes.values()])
        if self.paging_far_ends is not None:
            self.paging_far_ends.terminate()
            self.paging_far_ends.wait()

    @contextlib.contextmanager
    def hung(self, process: launcher.ServiceProcess) -> Iterator[None]:
        """The process stops making progress (SIGSTOP) until the block ends: its sockets stay
        open, as a process stuck in a long pause or a deadlock would leave them."""
        os.kill(process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(process.pid, signal.SIGCONT)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- entry points ---------------------------------------------------------------------

    def client(self, name: str) -> httpx.AsyncClient:
        return self.client_of(self.processes[name])

    def client_of(self, process: launcher.ServiceProcess) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=process.url, timeout=30)

    async def publish_upstream(self, event: Event, *, tenant: str, system: str) -> Envelope[Any]:
        """Publish as an LA's own system would, on the upstream topic, at the suite clock."""
        envelope = envelope_for(
            event,
            source=f"/la/{tenant}/{system}",
            tenant=tenant,
            actor=f"upstream:{system}",
            time=suite_now(),
        )
        await publish_raw(
            self.infra.kafka_bootstrap,
            self.ns.topic(event.topic.name),
            [envelope.model_dump_json().encode()],
            key=envelope.subject.encode(),
        )
        return envelope

    async def dead_letters(self, service: str, *, tenant: str) -> list[dict[str, Any]]:
        """The events a service dead-lettered so far of one LA's, opened (dead letters are
        sealed) with the service's dead-letter keys from the keys service."""
        from tests.support.keys import data_keys_at  # it imports this module

        keys = data_keys_at({"EPS_KEYS_URL": f"http://127.0.0.1:{self.port('keys')}"}, service)
        records = await read_topic(
            self.infra.kafka_bootstrap, self.ns.topic(f"eps.dlq.{service}.v1")
        )
        decoded = [json.loads(await original_value(r, keys)) for r in records]
        return [e for e in decoded if e.get("tenant") == tenant]

    async def events(self, topic: str, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every event on a topic so far (of one LA's, when given), decoded."""
        records = await read_topic(self.infra.kafka_bootstrap, self.ns.topic(topic))
        decoded = [json.loads(r.value) for r in records]
        return [e for e in decoded if tenant is None or e.get("tenant") == tenant]


# the authorities the integration tests name are left to them
_UNUSED_AUTHORITIES = iter(
    la.id
    for la in LOCAL_AUTHORITIES
    if la.id not in {"leicester-city", "leicestershire", "rutland"}
)


@dataclass(frozen=True)
class La:
    """One local authority's people, for one journey: their bearer headers."""

    tenant: str

    @classmethod
    def new(cls, journey: str) -> La:
        """A local authority of the journey's own, so journeys never see each other's records:
        a real one (the services refuse any other), none the integration tests use by name."""
        tenant = next(_UNUSED_AUTHORITIES, None)
        if tenant is None:
            raise RuntimeError(f"no local authority left for the journey {journey!r}")
        return cls(tenant)

    def as_(
        self, role: Role, *, subject: str | None = None, school_urn: str | None = None
    ) -> dict[str, str]:
        return bearer(role, tenant=self.tenant, school_urn=school_urn, subject=subject)


def started_system(infra: Infra) -> System:
    ns = Namespace.new()
    log_dir = LOG_ROOT / ns.tag
    definitions = {d.name: d for d in installed_services()}
    system = System(infra=infra, ns=ns, log_dir=log_dir, definitions=definitions)
    try:
        system.start_all()
    except BaseException:
        system.stop_all()
        raise
    return system
