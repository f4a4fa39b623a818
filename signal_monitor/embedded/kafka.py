"""An embedded Apache Kafka broker: one KRaft node (broker and controller) from Maven Central jars, logs on disk.

The jars are fetched once by ``python -m signal_monitor.embedded kafka-jars`` (``make install`` runs
it): Maven copies the dependencies of ``kafka-pom.xml`` into a cache outside the repository,
``~/.cache/signal-monitor/kafka-<version>/lib`` (``SM_KAFKA_HOME`` moves it). A broker is started by
formatting its log dir with ``kafka.tools.StorageTool`` (first start only) and running ``kafka.Kafka``
on a generated ``server.properties``; it is ready once its log says "Kafka Server started" and it
answers a metadata request. The log dir survives ``kill()``: ``start()`` again comes back on the
same ports with the same topics, offsets and committed consumer positions.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Self

from signal_monitor.embedded.probe import kafka_metadata_ok
from signal_monitor.embedded.process import LOCALHOST, ManagedServer, free_port, tcp_open
from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")

KAFKA_POM = Path(__file__).with_name("kafka-pom.xml")
READY_LINE = "Kafka Server started"
_COMPLETE = ".complete"

# Broker settings of the embedded node. Single-node values for the internal topics; a group's first
# join is not delayed (the desk's brokers keep the 3 s default); after a kill the controller waits
# broker.session.timeout.ms for the old registration to lapse before the node may register again,
# 3 s here instead of 9. group.min.session.timeout.ms and the group protocols stay at Kafka's
# defaults: 6 s, and the classic protocol, the only one aiokafka and kafka-python speak.
_BROKER_DEFAULTS: dict[str, str] = {
    "broker.heartbeat.interval.ms": "1000",
    "broker.session.timeout.ms": "3000",
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
    "log.retention.hours": "168",
}

def log4j2_properties(level: str = "INFO") -> str:
    """A log4j 2 configuration for a JVM from these jars: everything at ``level`` or above to stdout."""
    return f"""\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


# --- the jars ------------------------------------------------------------------------------


def kafka_version() -> str:
    """The Apache Kafka version pinned in ``kafka-pom.xml``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
    if match is None:  # pragma: no cover - the checked-in POM has it
        raise EmbeddedServiceError(f"{KAFKA_POM} names no kafka.version")
    return match.group(1).strip()


def kafka_home() -> Path:
    """The cache directory of this version's jars: ``$SM_KAFKA_HOME``, else ``~/.cache/signal-monitor/kafka-<v>``."""
    configured = os.environ.get("SM_KAFKA_HOME")
    if configured:
        return Path(configured).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "signal-monitor" / f"kafka-{kafka_version()}"


def _jars_ready(lib: Path) -> bool:
    return (lib / _COMPLETE).is_file() and any(lib.glob("kafka_2.13-*.jar"))


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions fetch once
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fetch_kafka_jars(*, home: Path | None = None, quiet: bool = True) -> Path:
    """Return the directory of the broker's jars, fetching them with Maven first when they are missing."""
    home = home or kafka_home()
    lib = home / "lib"
    if _jars_ready(lib):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EmbeddedServiceError(
            f"the embedded Apache Kafka broker needs its jars in {lib}, and Maven (mvn) is not on PATH to fetch "
            "them; install Maven, or use the Tansu broker (SM_EMBEDDED_BROKER=tansu)"
        )
    with _locked(home):
        if _jars_ready(lib):
            return lib
        staging = home / f"lib.{uuid.uuid4().hex[:8]}"
        argv = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        log.info("fetching the Apache Kafka %s jars from Maven Central into %s", kafka_version(), lib)
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise EmbeddedServiceError(f"mvn could not fetch the Apache Kafka jars (exit {done.returncode}):\n{detail}")
        (staging / _COMPLETE).write_text(kafka_version() + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
    return lib


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64 without padding, as ``random-uuid`` prints."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def java_binary() -> str:
    """``$JAVA_HOME/bin/java``, else ``java`` from PATH; raise EmbeddedServiceError when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home) / "bin" / "java", os.X_OK):
        return str(Path(java_home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path is None:
        raise EmbeddedServiceError(
            "the embedded Apache Kafka broker needs Java 17 or newer (java on PATH or JAVA_HOME); "
            "or use the Tansu broker (SM_EMBEDDED_BROKER=tansu)"
        )
    return on_path


def java_available() -> bool:
    """Whether a Java runtime and the means to get the jars (present, or Maven) are here."""
    try:
        java_binary()
    except EmbeddedServiceError:
        return False
    return _jars_ready(kafka_home() / "lib") or shutil.which("mvn") is not None


# --- the broker ----------------------------------------------------------------------------


class EmbeddedKafka(ManagedServer):
    """An Apache Kafka broker+controller (KRaft) on 127.0.0.1, log dirs in ``workdir/logs``; a context manager."""

    _log_name = "kafka.log"
    _noun = "Kafka broker"
    _service = "embedded Apache Kafka broker"
    _server = "embedded Apache Kafka broker"
    _program = "Apache Kafka"
    _ready_check = " with 'Kafka Server started'"
    _not_ready = "not started yet"
    _poll_interval = 0.1

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        controller_port: int | None = None,
        java: str | None = None,
        heap: str = "512m",
        properties: Mapping[str, str] | None = None,
        start_timeout: float = 90.0,
        stop_timeout: float = 20.0,
    ) -> None:
        super().__init__(
            workdir, port=port, host=LOCALHOST, binary=java, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        self.heap = heap
        self.properties = {**_BROKER_DEFAULTS, **(properties or {})}
        self.log_dir = self.workdir / "logs"
        self._requested_controller_port = controller_port
        self._controller_port: int | None = controller_port
        self._log_offset = 0
        self._lib: Path | None = None
        self._started_once = False  # a restart keeps the log dir; the first start formats a fresh one

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def version(self) -> str:
        """The broker's Apache Kafka version."""
        return kafka_version()

    @property
    def label(self) -> str:
        """What the benchmark and the fault campaign report as their broker: ``apache-kafka <version>``."""
        return f"apache-kafka {self.version}"

    @property
    def _address(self) -> str:
        return self.bootstrap

    def _default_binary(self) -> str:
        return java_binary()

    def _argv(self, binary: str, port: int) -> list[str]:
        lib = self._lib = self._lib or fetch_kafka_jars()
        controller_port = self._requested_controller_port or free_port(host=self.host)
        while controller_port == port:
            controller_port = free_port(host=self.host)
        self._controller_port = controller_port
        config = self._write_config(port, controller_port)
        self._format(binary, lib, config)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        return [
            binary,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            # the JVM's pauses beside the broker's log, as Kafka's own start script keeps them (rotated, bounded)
            f"-Xlog:gc*:file={self.workdir.resolve() / 'gc.log'}:time,tags:filecount=2,filesize=10M",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.workdir.resolve() / 'log4j2.properties'}",
            "-cp",
            str(lib / "*"),
            "kafka.Kafka",
            str(config),
        ]

    def _write_config(self, port: int, controller_port: int) -> Path:
        host = self.host
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{controller_port}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dir.resolve()),
            **self.properties,
        }
        config = self.workdir.resolve() / "server.properties"  # the broker runs in workdir: absolute paths
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        (self.workdir / "log4j2.properties").write_text(log4j2_properties())
        return config

    def _format(self, java: str, lib: Path, config: Path) -> None:
        """Format the log dir on the first start; a restart keeps it (and the data in it).

        A log dir left by another broker in the same workdir (a run that was killed) is removed first:
        its metadata names that broker's controller endpoint, which this one does not listen on.
        """
        if (self.log_dir / "meta.properties").exists():
            if self._started_once:
                return
            log.info("embedded Apache Kafka: removing %s, left by an earlier broker; this one starts empty", self.log_dir)
            shutil.rmtree(self.log_dir)
        cluster = new_cluster_id()
        # --cluster-id=…: a base64 id may start with "-", which argparse would take for an option
        argv = [java, "-cp", str(lib / "*"), "kafka.tools.StorageTool", "format", f"--cluster-id={cluster}",
                f"--config={config}"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        with self.log_path.open("a") as fh:
            fh.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise EmbeddedServiceError(
                f"kafka.tools.StorageTool format failed for {self.log_dir} (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )

    def _probe(self) -> str | None:
        if not self._started_in_log():
            return ""
        if not tcp_open(self.host, self.port):
            return "its listener does not accept connections yet"
        try:
            kafka_metadata_ok(self.bootstrap, timeout=3.0)
            return None
        except Exception as exc:  # kafka-python raises several types while a broker comes up
            return f"{type(exc).__name__}: {exc}"

    def _started_in_log(self) -> bool:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                return READY_LINE.encode() in fh.read()
        except OSError:
            return False

    def start(self) -> Self:
        """Start the broker and wait until it is ready; a later start (after stop or kill) reuses ports and logs."""
        super().start()
        self._started_once = True
        self._requested_port = self._port
        self._requested_controller_port = self._controller_port
        return self

    def _log_started(self) -> None:
        log.info(
            "started embedded Apache Kafka %s (KRaft, one node) at %s, pid %s, logs %s, log %s",
            self.version,
            self.bootstrap,
            self.pid,
            self.log_dir,
            self.log_path,
        )
