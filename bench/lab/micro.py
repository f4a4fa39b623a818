"""In-process micro-benchmarks of the hot path's pieces, against their earlier versions in :mod:`bench.lab.fastpath`.

``python -m bench.lab.micro [--events N] [--redis]`` times, per event, over the
benchmark's trades: decoding (one event per message and envelopes of 500),
folding, and ``Ingestor.handle`` end to end on a ``MemoryState`` (no I/O) and,
with ``--redis``, on a ``RedisState`` over a private redis-server (its keys under
a prefix of their own, deleted after each round) — each earlier version (the
models' decode, the plain fold) against the one in use, after checking that both
give the same result. Figures are the best of 5 rounds (3 for ``handle``), the
least disturbed by other load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import msgspec

from bench.lab import fastpath
from bench.workload import TradeGenerator
from signal_monitor.agents.ingest import Ingestor, Record
from signal_monitor.state import fold as fold_module
from signal_monitor.state.memory import MemoryState
from signal_monitor.streams import codec
from signal_monitor.streams.fast_schema import to_model

MAX = 1024 * 1024


def best_us(fn: Callable[[], object], n_events: int, *, rounds: int = 5) -> float:
    """Return the best of ``rounds`` timings of ``fn()``, in microseconds per event."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()  # each round starts without the garbage of the one before
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e6 / n_events


def main(argv: list[str] | None = None) -> int:
    """Run the micro-benchmarks and print one line per piece."""
    parser = argparse.ArgumentParser(prog="python -m bench.lab.micro")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--redis", action="store_true", help="also time Ingestor.handle on a private RedisState")
    args = parser.parse_args(argv)
    n = args.events
    single = [v for _, v in TradeGenerator(n, seed=1).messages()]
    envelopes = [v for _, v in TradeGenerator(n, seed=1).messages(envelope=500)]

    # same results first
    def same_decode(raw: bytes) -> None:
        a, b = fastpath.reference_decode(raw, "trades", max_bytes=MAX), codec.decode(raw, "trades", max_bytes=MAX)
        assert [(i, e.model_dump()) for i, e in a[0]] == [(i, to_model(e).model_dump()) for i, e in b[0]]
        assert [codec.event_json(e) for _, e in a[0]] == [codec.event_json(e) for _, e in b[0]]
        assert repr(a[1]) == repr(b[1])

    for raw in single[:200] + envelopes[:2]:
        same_decode(raw)
    same_decode(b'[{"trade_id": "x"}, ' + single[0] + b"]")
    for raw in (single[0], envelopes[0]):  # the fast path takes the benchmark's messages
        assert isinstance(codec.decode(raw, "trades", max_bytes=MAX)[0][0][1], msgspec.Struct)
    assert fastpath.hour_boundaries_hold(date(2024, 1, 1), date(2026, 12, 31)), "a period boundary is not on the hour"
    events = [(i, e) for i, raw in enumerate(envelopes) for _, e in codec.decode(raw, "trades", max_bytes=MAX)[0]]
    models = [(i, e) for i, raw in enumerate(envelopes) for _, e in fastpath.reference_decode(raw, "trades", max_bytes=MAX)[0]]
    a_batch, _ = fastpath.reference_fold("t", 0, models)  # type: ignore[arg-type]
    for variant_events in (events, models):
        b_batch, _ = fold_module.fold("t", 0, variant_events)
        assert a_batch.flows.keys() == b_batch.flows.keys() and a_batch.trade_ids == b_batch.trade_ids
        assert (a_batch.first_offset, a_batch.last_offset, a_batch.watermark, a_batch.earliest) == (
            b_batch.first_offset, b_batch.last_offset, b_batch.watermark, b_batch.earliest)
        for week, scopes in a_batch.flows.items():
            assert list(scopes) == list(b_batch.flows[week])
            for scope, fields in scopes.items():
                assert list(fields) == list(b_batch.flows[week][scope])
                for name, value in fields.items():
                    assert abs(b_batch.flows[week][scope][name] - value) <= 1e-9 * abs(value), (week, scope, name)

    rows: list[tuple[str, float, float]] = []

    def decode_all(fn: Callable[..., object], messages: list[bytes]) -> Callable[[], None]:
        return lambda: [fn(raw, "trades", max_bytes=MAX) for raw in messages] and None

    rows.append(("decode, one event per message", best_us(decode_all(fastpath.reference_decode, single), n),
                 best_us(decode_all(codec.decode, single), n)))
    rows.append(("decode, envelopes of 500", best_us(decode_all(fastpath.reference_decode, envelopes), n),
                 best_us(decode_all(codec.decode, envelopes), n)))
    batches = [events[i : i + 2000] for i in range(0, len(events), 2000)]
    model_batches = [models[i : i + 2000] for i in range(0, len(models), 2000)]
    rows.append(("fold, batches of 2000", best_us(lambda: [fastpath.reference_fold("t", 0, b) for b in model_batches], n),
                 best_us(lambda: [fold_module.fold("t", 0, b) for b in batches], n)))
    rows.append(("  the same fold on models", float("nan"),
                 best_us(lambda: [fold_module.fold("t", 0, b) for b in model_batches], n)))
    rows.append(("json.loads only, one event per message", best_us(lambda: [json.loads(r) for r in single], n), float("nan")))

    redis_url = ""
    server = None
    if args.redis:
        from signal_monitor.embedded import EmbeddedRedis

        server = EmbeddedRedis(Path(".run/bench/micro-redis")).start()
        redis_url = server.url

    def handle(records: list[Record], earlier: bool, *, redis: bool = False) -> Callable[[], None]:
        import signal_monitor.agents.ingest as ingest

        def run() -> None:
            original = ingest.decode, ingest.fold
            if earlier:
                ingest.decode, ingest.fold = fastpath.reference_decode, fastpath.reference_fold  # type: ignore[assignment]
            try:
                async def go() -> None:
                    if redis:
                        from signal_monitor.state.redis import RedisState

                        state = RedisState.from_url(redis_url, prefix=f"smbench:{uuid.uuid4().hex[:8]}")
                    else:
                        state = MemoryState()  # type: ignore[assignment]

                    async def sink(_: object) -> None:
                        return None

                    ingestor = Ingestor(state, topic="t", kind="trades", dead_letters=sink, lateness_s=7 * 86400,
                                        max_message_bytes=MAX)
                    for i in range(0, len(records), 2000):
                        await ingestor.handle(records[i : i + 2000])
                    if redis:
                        from bench.monitor import delete_prefix

                        delete_prefix(__import__("redis").Redis.from_url(redis_url), state.prefix)  # type: ignore[attr-defined]
                        await state.close()  # type: ignore[attr-defined]

                asyncio.run(go())
            finally:
                ingest.decode, ingest.fold = original
        return run

    single_records = [Record(0, i, raw) for i, raw in enumerate(single)]
    env_records = [Record(0, i, raw) for i, raw in enumerate(envelopes)]
    rows.append(("Ingestor.handle on MemoryState, single", best_us(handle(single_records, True), n, rounds=3),
                 best_us(handle(single_records, False), n, rounds=3)))
    rows.append(("Ingestor.handle on MemoryState, envelopes", best_us(handle(env_records, True), n, rounds=3),
                 best_us(handle(env_records, False), n, rounds=3)))

    if server is not None:
        rows.append(("Ingestor.handle on RedisState, single", best_us(handle(single_records, True, redis=True), n, rounds=3),
                     best_us(handle(single_records, False, redis=True), n, rounds=3)))
        rows.append(("Ingestor.handle on RedisState, envelopes", best_us(handle(env_records, True, redis=True), n, rounds=3),
                     best_us(handle(env_records, False, redis=True), n, rounds=3)))
        server.stop()

    print(f"{'piece':45s} {'earlier µs/ev':>15s} {'in use µs/ev':>15s} {'speed-up':>9s}")
    for name, orig, var in rows:
        speed = orig / var if var == var and var else float("nan")
        print(f"{name:45s} {orig:15.2f} {var:15.2f} {speed:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
