"""Run ``signal-monitor`` with a proposed change patched in, without touching ``signal_monitor/``.

``python -m bench.lab.variant [--uvloop] [--reference-decode] [--reference-fold] [--faust NAME=VALUE ...] -- worker``

* ``--uvloop``: run the worker's event loop on uvloop (needs the ``uvloop`` package);
* ``--reference-decode`` / ``--reference-fold``: the straightforward implementations kept in
  :mod:`bench.lab.fastpath` (json + pydantic; one scope dict per trade) in place of the ingestor's
  ``decode`` / ``fold``, to measure what the hot path's versions gain end to end;
* ``--faust NAME=VALUE``: override a keyword of ``faust.App(...)`` in ``create_app``;
* ``--trace-redis FILE``: write every Redis command the worker sends (wall time, time to its answer, the
  command, its first key; a script by its first key), every Slack request and every fetch of records of a topic
  other than trades (its time since the first record's timestamp) and every garbage collection, one line each,
  to ``FILE``;
* ``--sequential-partitions``: the ingestor handles the partitions of a batch one after the other
  (the worker handles them side by side);
* ``--switch-interval S``: the interpreter's thread switch interval (``sys.setswitchinterval``);
* ``--heap-log FILE``: write the RSS and glibc's heap figures (``mallinfo2``: in use, free, mapped) every 0.25 s;
* ``--tracemalloc FILE``: trace Python allocations (``--frames`` deep) and keep ``FILE`` up to date with
  what grew since ``--base-after`` seconds, every ``--snapshot-every`` seconds (see :mod:`bench.lab.memory`).

``python -m bench.lab.compare`` runs the variants side by side through this launcher.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def trace_allocations(report: Path, *, frames: int, base_after_s: float, every_s: float, top: int = 15) -> threading.Thread:
    """Start tracemalloc and a daemon thread that writes ``report``: traced memory over time and what grew.

    The first snapshot, ``base_after_s`` seconds in (past the warm-up), is the base; every ``every_s``
    seconds after it the report is rewritten with the traced total so far and the ``top`` allocation
    sites (tracebacks ``frames`` deep) that grew most since the base. Taking a snapshot holds the GIL
    for a while, so snapshots are kept few.
    """
    import tracemalloc

    report.parent.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(frames)
    start = time.monotonic()

    def watch() -> None:
        time.sleep(base_after_s)
        base = tracemalloc.take_snapshot()
        totals = [(time.monotonic() - start, tracemalloc.get_traced_memory()[0])]
        while True:
            time.sleep(every_s)
            now = tracemalloc.take_snapshot()
            totals.append((time.monotonic() - start, tracemalloc.get_traced_memory()[0]))
            lines = ["seconds  traced MiB", *(f"{t:7.0f}  {b / 2**20:10.1f}" for t, b in totals),
                     f"growth by allocation site since {totals[0][0]:.0f} s:"]
            for stat in now.compare_to(base, "traceback")[:top]:
                lines.append(f"{stat.size_diff / 2**10:+10.1f} KiB {stat.count_diff:+8d} blocks  (now {stat.size / 2**10:.1f} KiB)")
                lines.extend("      " + f.strip() for f in stat.traceback.format(limit=frames, most_recent_first=True))
            del now
            tmp = report.with_suffix(".tmp")
            tmp.write_text("\n".join(lines) + "\n")
            tmp.replace(report)

    thread = threading.Thread(target=watch, name="tracemalloc-report", daemon=True)
    thread.start()
    return thread


def log_heap(path: Path, every_s: float = 1.0) -> threading.Thread:
    """Start a daemon thread that appends glibc's ``mallinfo2`` and the RSS to ``path`` every ``every_s``.

    One line each: seconds since start, RSS (and its anonymous and file-backed parts), the heap's bytes in
    use, free in it, and mapped on their own (MiB), and the wall clock (to read beside the worker's log).
    Free bytes that stay high while in use falls say the heap is fragmented, not full.
    """
    import ctypes
    import ctypes.util

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2
    start = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)

    def watch() -> None:
        with path.open("w", buffering=1) as out:
            out.write("seconds  rss  anon  file  in_use  free  mapped  (MiB)  time\n")
            while True:
                info = libc.mallinfo2()
                status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
                rss, anon, file = (int(status[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))
                out.write(f"{time.monotonic() - start:7.1f} {rss:6.1f} {anon:6.1f} {file:5.1f} "
                          f"{info.uordblks / 2**20:7.1f} {info.fordblks / 2**20:6.1f} {info.hblkhd / 2**20:7.1f}  "
                          f"{time.strftime('%H:%M:%S')}\n")
                time.sleep(every_s)

    thread = threading.Thread(target=watch, name="heap-report", daemon=True)
    thread.start()
    return thread


def trace_redis(path: Path) -> None:
    """Log each Redis command and pipeline of the worker, each Slack request and each garbage collection to ``path``."""
    import aiohttp
    import redis.asyncio.client as client

    path.parent.mkdir(parents=True, exist_ok=True)
    out = path.open("w", buffering=1)

    def line(start: float, took: float, what: str) -> None:
        out.write(f"{start:.6f} {took * 1e3:8.3f} {what}\n")

    def name(args: tuple[Any, ...]) -> str:
        command = str(args[0]).upper() if args else "?"
        if command in ("EVALSHA", "EVAL", "FCALL") and len(args) > 3:
            return f"{command} {args[3]}"
        return f"{command} {args[1]}" if len(args) > 1 else command

    execute = client.Redis.execute_command

    async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        start, t0 = time.time(), time.perf_counter()
        try:
            return await execute(self, *args, **options)
        finally:
            line(start, time.perf_counter() - t0, name(args))

    pipeline_execute = client.Pipeline.execute

    async def pipeline(self: Any, *a: Any, **kw: Any) -> Any:
        names = ",".join(name(c[0]) for c in self.command_stack)
        start, t0 = time.time(), time.perf_counter()
        try:
            return await pipeline_execute(self, *a, **kw)
        finally:
            line(start, time.perf_counter() - t0, f"PIPELINE[{names}]")

    request = aiohttp.ClientSession._request

    async def http(self: Any, method: str, url: Any, *a: Any, **kw: Any) -> Any:
        start, t0 = time.time(), time.perf_counter()
        try:
            return await request(self, method, url, *a, **kw)
        finally:
            line(start, time.perf_counter() - t0, f"HTTP {method}")

    from signal_monitor.streams.consumer import ConsumerThread

    fetch_records = ConsumerThread._fetch_records

    async def fetched(self: Any, *a: Any, **kw: Any) -> Any:
        batches = await fetch_records(self, *a, **kw)
        now = time.time()
        for tp, records in batches.items():
            if records and not tp.topic.endswith(".trades"):
                line(now, now - records[0].timestamp / 1e3, f"FETCHED {tp.topic}:{tp.partition} {len(records)}")
        return batches

    ConsumerThread._fetch_records = fetched  # type: ignore[method-assign]

    import gc

    collecting: dict[str, float] = {}

    def collected(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collecting["start"], collecting["t0"] = time.time(), time.perf_counter()
        elif "t0" in collecting:
            line(collecting["start"], time.perf_counter() - collecting.pop("t0"), f"GC gen{info['generation']}")

    gc.callbacks.append(collected)
    client.Redis.execute_command = execute_command  # type: ignore[method-assign]
    client.Pipeline.execute = pipeline  # type: ignore[method-assign]
    aiohttp.ClientSession._request = http  # type: ignore[method-assign]


def apply(args: argparse.Namespace) -> None:
    """Install the patches named by ``args``."""
    if args.trace_redis:
        trace_redis(Path(args.trace_redis))
    if args.heap_log:
        log_heap(Path(args.heap_log), every_s=0.25)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.sequential_partitions:
        from signal_monitor.agents.ingest import Ingestor

        async def handle(self: Any, records: Any) -> None:
            by_partition: dict[int, list[Any]] = {}
            for rec in records:
                by_partition.setdefault(rec.partition, []).append(rec)
            for partition, recs in by_partition.items():
                await self._handle_partition(partition, recs)

        Ingestor.handle = handle  # type: ignore[method-assign]
    if args.tracemalloc:
        trace_allocations(Path(args.tracemalloc), frames=args.frames, base_after_s=args.base_after,
                          every_s=args.snapshot_every)
    if args.uvloop:
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.reference_decode:
        import signal_monitor.agents.ingest as ingest
        from bench.lab import fastpath

        ingest.decode = fastpath.reference_decode  # type: ignore[assignment]
    if args.reference_fold:
        import signal_monitor.agents.ingest as ingest
        from bench.lab import fastpath

        ingest.fold = fastpath.reference_fold  # type: ignore[assignment]
    if args.faust:
        import faust

        overrides = {name: _value(value) for name, _, value in (item.partition("=") for item in args.faust)}
        original = faust.App.__init__

        def init(self: Any, *a: Any, **kw: Any) -> None:
            kw.update(overrides)
            original(self, *a, **kw)

        faust.App.__init__ = init  # type: ignore[method-assign]


def parser() -> argparse.ArgumentParser:
    """Return the launcher's argument parser."""
    p = argparse.ArgumentParser(prog="python -m bench.lab.variant")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--reference-decode", action="store_true")
    p.add_argument("--reference-fold", action="store_true")
    p.add_argument("--faust", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--trace-redis", metavar="FILE")
    p.add_argument("--heap-log", metavar="FILE")
    p.add_argument("--sequential-partitions", action="store_true")
    p.add_argument("--switch-interval", type=float, metavar="S", help="the GIL's switch interval (5 ms by default)")
    p.add_argument("--tracemalloc", metavar="DIR")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--base-after", type=float, default=20.0)
    p.add_argument("--snapshot-every", type=float, default=30.0)
    return p


def main() -> None:
    """Apply the patches, then run the signal-monitor command line with the arguments after ``--``."""
    argv = sys.argv[1:]
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    apply(parser().parse_args(argv))
    from signal_monitor.cli import main as cli

    sys.argv = ["signal-monitor", *rest]
    cli()


if __name__ == "__main__":
    main()
