"""Profile the monitor's hot path: py-spy on a worker subprocess, summarised as inclusive and self time.

``python -m bench.lab.profile [--mode single|batched] [--events N]`` starts its own
broker and Redis, produces the load, runs one worker, attaches
``py-spy record --format raw`` to it once it applies offsets, and prints the
functions with the largest inclusive and self share of the samples. The raw
(collapsed-stack) file is kept under ``.run/bench/`` for a flame graph
(``py-spy`` also writes SVG with ``--format flamegraph``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    """Return ``func (package/module.py)`` without the line number and the site-packages path."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


def summarize(raw: str, *, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Return the top frames by inclusive and by self share (percent of samples) of py-spy's raw output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
    if not total:
        return {"inclusive": [], "self": [], "package": []}

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100.0 * n / total) for name, n in counter.most_common(top)]

    return {"inclusive": pct(inclusive), "self": pct(own), "package": pct(packages)}


def _package(frame: str) -> str:
    m = re.search(r"\(([^/)]+)", frame)
    return m.group(1).split(".")[0] if m else frame


def record(pid: int, out: Path, *, seconds: float, rate: int = 250) -> subprocess.CompletedProcess[bytes]:
    """Record ``pid`` with py-spy for ``seconds`` into ``out`` (raw collapsed stacks)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.run(
        [spy, "record", "-p", str(pid), "-o", str(out), "--format", "raw", "-d", str(int(seconds)), "-r", str(rate),
         "--nonblocking"],
        capture_output=True,
        check=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one profiled worker and print the summary."""
    from bench import monitor
    from bench.services import Services

    parser = argparse.ArgumentParser(prog="python -m bench.lab.profile")
    parser.add_argument("--mode", choices=("single", "batched"), default="single")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra worker settings")
    args = parser.parse_args(argv)
    envelope = 500 if args.mode == "batched" else 1
    out_dir = Path(".run/bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"profile-{args.mode}.txt"
    extra = dict(item.split("=", 1) for item in args.env)
    with Services(out_dir / "services") as svc:
        topic_prefix = svc.new_topics()
        topic = f"{topic_prefix}.trades"
        messages = svc.produce_trades(topic, args.events, envelope=envelope)
        original_start = monitor.WorkerProcess.start
        threads: list[threading.Thread] = []

        def start(self: monitor.WorkerProcess) -> monitor.WorkerProcess:
            original_start(self)

            def spy() -> None:
                import redis

                client = redis.Redis.from_url(svc.redis_url, decode_responses=True)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not client.keys(f"{self.env['SM_KEY_PREFIX']}:*:mark"):
                    time.sleep(0.05)
                client.close()
                record(self.pid, out, seconds=args.seconds)

            thread = threading.Thread(target=spy, daemon=True)
            thread.start()
            threads.append(thread)
            return self

        monitor.WorkerProcess.start = start  # type: ignore[method-assign]
        try:
            result = monitor.run_workers(
                bootstrap=svc.bootstrap, redis_url=svc.redis_url, topic_prefix=topic_prefix, topic=topic,
                partitions=4, messages=messages, events_per_message=envelope, workdir=out_dir / "work", extra_env=extra,
            )
        finally:
            monitor.WorkerProcess.start = original_start  # type: ignore[method-assign]
        for thread in threads:
            thread.join(timeout=args.seconds + 10)
    print(f"{args.mode}: {result.events_per_s:,.0f} events/s over {result.seconds:.1f} s (profile: {out})")
    print_summary(out.read_text() if out.exists() else "")
    return 0


def print_summary(raw: str, *, top: int = 25) -> None:
    """Print the summary of a raw py-spy profile."""
    summary = summarize(raw, top=top)
    for title in ("inclusive", "self", "package"):
        print(f"\n-- {title} --")
        for name, share in summary[title]:
            print(f"{share:5.1f}%  {name}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--summarize":
        print_summary(Path(sys.argv[2]).read_text(), top=int(sys.argv[3]) if len(sys.argv) > 3 else 25)
    else:
        sys.exit(main())
