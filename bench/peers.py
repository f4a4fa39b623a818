"""The monitor's peers, on the same broker and topics as the monitor: Kafka's own consumer, Kafka Streams, Quix Streams.

* :func:`consumer_performance`: ``org.apache.kafka.tools.ConsumerPerformance`` from the broker's jars, the ceiling
  of reading the topic (its ``fetch.nMsg.sec``: messages over the fetch time, the group join excluded);
* :func:`run_kafka_streams`: ``bench/kafka_streams`` (``NetNotional.java``), compiled at bench time against
  ``org.apache.kafka:kafka-streams`` of the broker's version into a cache outside git (:func:`kafka_streams_classpath`);
* :func:`run_quix`: a Quix Streams application (:mod:`bench.quix_app`), in a subprocess.

Kafka Streams and Quix Streams do the same job: net notional per (fund type, sector, week) in their
state, re-keyed through a repartition topic, exactly-once, state and offsets committed every 100 ms.
Both are timed as the monitor is, from outside and by what is committed (:class:`GroupClock`): the
offsets their consumer group commits, polled every 10 ms, from the first commit to the one that
covers the last input message *and* every record of the repartition topic (the aggregation's
input), so the work left in the repartition topic is inside the clock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.monitor import BenchError, cpu_seconds, rss_mb, window_rates
from signal_monitor.embedded.kafka import fetch_kafka_jars, java_binary, kafka_home, kafka_version, log4j2_properties

KAFKA_STREAMS_DIR = Path(__file__).with_name("kafka_streams")
KAFKA_STREAMS_POM = KAFKA_STREAMS_DIR / "pom.xml"
KAFKA_STREAMS_MAIN = "bench.NetNotional"


# --- ConsumerPerformance ------------------------------------------------------------------------


def consumer_performance(bootstrap: str, topic: str, messages: int, *, workdir: Path, runs: int = 3) -> list[float]:
    """Run Kafka's ``ConsumerPerformance`` ``runs`` times over ``topic`` (each a new JVM and group); return msg/s each.

    The figure is its ``fetch.nMsg.sec``: messages over the time from the group's assignment to the
    last message, so the join is excluded as it is for every other figure. Default consumer settings.
    """
    lib = fetch_kafka_jars()
    workdir.mkdir(parents=True, exist_ok=True)
    log4j = workdir / "log4j2-warn.properties"
    log4j.write_text(log4j2_properties("WARN"))
    rates: list[float] = []
    for _ in range(runs):
        argv = [
            java_binary(), "-Xmx512m", f"-Dlog4j2.configurationFile={log4j.resolve()}", "-cp", str(lib / "*"),
            "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic,
            "--messages", str(messages), "--group", f"smbench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "30000",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        rates.append(_parse_consumer_performance(done.stdout, done.returncode, done.stderr))
    return rates


def _parse_consumer_performance(stdout: str, returncode: int, stderr: str = "") -> float:
    """Return ``fetch.nMsg.sec`` from ConsumerPerformance's CSV output (a header line, then one of figures)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if returncode != 0 or header_at is None or header_at + 1 >= len(lines):
        raise BenchError(f"ConsumerPerformance failed (exit {returncode}):\n{(stdout + stderr)[-2000:]}")
    names = [n.strip() for n in lines[header_at].split(",")]
    values = [v.strip() for v in lines[header_at + 1].split(",")]
    return float(values[names.index("fetch.nMsg.sec")])


# --- timing by committed offsets -------------------------------------------------------------------


@dataclass
class PeerResult:
    """What one timed peer run measured."""

    messages: int
    events_per_message: float
    samples: list[tuple[float, int]] = field(default_factory=list)  #: (time, input messages committed)
    seconds: float = 0.0
    rss_end_mb: float = 0.0
    cpu_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        """Input events per second from the first committed sample to the end."""
        points = [(t, c) for t, c in self.samples if c > 0]
        if len(points) < 2 or points[-1][0] <= points[0][0]:
            return 0.0
        return (points[-1][1] - points[0][1]) * self.events_per_message / (points[-1][0] - points[0][0])

    def window_rates(self, windows: int) -> list[float]:
        """Events per second of ``windows`` equal windows of committed input (as :meth:`bench.monitor.RunResult`)."""
        return window_rates(self.samples, windows=windows, events_per_message=self.events_per_message)


class GroupClock:
    """Polls a consumer group's committed offsets: input progress, and whether its repartition topic is drained."""

    def __init__(self, bootstrap: str, group: str, topic: str, *, repartition_prefix: str, repartition_suffix: str = "") -> None:
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient

        self.group = group
        self.topic = topic
        self.repartition_prefix = repartition_prefix
        self.repartition_suffix = repartition_suffix
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="smbench-clock")
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="smbench-clock", enable_auto_commit=False)

    def close(self) -> None:
        """Close the clients."""
        self.admin.close()
        self.consumer.close()

    def committed(self) -> dict[tuple[str, int], int]:
        """Return the group's committed offset of every partition it has committed."""
        offsets = self.admin.list_group_offsets(self.group).get(self.group, {})
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    def input_done(self, committed: dict[tuple[str, int], int]) -> int:
        """Messages of the input topic covered by committed offsets."""
        return sum(offset for (topic, _), offset in committed.items() if topic == self.topic)

    def repartition_drained(self, committed: dict[tuple[str, int], int]) -> bool:
        """Whether every record of the repartition topic(s) is covered by a committed offset.

        Called once the input is committed to its end: under exactly-once the records the last
        input transaction wrote to the repartition topic are then final, each partition ending
        in a commit marker, so a partition is drained when its committed offset is within one
        (the marker) of its end.
        """
        from kafka import TopicPartition

        topics = [
            t for t in self.consumer.topics() if t.startswith(self.repartition_prefix) and t.endswith(self.repartition_suffix)
        ]
        if not topics:
            return False
        tps = [TopicPartition(t, p) for t in topics for p in (self.consumer.partitions_for_topic(t) or ())]
        ends = self.consumer.end_offsets(tps)
        return all(end == 0 or committed.get((tp.topic, tp.partition), -1) >= end - 1 for tp, end in ends.items())


def _time_group(
    proc: subprocess.Popen[bytes],
    clock: GroupClock,
    *,
    messages: int,
    events_per_message: float,
    log_path: Path,
    timeout_s: float,
    what: str,
) -> PeerResult:
    result = PeerResult(messages=messages, events_per_message=events_per_message)
    deadline = time.monotonic() + timeout_s
    last_change = time.monotonic()
    first_t: float | None = None
    while True:
        now = time.perf_counter()
        committed = clock.committed()
        done = clock.input_done(committed)
        if done and first_t is None:
            first_t = now
        if not result.samples or done != result.samples[-1][1]:
            result.samples.append((now, done))
            last_change = time.monotonic()
        if done >= messages and clock.repartition_drained(committed):
            result.samples[-1] = (now, done)  # the end: the aggregation's input committed too
            break
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode}; log {log_path}:\n{_tail(log_path)}")
        if time.monotonic() > deadline or (first_t is not None and time.monotonic() - last_change > 60):
            raise BenchError(f"{what}: {done} of {messages} messages committed; log {log_path}:\n{_tail(log_path)}")
        time.sleep(0.01 if first_t is not None else 0.05)
    assert first_t is not None
    result.seconds = result.samples[-1][0] - first_t
    result.rss_end_mb = rss_mb(proc.pid)
    result.cpu_s = cpu_seconds(proc.pid)
    return result


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], *, timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _run_timed(
    argv: Sequence[str],
    *,
    bootstrap: str,
    group: str,
    topic: str,
    repartition_prefix: str,
    repartition_suffix: str = "",
    messages: int,
    events_per_message: float,
    log_path: Path,
    timeout_s: float,
    what: str,
    env: dict[str, str] | None = None,
) -> PeerResult:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    clock = GroupClock(bootstrap, group, topic, repartition_prefix=repartition_prefix, repartition_suffix=repartition_suffix)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
    try:
        return _time_group(
            proc, clock, messages=messages, events_per_message=events_per_message, log_path=log_path,
            timeout_s=timeout_s, what=what,
        )
    finally:
        _stop(proc)
        clock.close()


# --- Kafka Streams ------------------------------------------------------------------------------


def kafka_streams_home() -> Path:
    """The cache of the Kafka Streams peer: ``<kafka_home>/../kafka-streams-<version>`` (outside git)."""
    return kafka_home().parent / f"kafka-streams-{kafka_version()}"


def kafka_streams_classpath() -> str:
    """Fetch kafka-streams (Maven, once) and compile ``NetNotional.java`` (javac, when it changed); return the classpath."""
    home = kafka_streams_home()
    lib = home / "lib"
    if not (lib / ".complete").is_file():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BenchError(f"the Kafka Streams peer needs its jars in {lib}, and Maven (mvn) is not on PATH")
        staging = home / f"lib.{uuid.uuid4().hex[:8]}"
        argv = [mvn, "-B", "-q", "-f", str(KAFKA_STREAMS_POM), "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}", f"-Dkafka.version={kafka_version()}"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BenchError(f"mvn could not fetch kafka-streams (exit {done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")
        (staging / ".complete").write_text(kafka_version() + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
    sources = sorted((KAFKA_STREAMS_DIR / "src" / "main" / "java").rglob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    classes = home / f"classes-{digest}"
    if not (classes / ".complete").is_file():
        javac = shutil.which("javac")
        if javac is None:
            raise BenchError("the Kafka Streams peer needs javac (a JDK 17 or newer)")
        staging = home / f"classes.{uuid.uuid4().hex[:8]}"
        done = subprocess.run([javac, "--release", "17", "-d", str(staging), "-cp", str(lib / "*"), *map(str, sources)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BenchError(f"javac failed on {KAFKA_STREAMS_DIR}:\n{(done.stdout + done.stderr)[-3000:]}")
        (staging / ".complete").write_text(digest + "\n")
        shutil.rmtree(classes, ignore_errors=True)
        staging.rename(classes)
    return f"{classes}{os.pathsep}{lib / '*'}"


def run_kafka_streams(
    *,
    bootstrap: str,
    topic: str,
    messages: int,
    events_per_message: float,
    workdir: Path,
    guarantee: str = "exactly_once_v2",
    timeout_s: float = 300.0,
) -> PeerResult:
    """Run the Kafka Streams peer (a new application id, from the start of ``topic``) and time it."""
    classpath = kafka_streams_classpath()
    run = uuid.uuid4().hex[:8]
    app_id = f"smbench-ks-{run}"
    state_dir = (workdir / f"ks-state-{run}").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [java_binary(), "-Xmx512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", classpath,
            KAFKA_STREAMS_MAIN, bootstrap, topic, app_id, str(state_dir), guarantee]
    try:
        return _run_timed(
            argv, bootstrap=bootstrap, group=app_id, topic=topic, repartition_prefix=f"{app_id}-", repartition_suffix="-repartition",
            messages=messages, events_per_message=events_per_message, log_path=workdir / f"kafka-streams-{run}.log",
            timeout_s=timeout_s, what="the Kafka Streams peer",
        )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


# --- Quix Streams -------------------------------------------------------------------------------


def run_quix(
    *,
    bootstrap: str,
    topic: str,
    messages: int,
    events_per_message: float,
    workdir: Path,
    timeout_s: float = 300.0,
) -> PeerResult:
    """Run the Quix Streams peer (:mod:`bench.quix_app`, a new consumer group) in a subprocess and time it."""
    run = uuid.uuid4().hex[:8]
    group = f"smbench-quix-{run}"
    state_dir = (workdir / f"quix-state-{run}").resolve()
    argv = [sys.executable, "-m", "bench.quix_app", "--bootstrap", bootstrap, "--topic", topic, "--group", group,
            "--state-dir", str(state_dir)]
    try:
        return _run_timed(
            argv, bootstrap=bootstrap, group=group, topic=topic, repartition_prefix=f"repartition__{group}",
            messages=messages, events_per_message=events_per_message, log_path=workdir / f"quix-{run}.log",
            timeout_s=timeout_s, what="the Quix Streams peer",
        )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
