"""Where a long run's memory goes: one worker over batched trades with tracemalloc, what grew after the warm-up.

``python -m bench.lab.memory [--events 3000000] [--base-after 20] [--every 30] [--frames 3]``

The worker runs through :mod:`bench.lab.variant` with ``--tracemalloc``: a base
snapshot of Python's allocations ``--base-after`` seconds in (the queues, fetch
buffers and caches have filled by then), and every ``--every`` seconds the traced
total and the allocation sites that grew most since the base, grouped by traceback.
Printed at the end with the run's RSS over time. tracemalloc slows the worker
several times and its own bookkeeping is in the RSS but not in the traced
figures, so RSS here is higher than in ``make bench``; the growth by site is what
this is for. Memory outside Python's allocator (the C heap of extensions,
fragmentation) shows as RSS growth without a traced one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import monitor
from bench.services import Services


def main(argv: list[str] | None = None) -> int:
    """Run the traced worker and print what it reported."""
    parser = argparse.ArgumentParser(prog="python -m bench.lab.memory")
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--base-after", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=30.0)
    parser.add_argument("--frames", type=int, default=3)
    args = parser.parse_args(argv)
    out_dir = Path(".run/bench/memory")
    report = out_dir / "tracemalloc.txt"
    report.unlink(missing_ok=True)
    with Services(out_dir / "services") as svc:
        prefix = svc.new_topics()
        messages = svc.produce_trades(f"{prefix}.trades", args.events, envelope=500, seed=9)
        launcher = [sys.executable, "-m", "bench.lab.variant", "--tracemalloc", str(report), "--frames", str(args.frames),
                    "--base-after", str(args.base_after), "--snapshot-every", str(args.every), "--", "worker"]
        result = monitor.run_workers(
            bootstrap=svc.bootstrap, redis_url=svc.redis_url, topic_prefix=prefix, topic=f"{prefix}.trades",
            partitions=4, messages=messages, events_per_message=500, workdir=out_dir / "workers", argv=launcher,
            timeout_s=3600,
        )
    print(f"{result.events:,} events at {result.events_per_s:,.0f} events/s (traced); "
          f"RSS {result.rss_start_mb:.0f} -> {result.rss_end_mb:.0f} MiB")
    step = max(1, len(result.rss_trace) // 15)
    print("RSS MiB by seconds since the first batch: " + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in result.rss_trace[::step]))
    print(report.read_text() if report.exists() else f"no report in {report}: run longer than --base-after + --every")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
