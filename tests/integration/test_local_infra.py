"""The local launcher (deploy/local/localinfra.py) runs a real Kafka and PostgreSQL without Docker.

It starts its own pair on throwaway ports and var dir, so it never touches `make run`
(19092/15432), the test session's infra (29092/25432) or the benchmarks (39092/35432).
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VAR_DIR = REPO / "var" / "test-local-infra"
PORTS = {"kafka_port": 28092, "controller_port": 28093, "pg_port": 28432}


def load_launcher() -> ModuleType:
    """As the fixtures may: straight from the file path, not registered in sys.modules."""
    spec = importlib.util.spec_from_file_location(
        "localinfra_under_test", REPO / "deploy" / "local" / "localinfra.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def launcher() -> Iterator[ModuleType]:
    module = load_launcher()
    shutil.rmtree(VAR_DIR, ignore_errors=True)  # a fresh var dir: format and initdb included
    try:
        yield module
    finally:
        module.down(VAR_DIR, **PORTS)  # whatever the test left running


async def round_trip(bootstrap: str) -> bytes:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = f"localinfra-{uuid.uuid4().hex[:12]}"  # auto-created on first produce
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert record.value is not None
    return record.value


async def select_one(database_url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        return int(await connection.fetchval("SELECT 1"))
    finally:
        await connection.close()


def test_up_serves_kafka_and_postgres_then_down_stops_both(
    launcher: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    infra = launcher.up(VAR_DIR, **PORTS)
    assert infra.kafka_bootstrap == "127.0.0.1:28092"
    assert infra.database_url == "postgresql://eps:eps@127.0.0.1:28432/eps"

    assert asyncio.run(round_trip(infra.kafka_bootstrap)) == b"hello"
    assert asyncio.run(select_one(infra.database_url)) == 1

    config = launcher.InfraConfig.from_env(VAR_DIR, **PORTS)
    kafka_pid = launcher.kafka_pid(config)
    postgres_pid = launcher.postgres_pid(config)
    assert kafka_pid is not None and postgres_pid is not None
    assert (launcher.kafka_libs_dir(config) / launcher.JARS_MARKER).exists()

    # A second up() finds both running: no Maven (hidden from PATH), no server program, quick.
    monkeypatch.setattr(
        launcher.shutil, "which", lambda tool: None if tool == "mvn" else shutil.which(tool)
    )
    assert launcher.ensure_kafka_jars(config) == launcher.kafka_libs_dir(config)
    programs: list[str] = []
    real_popen = subprocess.Popen

    class SpyPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: list[str], *rest: object, **kwargs: object) -> None:
            programs.append(Path(str(args[0])).name)
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", SpyPopen)
    started = time.monotonic()
    again = launcher.up(VAR_DIR, **PORTS)
    assert (again.kafka_bootstrap, again.database_url) == (
        infra.kafka_bootstrap,
        infra.database_url,
    )
    assert again.started == ()  # so `make run` leaves them running when it stops
    elapsed = time.monotonic() - started
    monkeypatch.undo()
    assert not {"java", "mvn", "pg_ctl", "initdb", "postgres"} & set(programs), programs
    assert elapsed < 10, f"a no-op up() took {elapsed:.1f}s"
    assert launcher.kafka_pid(config) == kafka_pid
    assert launcher.postgres_pid(config) == postgres_pid

    states = launcher.status(config)
    assert states["kafka"].answering and states["postgres"].answering

    launcher.down(VAR_DIR, **PORTS)
    assert not launcher._alive(kafka_pid)
    assert not launcher._alive(postgres_pid)
    assert launcher.kafka_pid(config) is None and launcher.postgres_pid(config) is None
    assert not launcher._port_in_use(PORTS["kafka_port"])
    assert not launcher._port_in_use(PORTS["pg_port"])
    launcher.down(VAR_DIR, **PORTS)  # idempotent


def test_cli_env_prints_the_two_addresses() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "local" / "localinfra.py"), "env"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "EPS_KAFKA_PORT": "28092", "EPS_PG_PORT": "28432"},
        check=True,
    )
    assert result.stdout.splitlines() == [
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:28092",
        "DATABASE_URL=postgresql://eps:eps@127.0.0.1:28432/eps",
    ]
