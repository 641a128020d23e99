"""Every line a service process writes is JSON, and a broker outage costs a few lines, not
thousands: a service started as `make run` starts it (``deploy/local/launcher.py``), on a
broker of its own that the test stops, or on a port where no broker listens at all."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import launcher
import localinfra
import pytest
from eps_chassis.auth import ensure_local_keys
from eps_chassis.service import ServiceDefinition, ensure_topics
from eps_contracts import all_topics
from eps_referrals.bootstrap import SERVICE as REFERRALS

from tests.support.infra import Infra
from tests.support.services import KEYS_DIR, Namespace
from tests.support.system import free_port

pytestmark = pytest.mark.integration

OUTAGE_S = 8.0
REPEAT_INTERVAL_S = 3.0  # so that a repeat passes, with its count, within the outage


def environment(infra: Infra, ns: Namespace, bootstrap: str, **settings: str) -> dict[str, str]:
    _, public = ensure_local_keys(KEYS_DIR)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": infra.database_url,
        "EPS_AUTH_PUBLIC_KEY_FILE": str(public),
        "EPS_TOPIC_PREFIX": ns.topic_prefix,
        "EPS_DB_SCHEMA": ns.schema("referrals"),
        "EPS_LOG_REPEAT_INTERVAL_S": str(REPEAT_INTERVAL_S),
        **settings,
    }


def referrals() -> ServiceDefinition:
    return REFERRALS.definition()


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Each line of the process's stdout and stderr, parsed; fails naming the first that is
    not a JSON object (and how many are not)."""
    lines = log.read_text(errors="replace").splitlines()
    parsed: list[dict[str, Any]] = []
    plain: list[str] = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            parsed.append(value)
        else:
            plain.append(line)
    assert lines, f"{log} is empty"
    assert not plain, f"{len(plain)} of {len(lines)} lines are not JSON, e.g. {plain[:3]}"
    return parsed


def connection_errors(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Kafka client's warnings and errors (connections refused, metadata unreachable,
    fetches and coordinators failed)."""
    return [
        line
        for line in lines
        if str(line.get("logger", "")).startswith("aiokafka")
        and line.get("level") in ("warning", "error")
    ]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[localinfra.InfraConfig]:
    """A broker of this test's own (stopping the session's would stop every other test's)."""
    config = localinfra.InfraConfig.from_env(
        tmp_path / "infra", kafka_port=free_port(), controller_port=free_port()
    )
    localinfra.start_kafka(config)
    try:
        yield config
    finally:
        localinfra.stop_kafka(config, quiet=True)


async def test_a_broker_outage_is_logged_in_json_in_a_few_lines(
    infra: Infra, ns: Namespace, broker: localinfra.InfraConfig, tmp_path: Path
) -> None:
    await ensure_topics(broker.kafka_bootstrap, all_topics(), ns.topic_prefix)
    process = launcher.start_service(
        referrals(),
        port=free_port(),
        environment=environment(infra, ns, broker.kafka_bootstrap),
        log_dir=tmp_path,
    )
    try:
        assert launcher.wait_ready([process], timeout_s=90) == [], process.log.read_text()
        correlation = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=process.url) as client:
            response = await client.get("/health/live", headers={"X-Correlation-Id": correlation})
        assert response.status_code == 200
        localinfra.stop_kafka(broker, quiet=True)
        outage_began = time.time()  # the lines' timestamps are the wall clock's
        await asyncio.sleep(OUTAGE_S)
    finally:
        launcher.stop([process])

    lines = json_lines(process.log)
    assert {line.get("service") for line in lines} == {"referrals"}
    assert all({"event", "level", "timestamp", "logger"} <= set(line) for line in lines)
    [access] = [line for line in lines if line.get("full_path") == "/health/live"]
    assert access["logger"] == "uvicorn.access" and access["status"] == 200
    assert access["correlation_id"] == correlation  # the request's context, as our own lines

    errors = connection_errors(lines)
    during = [e for e in errors if _epoch(e["timestamp"]) >= outage_began]
    per_message = Counter(e["event"] for e in during)
    # once per interval each: the first, and one (with its count) per interval since
    most = int(OUTAGE_S / REPEAT_INTERVAL_S) + 2
    assert per_message and max(per_message.values()) <= most, per_message
    assert len(during) <= 40, per_message  # thousands before (over 6,000 a minute)
    counted = [e["repeats_suppressed"] for e in errors if "repeats_suppressed" in e]
    assert counted and max(counted) > 10, "the lines held back are counted on the next"


async def test_no_broker_at_all_nothing_but_json_and_a_few_lines(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    """Started with no broker listening: the service waits for it (answering HTTP), and says
    so in JSON, a line per retry at most."""
    process = launcher.start_service(
        referrals(),
        port=free_port(),
        environment=environment(infra, ns, f"127.0.0.1:{free_port()}"),
        log_dir=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _answers(process):
            await asyncio.sleep(0.25)
        assert _answers(process), process.log.read_text()
        await asyncio.sleep(5)
    finally:
        launcher.stop([process])
    lines = json_lines(process.log)
    assert [line for line in lines if line["event"].startswith("Uvicorn running on")]
    assert len(connection_errors(lines)) <= 20


async def test_a_service_that_cannot_start_says_why_in_json(
    infra: Infra, ns: Namespace, tmp_path: Path
) -> None:
    """An uncaught exception at startup (here, a key file that is not there) is a JSON line
    with the traceback in it, not a bare traceback on stderr."""
    missing = tmp_path / "no-such-key.pem"
    process = launcher.start_service(
        referrals(),
        port=free_port(),
        environment=environment(
            infra, ns, f"127.0.0.1:{free_port()}", EPS_AUTH_PUBLIC_KEY_FILE=str(missing)
        ),
        log_dir=tmp_path,
    )
    assert process.process.wait(timeout=60) != 0
    [line] = [line for line in json_lines(process.log) if line["level"] == "critical"]
    assert line["event"] == "uncaught exception"
    assert "FileNotFoundError" in line["exception"] and str(missing) in line["exception"]


def _answers(process: launcher.ServiceProcess) -> bool:
    try:
        return httpx.get(f"{process.url}/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
