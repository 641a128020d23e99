"""Where the tests get Kafka and PostgreSQL from, in this order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set (each independently);
2. testcontainers, when a Docker engine answers;
3. the project's local launcher (``deploy/local/localinfra.py``), started once per session on
   ports of its own so that it never collides with ``make run``.
The same tests run in every mode; only restarting the broker needs a mode that controls it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TEST_VAR_DIR = REPO / "var" / "test-infra"
TEST_KAFKA_PORT = 29092
TEST_KAFKA_CONTROLLER_PORT = 29093
TEST_PG_PORT = 25432


@dataclass
class Infra:
    kafka_bootstrap: str
    database_url: str
    mode: str
    stop_kafka: Callable[[], None] | None = None
    start_kafka: Callable[[], None] | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def can_restart_kafka(self) -> bool:
        return self.stop_kafka is not None and self.start_kafka is not None


def docker_engine_answers() -> bool:
    with contextlib.suppress(Exception):
        import docker

        return bool(docker.from_env(timeout=3).ping())
    return False


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if kafka and database:
        yield Infra(kafka, database, mode="environment")
        return
    with contextlib.ExitStack() as stack:
        if docker_engine_answers():
            infra = stack.enter_context(_containers(kafka, database))
        else:
            infra = stack.enter_context(_local(kafka, database))
        yield infra


@contextlib.contextmanager
def _containers(kafka: str | None, database: str | None) -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with contextlib.ExitStack() as stack:
        container = None
        if not kafka:
            container = stack.enter_context(KafkaContainer("apache/kafka:4.1.2").with_kraft())
            kafka = container.get_bootstrap_server()
        if not database:
            pg = stack.enter_context(PostgresContainer("postgres:17", driver=None))
            database = pg.get_connection_url()
        yield Infra(kafka, database, mode="testcontainers")


@contextlib.contextmanager
def _local(kafka: str | None, database: str | None) -> Iterator[Infra]:
    import localinfra as local  # deploy/local, on the test path

    settings: dict[str, Any] = dict(
        var_dir=TEST_VAR_DIR,
        kafka_port=TEST_KAFKA_PORT,
        controller_port=TEST_KAFKA_CONTROLLER_PORT,
        pg_port=TEST_PG_PORT,
    )
    started = local.up(**settings)
    infra = Infra(
        kafka or started.kafka_bootstrap,
        database or started.database_url,
        mode="local",
    )
    if not kafka:
        infra.stop_kafka = lambda: local.stop_kafka_only(**settings)
        infra.start_kafka = lambda: local.start_kafka_only(**settings)
    try:
        yield infra
    finally:
        if os.environ.get("EPS_TEST_KEEP_INFRA") != "1":
            local.down(**settings)
