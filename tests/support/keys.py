"""The keys service in a test: its settings (a KEK file of the tests') and a service's client of
it, bound to its in-process app, as a running service would reach it over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
from eps_chassis.auth import ensure_local_keys
from eps_chassis.data_keys import CachedDataKeys
from eps_chassis.key_client import HttpDataKeys, ServiceTokens
from eps_keys.adapters.kek import ensure_local_kek

from tests.support.infra import REPO, Infra
from tests.support.kafka import wait_until
from tests.support.services import KEYS_DIR, Namespace
from tests.support.system import free_port

TENANT = "leicester-city"


def keys_settings() -> dict[str, Any]:
    """``running(KEYS_SERVICE, ..., **keys_settings())``."""
    return {"keys_kek_file": ensure_local_kek(KEYS_DIR / "kek.key")}


def data_keys_of(
    keys_client: httpx.AsyncClient, service: str, ttl_s: float = 60.0
) -> CachedDataKeys:
    """What ``service`` uses to get keys from the keys service behind ``keys_client``."""
    private, _ = ensure_local_keys(KEYS_DIR)
    tokens = ServiceTokens(service, private)
    return CachedDataKeys(
        HttpDataKeys(keys_client, tokens, service=service, home_tenant=TENANT), ttl_s=ttl_s
    )


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "eps_keys"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.asynccontextmanager
async def keys_process(infra: Infra, ns: Namespace) -> AsyncIterator[dict[str, str]]:
    """The keys service as a process of its own (for a test that runs a service as a process):
    the settings a service needs to reach it (``EPS_KEYS_URL``, its credential)."""
    port = free_port()
    private, public = ensure_local_keys(KEYS_DIR)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "EPS_TOPIC_PREFIX": ns.topic_prefix,
        "EPS_DB_SCHEMA": ns.schema("keys"),
        "EPS_AUTH_PUBLIC_KEY_FILE": str(public),
        "EPS_HTTP_PORT": str(port),
        "EPS_LOG_LEVEL": "WARNING",
        "EPS_KEYS_KEK_FILE": str(keys_settings()["keys_kek_file"]),
    }
    process = _start(env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/health/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(ready, timeout_s=60, what="the keys service ready")
        yield {"EPS_KEYS_URL": url, "EPS_KEYS_SIGNING_KEY_FILE": str(private)}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def data_keys_at(settings: dict[str, str], service: str) -> CachedDataKeys:
    """What ``service`` (in the test's process) uses to get keys from a keys service process."""
    client = httpx.AsyncClient(base_url=settings["EPS_KEYS_URL"], timeout=10.0)
    return data_keys_of(client, service)
