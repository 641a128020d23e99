"""The local launcher's decisions that need no running server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import localinfra
import pytest


def config(tmp_path: Path) -> localinfra.InfraConfig:
    return localinfra.InfraConfig.from_env(tmp_path / "var", 1, 2, 3)


def test_cached_jars_are_used_without_maven_or_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EPS_CACHE_DIR", str(tmp_path / "cache"))
    digest = hashlib.sha256(localinfra.POM.read_bytes()).hexdigest()[:16]
    libs = tmp_path / "cache" / f"kafka-libs-{digest}"
    libs.mkdir(parents=True)
    (libs / ".complete").write_text(digest)
    monkeypatch.setattr(localinfra.shutil, "which", lambda _: None)  # no java, no mvn
    assert localinfra.ensure_kafka_jars(config(tmp_path)) == libs


def test_missing_java_or_maven_is_reported_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EPS_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(localinfra.shutil, "which", lambda _: None)
    with pytest.raises(localinfra.InfraError) as error:
        localinfra.ensure_kafka_jars(config(tmp_path))
    assert "\n" not in str(error.value)
    assert "apt-get install openjdk-17-jre-headless maven" in str(error.value)


def test_single_node_kraft_settings(tmp_path: Path) -> None:
    properties = localinfra._server_properties(config(tmp_path))
    assert "process.roles=broker,controller" in properties
    assert "controller.quorum.voters=1@127.0.0.1:2" in properties
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:1" in properties
    assert "offsets.topic.replication.factor=1" in properties
    assert "group.initial.rebalance.delay.ms=0" in properties


def test_addresses_follow_the_configured_ports(tmp_path: Path) -> None:
    c = config(tmp_path)
    assert c.kafka_bootstrap == "127.0.0.1:1"
    assert c.database_url == "postgresql://eps:eps@127.0.0.1:3/eps"
