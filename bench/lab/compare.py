"""Measure proposed changes end to end: the real worker with each variant patched in (see :mod:`bench.lab.variant`).

``python -m bench.lab.compare [--variants NAME,...] [--rounds 3] [--single N] [--batched N] [--latency-alerts N]``

Variants run interleaved, round after round (base, v1, v2, ..., base, v1, ...), so
that a change of load on the shared machine touches them all alike; each figure
is the median over the rounds. Names: ``base`` (as shipped), ``uvloop``,
``reference`` (json + pydantic decode and the per-trade fold, :mod:`bench.lab.fastpath`),
``within`` (``SM_BATCH_WITHIN_S=0.02``), ``wait500`` (``SM_BATCH_WITHIN_S=0.5``, the fetch wait of
Kafka's clients by default), ``buffer8``, ``buffer16`` (``SM_BUFFER_MB`` 8 or 16; 4 is the default),
``heap`` (the worker's heap log, :mod:`bench.lab.variant`), ``arena2`` (``MALLOC_ARENA_MAX=2``),
``malloc-default`` (``SM_MALLOC_THRESHOLD_KIB=0``: glibc's own thresholds), any
``faust:NAME=VALUE`` (a ``faust.App`` keyword) and any ``tree:PATH`` (the worker imported from the
checkout at ``PATH``, e.g. a ``git worktree`` of an earlier commit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import latency, monitor
from bench.report import median
from bench.services import Services
from signal_monitor.embedded.process import exit_on_sigterm

FLAGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "base": ([], {}),
    "uvloop": (["--uvloop"], {}),
    "reference": (["--reference-decode", "--reference-fold"], {}),
    "within": ([], {"SM_BATCH_WITHIN_S": "0.02"}),
    "wait500": ([], {"SM_BATCH_WITHIN_S": "0.5"}),
    "buffer8": ([], {"SM_BUFFER_MB": "8"}),
    "buffer16": ([], {"SM_BUFFER_MB": "16"}),
    "switch05ms": (["--switch-interval", "0.0005"], {}),
    "sequential": (["--sequential-partitions"], {}),
    "trace": (["--trace-redis", ".run/bench/compare/trace.log"], {}),
    "arena2": ([], {"MALLOC_ARENA_MAX": "2"}),
    "heap": (["--heap-log", ".run/bench/compare/heap.log"], {}),
    "malloc-default": ([], {"SM_MALLOC_THRESHOLD_KIB": "0"}),
    "malloc128k": ([], {"SM_MALLOC_THRESHOLD_KIB": "128"}),
    "malloc1m": ([], {"SM_MALLOC_THRESHOLD_KIB": "1024"}),
    "malloc4m": ([], {"SM_MALLOC_THRESHOLD_KIB": "4096"}),
    "mmap-env": ([], {"SM_MALLOC_THRESHOLD_KIB": "0", "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}),
    "mmap-notrim": ([], {"SM_MALLOC_THRESHOLD_KIB": "0", "MALLOC_MMAP_THRESHOLD_": "131072",
                         "MALLOC_TRIM_THRESHOLD_": "67108864"}),
}


def variant(name: str) -> tuple[list[str], dict[str, str]]:
    """Return the launcher flags and extra environment of a variant name."""
    if name.startswith("faust:"):
        return ["--faust", name.split(":", 1)[1]], {}
    if name.startswith("tree:"):  # the worker (and this launcher) imported from another checkout
        return [], {"PYTHONSAFEPATH": "1", "PYTHONPATH": str(Path(name.split(":", 1)[1]).resolve())}
    return FLAGS[name]


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a table of medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.lab.compare")
    parser.add_argument("--variants", default="base,reference")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=12_000)
    parser.add_argument("--batched", type=int, default=150_000)
    parser.add_argument("--latency-alerts", type=int, default=0)
    args = parser.parse_args(argv)
    exit_on_sigterm()
    names = args.variants.split(",")
    out_dir = Path(".run/bench/compare")
    results: dict[str, dict[str, list[float]]] = {n: {"single": [], "batched": [], "p99": [], "p50": []} for n in names}
    with Services(out_dir / "services") as svc:
        single, batched = svc.new_topics(), svc.new_topics()
        n_single = svc.produce_trades(f"{single}.trades", args.single)
        n_env = svc.produce_trades(f"{batched}.trades", args.batched, envelope=500, seed=8)
        for r in range(args.rounds):
            for name in names:
                flags, env = variant(name)
                argv_ = [sys.executable, "-m", "bench.lab.variant", *flags, "--", "worker"]
                for kind, prefix, messages, per in (("single", single, n_single, 1), ("batched", batched, n_env, 500)):
                    if not messages:
                        continue
                    res = monitor.run_workers(
                        bootstrap=svc.bootstrap, redis_url=svc.redis_url, topic_prefix=prefix, topic=f"{prefix}.trades",
                        partitions=4, messages=messages, events_per_message=per, workdir=out_dir / "workers",
                        extra_env=env, argv=argv_,
                    )
                    results[name][kind].append(res.events_per_s)
                    print(f"round {r + 1} {name:22s} {kind:8s} {res.events_per_s:10,.0f} ev/s  cpu {res.cpu_s:5.1f} s  "
                          f"rss {res.rss_start_mb:.0f} -> {res.rss_end_mb:.0f} MiB", flush=True)
                if args.latency_alerts:
                    lat = latency.run_latency(
                        bootstrap=svc.bootstrap, redis_url=svc.redis_url, topic_prefix=svc.new_topics(),
                        workdir=out_dir / "latency", reps=1, alerts_per_rep=args.latency_alerts, extra_env=env, argv=argv_,
                    )
                    results[name]["p99"].append(lat.p99_per_rep[0])
                    results[name]["p50"].append(lat.p50_per_rep[0])
                    print(f"round {r + 1} {name:22s} latency  p99 {lat.p99_per_rep[0]:7.0f} ms p50 {lat.p50_per_rep[0]:7.0f} ms", flush=True)
    base = results[names[0]]
    print(f"\n{'variant':22s} {'single ev/s':>12s} {'x':>5s} {'batched ev/s':>13s} {'x':>5s} {'p99 ms':>8s} {'p50 ms':>8s}")
    for name in names:
        s, b = median(results[name]["single"]), median(results[name]["batched"])
        sx = s / median(base["single"]) if base["single"] else float("nan")
        bx = b / median(base["batched"]) if base["batched"] else float("nan")
        print(f"{name:22s} {s:12,.0f} {sx:5.2f} {b:13,.0f} {bx:5.2f} {median(results[name]['p99']):8.0f} {median(results[name]['p50']):8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
