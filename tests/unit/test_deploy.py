"""docker-compose.yml cannot run here (no Docker engine), so check that it describes the system:
every service, started the same way, with the settings the services actually read; a Kafka
every client can reach (on the compose network and from the host); no file mounted that a
fresh clone does not have or the compose set-up does not make; health checks, and services
that start once what they need is healthy. The file is also validated against the Compose
specification's schema by a maintained linter (dclint, ``deploy/docker/compose-check``)."""

from __future__ import annotations

import subprocess
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from eps_chassis.auth import ensure_local_keys
from eps_chassis.service import installed_services
from eps_chassis.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_CHECK = REPO / "deploy" / "docker" / "compose-check"
INFRASTRUCTURE = {"kafka", "postgres"}
LOOPBACK = {"127.0.0.1", "localhost"}


def compose_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def compose() -> dict[str, Any]:
    services: dict[str, Any] = compose_document()["services"]
    return services


def one_shots() -> set[str]:
    """Services that run once and exit (they make something the others need)."""
    return {name for name, s in compose().items() if str(s.get("restart")) == "no"}


def setting_names(settings: type[ServiceSettings] = ServiceSettings) -> set[str]:
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.update(choices if choices else [f"EPS_{name.upper()}"])
    return names


def published(service: dict[str, Any]) -> dict[int, int]:
    """Each published port: host port -> container port ("[address:]host:container")."""
    ports: dict[int, int] = {}
    for mapping in service.get("ports", []):
        *address, host, container = str(mapping).split(":")
        assert address in ([], ["127.0.0.1"]), f"{mapping}: published beyond this machine"
        ports[int(host)] = int(container)
    return ports


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """Kafka's listener list ("NAME://host:port,...") by name."""
    found: dict[str, tuple[str, int]] = {}
    for item in value.split(","):
        name, address = item.split("://")
        host, port = address.rsplit(":", 1)
        found[name] = (host, int(port))
    return found


def test_compose_names_every_service_and_nothing_else() -> None:
    declared = set(compose()) - INFRASTRUCTURE - one_shots()
    assert declared == {d.name for d in installed_services()}


def test_every_service_runs_its_module_with_settings_it_reads() -> None:
    settings = {ep.name: ep.load().settings for ep in entry_points(group="eps.services")}
    for definition in installed_services():
        known = setting_names(settings[definition.name])  # the chassis's and its own
        service = compose()[definition.name]
        assert service["command"] == ["python", "-m", f"eps_{definition.name}"]
        assert service["build"]["args"]["SERVICE"] == definition.name
        env = service["environment"]
        assert published(service) == {definition.local_port: int(env["EPS_HTTP_PORT"])}
        unknown = set(env) - known
        assert not unknown, f"{definition.name} passes settings nobody reads: {unknown}"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert "EPS_AUTH_PUBLIC_KEY_FILE" in env or "EPS_AUTH_JWKS_URL" in env


def test_kafka_tells_each_client_an_address_it_can_reach() -> None:
    """A broker answers every client with the advertised address of the listener it came in
    on: the services on the compose network must be told a name that resolves there
    (kafka:<port>), a client on the host the port published for that listener."""
    kafka = compose()["kafka"]
    env = {k: str(v) for k, v in kafka["environment"].items()}
    listening = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controllers = set(env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(","))
    assert set(listening) <= set(protocols), "a listener without a security protocol"
    assert set(advertised) == set(listening) - controllers, "every client listener advertised"
    assert env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT") in advertised
    ports = published(kafka)
    for name, (host, port) in advertised.items():
        if host == "kafka":  # the compose service's name: the services' network
            assert port == listening[name][1], f"{name}: advertised {port}, listens elsewhere"
        else:
            assert host in LOOPBACK, f"{name}: {host} resolves neither in compose nor on the host"
            assert ports.get(port) == listening[name][1], (
                f"{name} is advertised as {host}:{port}, which is not published to it"
            )
    for host_port, container_port in ports.items():
        [name] = [n for n, (_, p) in listening.items() if p == container_port]
        assert advertised.get(name) in {(h, host_port) for h in LOOPBACK}, (
            f"port {host_port} reaches listener {name}, which tells the host {advertised.get(name)}"
        )
    internal = {f"{h}:{p}" for h, p in advertised.values() if h == "kafka"}
    for definition in installed_services():
        bootstrap = compose()[definition.name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
        assert bootstrap in internal
    assert any(host in LOOPBACK for host, _ in advertised.values()), "no address for the host"


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume of a service (short syntax)."""
    found = []
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        found.append((source, target, mode == ["ro"]))
    return found


def tracked(path: str) -> bool:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--", path], capture_output=True, text=True
    )
    return listed.returncode == 0 and bool(listed.stdout.strip())


def test_every_mounted_file_is_in_the_repository_or_made_by_compose() -> None:
    """A fresh clone has no var/ (what `make run` makes): a service may mount what the
    repository holds, or a volume that a one-shot service of the file fills first."""
    services = compose()
    volumes = set(compose_document().get("volumes") or {})
    writers = {
        source: name
        for name, s in services.items()
        for source, _, read_only in mounts(s)
        if name in one_shots() and not read_only
    }
    for name, service in services.items():
        for source, _, read_only in mounts(service):
            if source.startswith((".", "/")):
                assert tracked(source), f"{name} mounts {source}, which a clone does not have"
                continue
            assert source in volumes, f"{name} mounts the undeclared volume {source}"
            if name in one_shots():
                continue
            assert read_only, f"{name} may change {source}, made for it by {writers.get(source)}"
            writer = writers.get(source)
            assert writer, f"nothing in the file fills {source} before {name} mounts it"
            assert service["depends_on"][writer]["condition"] == "service_completed_successfully"


def test_the_signing_key_the_services_read_is_the_one_the_keys_service_makes(
    tmp_path: Path,
) -> None:
    """`signing-keys` runs the chassis's own key tooling into the volume; the file each service
    is told to read is the public key that tooling writes, where the volume is mounted."""
    keys = compose()["signing-keys"]
    command = keys["command"]
    assert command[:3] == ["python", "-m", "eps_chassis.auth"]
    directory = command[command.index("--keys") + 1]
    assert directory in {target for _, target, _ in mounts(keys)}
    public_name = ensure_local_keys(tmp_path)[1].name
    for definition in installed_services():
        service = compose()[definition.name]
        assert service["environment"]["EPS_AUTH_PUBLIC_KEY_FILE"] == f"{directory}/{public_name}"
        assert (mounts(keys)[0][0], directory, True) in mounts(service)


def test_every_long_running_service_is_health_checked_and_waits_for_what_it_needs() -> None:
    services = compose()
    for name, service in services.items():
        if name in one_shots():
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        conditions = service.get("depends_on", {})
        assert isinstance(conditions, dict), f"{name}: depends_on without conditions"
        for needed, how in conditions.items():
            if how["condition"] == "service_healthy":
                assert services[needed].get("healthcheck"), f"{needed} is never healthy"
            else:
                assert how["condition"] == "service_completed_successfully"
                assert needed in one_shots()
    for definition in installed_services():
        service = services[definition.name]
        port = service["environment"]["EPS_HTTP_PORT"]
        assert f"http://127.0.0.1:{port}/health/ready" in " ".join(service["healthcheck"]["test"])
        for needed in INFRASTRUCTURE:
            assert service["depends_on"][needed]["condition"] == "service_healthy"
    assert "kafka-broker-api-versions.sh" in " ".join(services["kafka"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_infrastructure_uses_official_images() -> None:
    assert compose()["kafka"]["image"].startswith("apache/kafka:4.1")
    assert compose()["postgres"]["image"].startswith("postgres:")


def test_the_file_is_valid_by_the_compose_specification() -> None:
    """dclint validates against the Compose specification's JSON Schema (and its own rules,
    configured in deploy/docker/compose-check/.dclintrc)."""
    dclint = COMPOSE_CHECK / "node_modules" / ".bin" / "dclint"
    if not dclint.exists():
        pytest.fail("the compose check is not installed: run `make compose-tools`")
    config = COMPOSE_CHECK / ".dclintrc"
    result = subprocess.run(
        [str(dclint), "--config", str(config), "--max-warnings", "0", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
