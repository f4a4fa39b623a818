"""The monitor under test: ``signal-monitor worker`` subprocesses, timed through the offsets they apply in Redis.

A run starts one or more workers over topics that already hold the input (the
load is produced first), then polls the partitions' marks
(``<prefix>:{<topic>:<p>}:mark``, field ``offset``) every few milliseconds. The
clock starts at the first applied batch, so the consumer-group join and start-up
are excluded, and stops when every partition is applied to its end offset. The
events of the first sample are not counted: the rate is
``(events at the end - events at the first sample) / (t_end - t_first)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

#: How often a run samples its workers' RSS once they apply (a quick run's batched run lasts ~2 s).
RSS_EVERY_S = 0.1


def rss_mb(pid: int) -> float:
    """Return the resident set size of process ``pid`` in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds used by process ``pid`` so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class WorkerProcess:
    """One ``signal-monitor worker`` subprocess with its own log file."""

    env: dict[str, str]
    log_path: Path
    argv: list[str] = field(default_factory=lambda: [sys.executable, "-m", "signal_monitor", "worker"])
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        """Start the process."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, *, timeout: float = 15.0) -> None:
        """Stop the worker: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of the worker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def worker_env(
    *,
    bootstrap: str,
    redis_url: str,
    key_prefix: str,
    topic_prefix: str,
    app_id: str,
    data_dir: Path,
    tag: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the environment of one benchmark worker (rules enabled, the shipped rule file unless overridden)."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "REDIS_URL": redis_url,
        "SM_KEY_PREFIX": key_prefix,
        "SM_TOPIC_PREFIX": topic_prefix,
        "SM_APP_ID": app_id,
        "SM_DATA_DIR": str(data_dir),
        "SM_WORKER_ID": tag,
        "SM_RULES_ENABLED": "true",
        # faster group joins at start-up; neither changes the steady-state throughput
        "SM_KAFKA_SESSION_TIMEOUT_S": "6",
        "SM_KAFKA_REBALANCE_TIMEOUT_S": "4",
        **(extra or {}),
    }


@dataclass
class RunResult:
    """What one timed run measured."""

    messages: int
    events: int
    seconds: float
    rss_start_mb: float
    rss_end_mb: float
    cpu_s: float
    startup_s: float
    samples: list[tuple[float, int]] = field(default_factory=list)
    rss_trace: list[tuple[float, float]] = field(default_factory=list)  #: (seconds since the first batch, MiB)
    events_per_message: float = 1.0
    redis_mb: float = 0.0  #: Redis used_memory at the end of the run, before its keys are deleted

    @property
    def events_per_s(self) -> float:
        """Applied events per second between the first and the last sample."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def window_rates(self, windows: int) -> list[float]:
        """Return the events per second of ``windows`` equal windows of applied messages after the first sample."""
        return window_rates(self.samples, windows=windows, events_per_message=self.events_per_message)


def window_rates(samples: list[tuple[float, int]], *, windows: int, events_per_message: float) -> list[float]:
    """Split ``(time, applied)`` samples after the first non-zero one into ``windows`` equal counts; return each rate.

    A window ends at the first sample at or past its share of the count, so a
    window's rate is exact over the batches it spans.
    """
    points = [(t, c) for t, c in samples if c > 0]
    if len(points) < 2:
        return []
    t0, c0 = points[0]
    total = points[-1][1]
    rates = []
    for i in range(1, windows + 1):
        bound = c0 + (total - c0) * i / windows
        t1, c1 = next((t, c) for t, c in points if c >= bound)
        if t1 > t0:
            rates.append((c1 - c0) * events_per_message / (t1 - t0))
        t0, c0 = t1, c1
    return rates


class BenchError(RuntimeError):
    """A benchmark run could not complete (a worker died or made no progress)."""


def applied_total(client: redis.Redis, key_prefix: str, topic: str, partitions: int) -> int:
    """Return the number of messages applied over ``partitions`` of ``topic`` (sum of offset + 1)."""
    pipe = client.pipeline(transaction=False)
    for p in range(partitions):
        pipe.hget(f"{key_prefix}:{{{topic}:{p}}}:mark", "offset")
    return sum(int(v) + 1 for v in pipe.execute() if v is not None)


def run_workers(
    *,
    bootstrap: str,
    redis_url: str,
    topic_prefix: str,
    topic: str,
    partitions: int,
    messages: int,
    events_per_message: float,
    workdir: Path,
    workers: int = 1,
    timeout_s: float = 600.0,
    extra_env: Mapping[str, str] | None = None,
    key_prefix: str | None = None,
    keep_keys: bool = False,
    argv: list[str] | None = None,
) -> RunResult:
    """Run ``workers`` monitor workers over ``topic`` (holding ``messages`` messages) and time them.

    Each run has its own consumer group and Redis key prefix (or ``key_prefix``), so
    it starts at the beginning of the topic; its keys are deleted afterwards, or with
    ``keep_keys`` all but the series (history loaded beforehand stays for the next run).
    """
    run = uuid.uuid4().hex[:8]
    key_prefix = key_prefix or f"smbench:{run}"
    app_id = f"smbench-{run}"
    procs = [
        WorkerProcess(
            worker_env(
                bootstrap=bootstrap, redis_url=redis_url, key_prefix=key_prefix, topic_prefix=topic_prefix,
                app_id=app_id, data_dir=workdir / f"data-{run}-{i}", tag=f"w{i}", extra=extra_env,
            ),
            workdir / f"worker-{run}-{i}.log",
            *([argv] if argv else []),
        )
        for i in range(workers)
    ]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    t_launch = time.perf_counter()
    for proc in procs:
        proc.start()
    try:
        samples: list[tuple[float, int]] = []
        rss_trace: list[tuple[float, float]] = []
        deadline = time.monotonic() + timeout_s
        rss_start = 0.0
        first_t: float | None = None
        last_change = time.monotonic()
        done = 0
        while True:
            now = time.perf_counter()
            done = applied_total(client, key_prefix, topic, partitions)
            if done and first_t is None:
                first_t = now
                rss_start = sum(rss_mb(p.pid) for p in procs)
            if not samples or done != samples[-1][1]:
                samples.append((now, done))
                last_change = time.monotonic()
            if first_t is not None and (not rss_trace or now - first_t - rss_trace[-1][0] >= RSS_EVERY_S):
                rss_trace.append((now - first_t, sum(rss_mb(p.pid) for p in procs)))
            if done >= messages:
                break
            dead = [p for p in procs if not p.alive()]
            if dead:
                raise BenchError(f"a worker exited with {dead[0].proc.returncode}; log {dead[0].log_path}:\n{dead[0].log_tail()}")
            if time.monotonic() > deadline or (first_t is not None and time.monotonic() - last_change > 60):
                raise BenchError(f"no progress: {done} of {messages} messages applied; log {procs[0].log_path}:\n{procs[0].log_tail()}")
            time.sleep(0.01 if first_t is not None else 0.05)
        t_end = samples[-1][0]
        rss_end = sum(rss_mb(p.pid) for p in procs)
        cpu = sum(cpu_seconds(p.pid) for p in procs)
        redis_mb = float(client.info("memory").get("used_memory", 0)) / 2**20
        first_done = next(c for _, c in samples if c > 0)
        assert first_t is not None
        return RunResult(
            messages=messages,
            events=int((done - first_done) * events_per_message),
            seconds=t_end - first_t,
            rss_start_mb=rss_start,
            rss_end_mb=rss_end,
            cpu_s=cpu,
            startup_s=first_t - t_launch,
            samples=samples,
            rss_trace=rss_trace,
            events_per_message=events_per_message,
            redis_mb=redis_mb,
        )
    finally:
        for proc in procs:
            proc.stop()
        if keep_keys:
            delete_run_state(client, key_prefix)
        else:
            delete_prefix(client, key_prefix)
        client.close()


def delete_run_state(client: redis.Redis, key_prefix: str) -> int:
    """Delete what a run wrote under ``key_prefix`` (ingest keys, marks, rule state, claims), keeping the series."""
    n = 0
    for pattern in ("{smb*", "parts:*", "claim:*", "rule:*"):
        n += delete_prefix(client, key_prefix, pattern=pattern)
    return n


def delete_prefix(client: redis.Redis, key_prefix: str, *, pattern: str = "*") -> int:
    """Delete every key under ``key_prefix:`` matching ``pattern`` (SCAN, never FLUSHDB); return how many."""
    n = 0
    batch: list[str] = []
    for key in client.scan_iter(match=f"{key_prefix}:{pattern}", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            n += client.delete(*batch)
            batch.clear()
    if batch:
        n += client.delete(*batch)
    return n
