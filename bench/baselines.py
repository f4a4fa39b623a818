"""The baselines, each what a user would write, each run in a subprocess of its own with its library's defaults.

* ``raw``: an aiokafka ``getmany`` loop over the topic that only counts (no group, default consumer settings);
* ``faust_iter``: a Faust agent ``async for value in stream: n += 1`` with default app settings;
* ``faust_take``: a Faust agent over ``stream.take(1000, within=1)`` with default app settings;
* ``naive``: a Faust agent doing one ``HINCRBYFLOAT`` per event (default settings, redis-py asyncio).

Default settings are kept; only what a user must set is set: the broker, a data
directory, a free web port (Faust's default 6066 may be in use) and, for the
naive agent, the Redis URL. Each baseline times from its first message to its
last, so start-up and the group join are excluded, and writes one JSON object
to ``--out``; the parent (:func:`run_baseline`) starts it, waits for the file
and stops it.

``python -m bench.baselines KIND --bootstrap H:P --topic T --messages N --out FILE [--redis-url U --key K]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

KINDS = ("raw", "faust_iter", "faust_take", "naive")


def _write(out: str, payload: dict[str, Any]) -> None:
    tmp = f"{out}.tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh)
    os.replace(tmp, out)


class _Clock:
    """Counts messages; times ``windows`` equal windows from the first message to the last expected one.

    The first window starts at the first message (its batch is not counted), so
    start-up and the group join are never in a window.
    """

    def __init__(self, expected: int, out: str, *, windows: int = 1) -> None:
        self.expected = expected
        self.out = out
        self.windows = max(1, windows)
        self.n = 0
        self.marks: list[tuple[float, int]] = []  # (time, count) at the first message and each window's end
        self.done = False

    def add(self, k: int = 1) -> None:
        """Count ``k`` messages."""
        self.n += k
        if not self.marks:
            self.marks.append((time.perf_counter(), self.n))
            self.bounds = [self.n + max(0, self.expected - self.n) * (i + 1) // self.windows for i in range(self.windows)]
            if self.n < self.expected:
                return
        while len(self.marks) <= self.windows and self.n >= self.bounds[len(self.marks) - 1]:
            self.marks.append((time.perf_counter(), self.n))
        if self.n >= self.expected and not self.done:
            self.done = True
            rates = [
                (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
                for (t0, c0), (t1, c1) in zip(self.marks, self.marks[1:])
            ]
            seconds = self.marks[-1][0] - self.marks[0][0]
            _write(self.out, {"messages": self.n, "seconds": seconds, "per_s": rates})


async def _raw(args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaConsumer

    rates: list[float] = []
    for rep in range(args.windows):  # a repetition is a new consumer reading the topic from the start
        consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, auto_offset_reset="earliest")
        clock = _Clock(args.messages, f"{args.out}.{rep}")
        await consumer.start()
        try:
            while not clock.done:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    clock.add(len(records))
        finally:
            await consumer.stop()
        rates.extend(json.loads(Path(f"{args.out}.{rep}").read_text())["per_s"])
        os.unlink(f"{args.out}.{rep}")
    _write(args.out, {"messages": args.messages, "per_s": rates})


def _faust(args: argparse.Namespace) -> None:
    import faust
    from faust.worker import Worker

    from signal_monitor.embedded import free_port

    datadir = tempfile.mkdtemp(prefix="smbench-faust-")
    app = faust.App(
        f"smbench-{args.kind}-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{args.bootstrap}",
        datadir=datadir,
        web_port=free_port(),
        # group timing only (how soon the first join completes), as the monitor's workers here use;
        # with the defaults the embedded broker keeps the first join waiting ~30 s
        broker_session_timeout=6.0,
        broker_rebalance_timeout=4.0,
        broker_heartbeat_interval=1.5,
    )
    topic = app.topic(args.topic)
    clock = _Clock(args.messages, args.out, windows=args.windows)

    if args.kind == "faust_iter":

        @app.agent(topic)
        async def count(stream: Any) -> None:
            async for _value in stream:
                clock.add()

    elif args.kind == "faust_take":

        @app.agent(topic)
        async def count_batches(stream: Any) -> None:
            async for values in stream.take(1000, within=1):
                clock.add(len(values))

    else:  # naive: one Redis write per event
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(args.redis_url)

        @app.agent(topic)
        async def naive(stream: Any) -> None:
            async for trade in stream:
                await client.hincrbyfloat(args.key, f"{trade['sector']}:{trade['action']}", trade["notional"])
                clock.add()

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def run_baseline(
    kind: str,
    *,
    bootstrap: str,
    topic: str,
    messages: int,
    workdir: Path,
    redis_url: str = "",
    key: str = "",
    windows: int = 1,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Run one baseline in a subprocess; return its result (``per_s``: messages per second of each window)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    out = workdir / f"{kind}-{tag}.json"
    log_path = workdir / f"{kind}-{tag}.log"
    argv = [sys.executable, "-m", "bench.baselines", kind, "--bootstrap", bootstrap, "--topic", topic,
            "--messages", str(messages), "--out", str(out), "--windows", str(windows)]
    if redis_url:
        argv += ["--redis-url", redis_url, "--key", key]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not out.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"baseline {kind} exited with {proc.returncode}; log {log_path}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline {kind} did not finish in {timeout_s:.0f} s; log {log_path}")
            time.sleep(0.05)
        return json.loads(out.read_text())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Run one baseline (the child side of :func:`run_baseline`)."""
    parser = argparse.ArgumentParser(prog="python -m bench.baselines")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--windows", type=int, default=1, help="timed windows (raw: consumers in turn)")
    args = parser.parse_args(argv)
    if args.kind == "raw":
        asyncio.run(_raw(args))
    else:
        sys.argv = [sys.argv[0], "worker"]  # Faust's Worker reads its own command line
        _faust(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
