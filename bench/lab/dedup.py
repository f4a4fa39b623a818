"""The cost of trade-id deduplication in ``RedisState.apply``: time per trade and Redis memory per id.

``python -m bench.lab.dedup [--rev REV] [--ids N] [--days D] [--batch 500]`` starts a
private redis-server and applies batches of fresh trade ids (no flows, so the
script's work is the dedup, the offset check and the mark) to one partition
through ``RedisState`` — the working tree's, or with ``--rev`` the one in
``signal_monitor/state/redis.py`` at that git revision, to compare layouts.

Each round times batches on an empty partition, fills the partition to ``--ids``
ids spread evenly over ``--days`` days of event time, and times batches again
(their event times carry on past the fill, so retention trims as in steady
state). It prints, per trade, the client-side time of ``apply`` (the ingest path
waits for all of it; the median batch, best round) and the server time of the
script (``INFO commandstats``, ``evalsha``), and the growth of ``used_memory``
per id held after the fill.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

import redis

from signal_monitor.embedded import EmbeddedRedis
from signal_monitor.state.base import Batch

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "signals.trades"
START = 1748871000.0  # 2025-06-02 13:30 UTC, a Monday open


def state_class(rev: str | None) -> Any:
    """Return ``RedisState`` from the working tree, or from ``rev``'s source of the module."""
    if rev is None:
        from signal_monitor.state.redis import RedisState

        return RedisState
    source = subprocess.run(
        ["git", "show", f"{rev}:signal_monitor/state/redis.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(f"redis_state_at_{rev}")
    module.__file__ = f"{rev}:signal_monitor/state/redis.py"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102  (the project's own source)
    return module.RedisState


class Feed:
    """Batches of fresh trade ids on one partition, their event times ``step`` seconds apart."""

    def __init__(self, *, batch: int, step: float) -> None:
        self.batch = batch
        self.step = step
        self.run = uuid.uuid4().hex[:8]
        self.next = 0

    def take(self) -> Batch:
        """Return the next batch (offsets and ids follow the previous one's)."""
        first = self.next
        ids = {f"{self.run}-{i}": START + i * self.step for i in range(first, first + self.batch)}
        self.next += self.batch
        return Batch(topic=TOPIC, partition=0, first_offset=first, last_offset=self.next - 1,
                     watermark=max(ids.values()), earliest=min(ids.values()), worker="bench", trade_ids=ids)


def evalsha_usec(client: redis.Redis) -> tuple[int, int]:
    """Return the server's (calls, usec) of EVALSHA so far."""
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


async def timed(state: Any, feed: Feed, admin: redis.Redis, batches: int) -> tuple[float, float]:
    """Apply ``batches`` batches; return (client µs per trade of the median batch, server µs per trade)."""
    calls0, usec0 = evalsha_usec(admin)
    per_batch = []
    for _ in range(batches):
        b = feed.take()
        t0 = time.perf_counter()
        result = await state.apply(b)
        per_batch.append(time.perf_counter() - t0)
        assert result.applied, result
    calls1, usec1 = evalsha_usec(admin)
    return (statistics.median(per_batch) * 1e6 / feed.batch,
            (usec1 - usec0) / max(1, calls1 - calls0) / feed.batch)


async def one_round(cls: Any, url: str, admin: redis.Redis, *, ids: int, batch: int, batches: int,
                    step: float) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Time batches on an empty partition, fill it to ``ids`` ids, time batches again.

    Return (fresh timing, filled timing, growth of ``used_memory`` in bytes per id held after the fill).
    """
    prefix = f"smbench:{uuid.uuid4().hex[:8]}"
    state = cls.from_url(url, prefix=prefix)
    feed = Feed(batch=batch, step=step)
    try:
        admin.execute_command("MEMORY", "PURGE")
        before = int(admin.info("memory")["used_memory"])
        for _ in range(5):  # warm up: connections, the script cache
            await state.apply(feed.take())
        fresh = await timed(state, feed, admin, batches)
        while feed.next + batch <= ids:
            assert (await state.apply(feed.take())).applied
        admin.execute_command("MEMORY", "PURGE")
        grown = (int(admin.info("memory")["used_memory"]) - before) / feed.next
        filled = await timed(state, feed, admin, batches)
    finally:
        await state.close()
        delete_prefix(admin, prefix)
    return fresh, filled, grown


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete the keys under ``prefix:`` (SCAN + DEL)."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])  # not UNLINK: the next round's memory baseline must not include them


def main(argv: list[str] | None = None) -> int:
    """Measure and print one layout's figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.lab.dedup")
    parser.add_argument("--rev", help="take RedisState from this git revision (default: the working tree)")
    parser.add_argument("--ids", type=int, default=1_000_000, help="ids held by the partition after the fill")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=200, help="timed batches, before and after the fill")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--days", type=float, default=14.0, help="event-time span of the --ids ids")
    args = parser.parse_args(argv)
    cls = state_class(args.rev)
    step = args.days * 86400 / args.ids
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        runs = [
            asyncio.run(one_round(cls, server.url, admin, ids=args.ids, batch=args.batch, batches=args.batches, step=step))
            for _ in range(args.rounds)
        ]
        admin.close()
    fresh = min(r[0][0] for r in runs), min(r[0][1] for r in runs)
    filled = min(r[1][0] for r in runs), min(r[1][1] for r in runs)
    per_id = statistics.median(r[2] for r in runs)
    print(f"RedisState.apply ({args.rev or 'working tree'}), batches of {args.batch} fresh ids on one partition, "
          f"best of {args.rounds} rounds of {args.batches} batches")
    print("                                 client µs/trade   script µs/trade")
    print(f"  empty partition               {fresh[0]:10.2f}        {fresh[1]:10.2f}")
    print(f"  holding {args.ids:>9,} ids       {filled[0]:10.2f}        {filled[1]:10.2f}")
    print(f"  memory: {per_id:.1f} B/id = {per_id * 1e6 / 2**20:.1f} MiB per 1M ids "
          f"(used_memory growth, {args.ids:,} ids over {args.days:g} days of event time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
