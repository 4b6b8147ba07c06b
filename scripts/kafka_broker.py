"""A real single-node Apache Kafka (KRaft) broker from Maven Central jars, for tests and development.

Why not a container or the release tarball: this machine reaches only package registries, so the broker
is assembled from Maven artifacts with `mvn` and run with the system `java` (17+).

CLI: `python scripts/kafka_broker.py fetch|start|stop|status` (wrapped by `scripts/kafka`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

KAFKA_VERSIONS = ("4.1.1", "4.1.2", "4.2.0", "4.3.1")
LOG4J_VERSION = "2.24.3"
# Kafka depends on SLF4J 1.7; the 2.x API is caller-compatible and is what the log4j2 binding needs.
SLF4J_VERSION = "2.0.17"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".cache" / "kafka"
COMPLETE_MARKER = ".complete"
JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)

POM_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>observ.dev</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{plugin}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""

LOG4J2_CONFIG = """status = warn
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
"""


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or reached."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialises fetch/start/stop across processes: parallel test sessions share the cache and state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cache_root() -> Path:
    return Path(os.environ.get("OBSERV_KAFKA_CACHE") or Path.home() / ".cache" / "observ")


def candidate_versions() -> tuple[str, ...]:
    pinned = os.environ.get("OBSERV_KAFKA_VERSION")
    return (pinned,) if pinned else KAFKA_VERSIONS


def libs_dir(version: str) -> Path:
    return cache_root() / f"kafka-{version}" / "libs"


def installed_libs() -> Path | None:
    """The first candidate version whose jars were fetched completely."""
    for version in candidate_versions():
        libs = libs_dir(version)
        if (libs / COMPLETE_MARKER).exists():
            return libs
    return None


def fetch(log: bool = True) -> Path:
    """Download Kafka and its runtime dependencies once; later calls return the cached directory."""
    with _locked(cache_root() / "fetch.lock"):
        return _fetch_locked(log)


def _fetch_locked(log: bool) -> Path:
    found = installed_libs()
    if found is not None:
        write_log_config(found)
        if log:
            print(f"kafka: jars already in {found}", flush=True)
        return found
    if shutil.which("mvn") is None:
        raise BrokerError("mvn is not on PATH (Debian: apt-get install maven)")
    failures: list[str] = []
    for version in candidate_versions():
        started = time.monotonic()
        if log:
            print(f"kafka: fetching org.apache.kafka:kafka_2.13:{version} with Maven ...", flush=True)
        try:
            libs = _fetch_version(version)
        except BrokerError as exc:
            failures.append(f"{version}: {exc}")
            if log:
                print(f"kafka: {version} failed, trying the next version", flush=True)
            continue
        write_log_config(libs)
        if log:
            count = len(list(libs.glob("*.jar")))
            print(f"kafka: {count} jars in {libs} ({time.monotonic() - started:.0f} s)", flush=True)
        return libs
    raise BrokerError("no Kafka version could be fetched:\n" + "\n".join(failures))


def write_log_config(libs: Path) -> Path:
    """Kafka logs INFO chatter by default; tests and dev want warnings only."""
    path = libs / "log4j2.properties"
    if not path.exists() or path.read_text() != LOG4J2_CONFIG:
        path.write_text(LOG4J2_CONFIG)
    return path


def _fetch_version(version: str) -> Path:
    libs = libs_dir(version)
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent, prefix="fetch-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(
            POM_TEMPLATE.format(
                kafka=version, log4j=LOG4J_VERSION, slf4j=SLF4J_VERSION, plugin=DEPENDENCY_PLUGIN_VERSION
            )
        )
        staging = Path(work) / "libs"
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BrokerError(f"mvn exited {proc.returncode}:\n{tail}")
        (staging / COMPLETE_MARKER).write_text(version + "\n")
        if libs.exists():
            shutil.rmtree(libs)
        staging.rename(libs)
    return libs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    """Runs in the child before exec: the broker gets SIGTERM when the starting thread dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class KafkaBroker:
    """One broker+controller process on loopback; restartable on the same port and data."""

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int = 0,
        controller_port: int = 0,
        libs: Path | None = None,
    ) -> None:
        self._owns_data = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="observ-kafka-"))
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self._libs = libs
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 90.0, detach: bool = False) -> None:
        """Start (or restart) and return once the broker answers a metadata request.

        detach=True puts the broker in its own session so it outlives this process (CLI use);
        otherwise it is tied to the calling thread and dies with it.
        """
        if self.running():
            return
        libs = self._libs or fetch(log=False)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._write_properties()
        java = [
            "java",
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={write_log_config(libs)}",
            "-cp",
            str(libs / "*"),
        ]
        if not (self.data_dir / "logs" / "meta.properties").exists():
            # Base64 of a UUID may start with '-': passed as --cluster-id=… so it is not read as a flag.
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = [*java, "kafka.tools.StorageTool", "format", "--standalone", f"--cluster-id={cluster_id}"]
            fmt += ["-c", str(props)]
            proc = subprocess.run(fmt, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
            if proc.returncode != 0:
                raise BrokerError(f"storage format failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [*java, "kafka.Kafka", str(props)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=detach,
                preexec_fn=None if detach else _die_with_parent,
            )
        try:
            self._wait_ready(timeout)
        except BrokerError:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM for a controlled shutdown, SIGKILL if it does not finish in time. Data is kept."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def destroy(self) -> None:
        """Stop and delete the data directory if this object created it."""
        self.stop()
        if self._owns_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def create_topic(self, name: str, partitions: int = 1, timeout: float = 30.0) -> None:
        """Create a topic and wait until every partition has a leader, so producers never race it."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        futures[name].result(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topic = admin.list_topics(topic=name, timeout=5).topics.get(name)
            if (
                topic is not None
                and topic.error is None
                and len(topic.partitions) == partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                return
            time.sleep(0.1)
        raise BrokerError(f"topic {name} has no leaders after {timeout} s")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()

    def _write_properties(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            self._check_alive()
            if time.monotonic() > deadline:
                raise self._timeout_error(timeout)
            time.sleep(0.1)
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error(timeout)
            try:
                if admin.list_topics(timeout=min(remaining, 5.0)).brokers:
                    return
            except KafkaException:
                time.sleep(0.2)

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            self._proc = None
            raise BrokerError(f"broker exited with {code}; log tail:\n{self.log_tail()}")

    def _timeout_error(self, timeout: float) -> BrokerError:
        return BrokerError(f"broker not ready at {self.bootstrap} after {timeout:.0f} s; log tail:\n{self.log_tail()}")


# --- CLI: a detached broker for development, tracked by a state file ---


def _state_file() -> Path:
    return Path(os.environ.get("OBSERV_KAFKA_STATE") or STATE_DIR) / "state.json"


def _read_state() -> dict[str, object] | None:
    try:
        return dict(json.loads(_state_file().read_text()))
    except (FileNotFoundError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_state() -> dict[str, object] | None:
    state = _read_state()
    if state and _pid_alive(int(str(state["pid"]))):
        return state
    return None


def cli_start(port: int, data_dir: Path | None, timeout: float) -> int:
    with _locked(_state_file().with_suffix(".lock")):
        return _cli_start_locked(port, data_dir, timeout)


def _cli_start_locked(port: int, data_dir: Path | None, timeout: float) -> int:
    state = _running_state()
    if state:
        print(state["bootstrap"])
        return 0
    if port and _port_open(port):
        print(f"kafka: port {port} is already in use (pass --port 0 for a free one)", file=sys.stderr)
        return 1
    data = data_dir or _state_file().parent / "data"
    broker = KafkaBroker(data_dir=data, port=port)
    started = time.monotonic()
    broker.start(timeout=timeout, detach=True)
    state_path = _state_file()
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(
        json.dumps({"pid": broker.pid, "bootstrap": broker.bootstrap, "data_dir": str(broker.data_dir)}) + "\n"
    )
    print(f"kafka: started pid {broker.pid} in {time.monotonic() - started:.1f} s, log {broker.log_path}")
    print(broker.bootstrap)
    return 0


def cli_stop(timeout: float, wipe: bool) -> int:
    with _locked(_state_file().with_suffix(".lock")):
        return _cli_stop_locked(timeout, wipe)


def _cli_stop_locked(timeout: float, wipe: bool) -> int:
    state = _read_state()
    if state is None:
        print("kafka: not running")
        return 0
    pid = int(str(state["pid"]))
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    if wipe:
        shutil.rmtree(str(state["data_dir"]), ignore_errors=True)
    print(f"kafka: stopped pid {pid}")
    return 0


def cli_status() -> int:
    state = _running_state()
    if state is None:
        print("kafka: not running", file=sys.stderr)
        return 1
    print(state["bootstrap"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/kafka", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the broker jars with Maven (once)")
    start = sub.add_parser("start", help="start a detached broker")
    start.add_argument("--port", type=int, default=9092, help="0 picks a free port")
    start.add_argument("--data-dir", type=Path, default=None)
    start.add_argument("--timeout", type=float, default=90.0)
    stop = sub.add_parser("stop", help="stop the detached broker")
    stop.add_argument("--timeout", type=float, default=30.0)
    stop.add_argument("--wipe", action="store_true", help="also delete its data directory")
    sub.add_parser("status", help="print the bootstrap address if running")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch()
            return 0
        if args.command == "start":
            return cli_start(args.port, args.data_dir, args.timeout)
        if args.command == "stop":
            return cli_stop(args.timeout, args.wipe)
        return cli_status()
    except BrokerError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
