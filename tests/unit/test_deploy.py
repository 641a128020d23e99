"""docker-compose.yml cannot run here (no Docker engine), so check that it describes the system:
every service, started the same way, with the settings the services actually read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from eps_chassis.service import installed_services
from eps_chassis.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document["services"]


def setting_names() -> set[str]:
    names: set[str] = set()
    for name, field in ServiceSettings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.update(choices if choices else [f"EPS_{name.upper()}"])
    return names


def test_compose_names_every_service_and_nothing_else() -> None:
    declared = set(compose()) - {"kafka", "postgres"}
    assert declared == {d.name for d in installed_services()}


def test_every_service_runs_its_module_with_settings_it_reads() -> None:
    known = setting_names()
    for definition in installed_services():
        service = compose()[definition.name]
        assert service["command"] == ["python", "-m", f"eps_{definition.name}"]
        assert service["build"]["args"]["SERVICE"] == definition.name
        assert service["ports"] == [f"{definition.local_port}:8000"]
        env = service["environment"]
        unknown = set(env) - known
        assert not unknown, f"{definition.name} passes settings nobody reads: {unknown}"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert "EPS_AUTH_PUBLIC_KEY_FILE" in env or "EPS_AUTH_JWKS_URL" in env


def test_infrastructure_uses_official_images() -> None:
    assert compose()["kafka"]["image"].startswith("apache/kafka:4.1")
    assert compose()["postgres"]["image"].startswith("postgres:")
