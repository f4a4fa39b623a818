"""``python -m bench`` (``make bench``): the monitor and its baselines measured in one run.

It starts its own embedded broker (Apache Kafka, one KRaft node, when Java is here;
Tansu otherwise or with ``SM_EMBEDDED_BROKER=tansu``) and private redis-server, produces the
load, then measures in turn, each figure the median of at least three
repetitions:

* ``raw_consume_per_s``: an aiokafka ``getmany`` loop over the single-event topic;
* ``faust_empty_agent_per_s``: the faster of two Faust agents that only count
  (``async for value in stream`` and ``stream.take(1000, within=1)``), default settings;
* ``naive_agent_per_s``: a Faust agent doing one Redis ``HINCRBYFLOAT`` per event;
* ``events_per_s_single`` / ``events_per_s_batched``: ``signal-monitor worker``
  subprocesses (validation, state in Redis, the default rules) over one trade per
  message / envelopes of 500 trades, timed from the first applied offset to the last;
* ``alert_latency_p99_ms``: from producing the event that fires an alert to a local Slack-compatible
  webhook getting it, the p99 over the alerts of three repetitions (300 in a full run, 90 with
  ``BENCH_QUICK=1``), with the alerts topic and the alert's ``fired_at`` as secondary splits; see
  :mod:`bench.latency` (the worker there uses a routes file without ``group_wait``);
* ``rss_start_mb`` / ``rss_end_mb``: the worker of the longest run (the soak in a
  full run, the batched run with ``BENCH_QUICK=1``), at its first applied batch and its end.

A full run adds two workers over four partitions (the scaling factor), the cost
per event with 1 and 5 years of history in Redis, and a soak of
``BENCH_SOAK_EVENTS`` (default 10,000,000) batched events for RSS growth.
``BENCH_QUICK=1`` measures the headline figures with smaller counts, three
timed windows of one process each instead of three processes, in under 2 minutes.

It prints a table and, as its last line, one JSON object with exactly the keys
of :data:`bench.report.HEADLINE_KEYS`, ``broker`` naming the broker ("apache-kafka 4.1.1").
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import Row, headline_json, median, percentile, print_table

if TYPE_CHECKING:
    from bench.peers import PeerResult


@dataclass(frozen=True)
class Plan:
    """How much of everything one run measures."""

    quick: bool
    processes: int  #: separate processes per figure (full: 3)
    windows: int  #: timed windows per process (quick: 3)
    single_messages: int  #: trades in the single-event topic (raw reads all of it)
    faust_messages: int  #: per Faust baseline process
    naive_messages: int
    monitor_single_messages: int
    batched_events: int  #: per batched run
    latency_alerts: int  #: alerts per latency repetition
    history_events: int  #: per history run
    scale_single_messages: int  #: per two-worker run
    scale_batched_events: int
    scale: bool
    history: bool
    soak_events: int  #: 0: no soak

    @classmethod
    def from_env(cls) -> "Plan":
        """Return the quick plan with ``BENCH_QUICK=1``, else the full one."""
        if os.environ.get("BENCH_QUICK", "") not in ("", "0"):
            return cls(True, 1, 3, 150_000, 9_000, 4_000, 7_500, 400_000, 30, 0, 0, 0, False, False, 0)
        soak = int(os.environ.get("BENCH_SOAK_EVENTS", "10000000"))
        return cls(False, 3, 1, 150_000, 20_000, 8_000, 25_000, 250_000, 100, 80_000, 20_000, 150_000, True, True, soak)


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _repeat(plan: Plan, fn: Callable[[], list[float]]) -> list[float]:
    """Run ``fn`` (which returns window rates) ``plan.processes`` times; return all rates."""
    out: list[float] = []
    for _ in range(plan.processes):
        out.extend(fn())
    return out


def main() -> int:
    """Run the benchmark; print the table and the JSON line."""
    from bench import baselines, history, latency, monitor, peers
    from bench.services import Services
    from signal_monitor.embedded.kafka import java_available
    from signal_monitor.embedded.process import exit_on_sigterm

    exit_on_sigterm()  # a stopped run stops its broker and Redis too
    plan = Plan.from_env()
    started = time.perf_counter()
    workdir = Path(os.environ.get("BENCH_WORKDIR", ".run/bench")) / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    rows: list[Row] = []
    figures: dict[str, float | str | None] = {}
    cores = os.cpu_count() or 1
    _say(f"{'quick' if plan.quick else 'full'} run on {cores} cores; work files in {workdir}")

    def add(name: str, reps: list[float], unit: str, note: str = "", key: str = "", value: float | None = None) -> float:
        v = median(reps) if value is None else value
        rows.append(Row(name, v, unit, reps, note, key))
        if key:
            figures[key] = v
        return v

    with Services(workdir / "services") as svc:
        broker_label = figures["broker"] = svc.broker_label
        _say(f"broker {broker_label} at {svc.bootstrap}, redis {svc.redis_url}")
        single = svc.new_topics()
        batched = svc.new_topics()
        single_topic, batched_topic = f"{single}.trades", f"{batched}.trades"
        t0 = time.perf_counter()
        n_single = svc.produce_trades(single_topic, plan.single_messages)
        n_batched = svc.produce_trades(batched_topic, plan.batched_events, envelope=500, seed=8)
        _say(f"produced {n_single:,} single-trade messages and {n_batched:,} envelopes in {time.perf_counter() - t0:.1f} s")

        # --- baselines ------------------------------------------------------------------------------
        def baseline(kind: str, messages: int, **kw: str) -> Callable[[], list[float]]:
            return lambda: baselines.run_baseline(
                kind, bootstrap=svc.bootstrap, topic=single_topic, messages=messages, workdir=workdir / "baselines",
                windows=plan.windows, **kw,  # type: ignore[arg-type]
            )["per_s"]

        _say("raw aiokafka consumer")
        raw = baselines.run_baseline(
            "raw", bootstrap=svc.bootstrap, topic=single_topic, messages=n_single, workdir=workdir / "baselines",
            windows=max(3, plan.windows),
        )["per_s"]
        raw_v = add("raw aiokafka getmany (messages/s)", raw, "msg/s", "no processing, no group", "raw_consume_per_s")
        java_peers = java_available()
        if java_peers:
            _say("Kafka's ConsumerPerformance")
            perf = _peer(lambda: peers.consumer_performance(
                svc.bootstrap, single_topic, n_single, workdir=workdir / "peers", runs=max(3, plan.windows)))
            add("Kafka ConsumerPerformance (fetch.nMsg.sec)", perf, "msg/s",
                "the broker's own Java consumer, defaults; a new JVM each run", "consumer_perf_per_s")
        _say("Faust empty agents")
        it = _repeat(plan, baseline("faust_iter", plan.faust_messages))
        take = _repeat(plan, baseline("faust_take", plan.faust_messages))
        it_v = add("Faust agent `async for value in stream` (counts)", it, "msg/s", "default settings")
        take_v = add("Faust agent `stream.take(1000, within=1)` (counts)", take, "msg/s", "default settings")
        faust_v = max(it_v, take_v)
        figures["faust_empty_agent_per_s"] = faust_v
        rows.append(Row("= faust_empty_agent_per_s", faust_v, "msg/s", [], "the faster of the two", "faust_empty_agent_per_s"))
        _say("naive agent (one HINCRBYFLOAT per event)")
        naive_key = f"smbench:{uuid.uuid4().hex[:8]}:naive"
        naive = _repeat(plan, baseline("naive", plan.naive_messages, redis_url=svc.redis_url, key=naive_key))
        add("naive Faust agent, one Redis write per event", naive, "ev/s", "default settings", "naive_agent_per_s")
        _delete_keys(svc.redis_url, naive_key)

        # --- the monitor ----------------------------------------------------------------------------
        def monitor_run(topic_prefix: str, messages: int, per_message: int, *, workers: int = 1, extra: dict[str, str] | None = None,
                        key_prefix: str | None = None, keep: list[monitor.RunResult] | None = None) -> Callable[[], list[float]]:
            def run() -> list[float]:
                result = monitor.run_workers(
                    bootstrap=svc.bootstrap, redis_url=svc.redis_url, topic_prefix=topic_prefix,
                    topic=f"{topic_prefix}.trades", partitions=4, messages=messages, events_per_message=per_message,
                    workdir=workdir / "workers", workers=workers, extra_env=extra, key_prefix=key_prefix,
                    keep_keys=key_prefix is not None,
                )
                if keep is not None:
                    keep.append(result)
                return result.window_rates(plan.windows)
            return run

        _say("monitor, one trade per message")
        single_runs: list[monitor.RunResult] = []
        s_rates = _repeat(plan, monitor_run(single, plan.monitor_single_messages, 1, keep=single_runs))
        single_v = add("monitor, one event per message", s_rates, "ev/s", "worker subprocess, rules on", "events_per_s_single")
        _say("monitor, envelopes of 500 trades")
        batched_runs: list[monitor.RunResult] = []
        envelopes = plan.batched_events // 500
        b_rates = _repeat(plan, monitor_run(batched, envelopes, 500, keep=batched_runs))
        batched_v = add("monitor, envelopes of 500 events", b_rates, "ev/s", "worker subprocess, rules on", "events_per_s_batched")

        # --- the peers doing the same aggregation ---------------------------------------------------------------
        _say("Quix Streams, one trade per message")
        quix = _peer(lambda: _repeat_peer(plan, peers.run_quix, svc.bootstrap, single_topic, n_single, 1, workdir))
        quix_v = add("Quix Streams, one trade per message", quix, "ev/s",
                     "net notional per (fund type, sector, week): group_by, RocksDB, exactly-once", "quix_streams_per_s")
        ks_v = ks_b_v = None
        if java_peers:
            _say("Kafka Streams, one trade per message and envelopes of 500")
            peers.kafka_streams_classpath()  # fetch and compile once, outside the clock
            ks = _peer(lambda: _repeat_peer(plan, peers.run_kafka_streams, svc.bootstrap, single_topic, n_single, 1, workdir))
            ks_v = add("Kafka Streams, one trade per message", ks, "ev/s",
                       "net notional per (fund type, sector, week): re-keyed, RocksDB, exactly-once", "kafka_streams_per_s")
            ks_b = _peer(lambda: _repeat_peer(plan, peers.run_kafka_streams, svc.bootstrap, batched_topic, n_batched, 500, workdir))
            ks_b_v = add("Kafka Streams, envelopes of 500", ks_b, "ev/s", "the same, each envelope summed per key first",
                         "kafka_streams_batched_per_s")

        _say("alert latency under a 10k events/s background load")
        lat_prefix = svc.new_topics()
        lat = latency.run_latency(
            bootstrap=svc.bootstrap, redis_url=svc.redis_url, topic_prefix=lat_prefix, workdir=workdir / "latency",
            reps=3, alerts_per_rep=plan.latency_alerts,
        )
        add("alert latency p99, produce -> Slack-compatible receiver", lat.p99_per_rep, "ms",
            f"over all {3 * plan.latency_alerts} alerts (each rep's p99 beside); local webhook, routes without group_wait",
            "alert_latency_p99_ms", value=lat.p99)
        add("alert latency, slowest alert", [lat.worst], "ms")
        add("alert latency p50, produce -> receiver", lat.p50_per_rep, "ms",
            f"each alert a pace ({lat.pace_s:g} s) after the last: its channel idle")
        add("alert latency p99, produce -> alerts topic", lat.topic_p99_per_rep, "ms", "read by a consumer here")
        add("alert latency p50, produce -> alerts topic", lat.topic_p50_per_rep, "ms")
        for name, values, note in (
            ("produce -> rule fired", lat.to_fired, "the alert's fired_at: the consumer, the closer, the rule"),
            ("rule fired -> alerts topic", lat.fired_to_topic, "producing the alert and fetching it here"),
            ("rule fired -> receiver", lat.fired_to_receiver, "the alerts topic, the outbox, the dispatcher, the POST"),
        ):
            add(f"  of which {name} (p50)", [percentile(values, 50)], "ms", f"p99 {percentile(values, 99):,.1f} ms; {note}")
        if lat.unexpected_posts:
            add("  posts to the receiver not waited for", [], "", "duplicates?", value=float(lat.unexpected_posts))
        add("background load during the latency runs", [lat.background_events_per_s], "ev/s", "envelopes of 100 trades")

        # --- scale ------------------------------------------------------------------------------------
        if plan.scale:
            _say("two workers over four partitions")
            s2 = _repeat(plan, monitor_run(single, plan.scale_single_messages, 1, workers=2))
            b2 = _repeat(plan, monitor_run(batched, plan.scale_batched_events // 500, 500, workers=2))
            s2_v = add("2 workers, one event per message", s2, "ev/s", "4 partitions")
            b2_v = add("2 workers, envelopes of 500", b2, "ev/s", "4 partitions")
            add("scaling factor, single (2 workers / 1)", [], "x", "", value=s2_v / single_v if single_v else None)
            add("scaling factor, batched (2 workers / 1)", [], "x", "", value=b2_v / batched_v if batched_v else None)

        # --- history --------------------------------------------------------------------------------
        if plan.history:
            # both histories stay loaded and the runs alternate (1 y, 5 y, 1 y, ...), so that a change of
            # load on the shared machine touches both alike
            first_friday = _first_friday_of_stream()
            end = first_friday - timedelta(days=7)
            prefixes: dict[int, str] = {}
            loaded: dict[int, tuple[int, int]] = {}
            for years in (1, 5):
                prefixes[years] = f"smbench:{uuid.uuid4().hex[:8]}"
                n_series, n_points, secs = history.load_history_sync(svc.redis_url, prefixes[years], years=years, end=end)
                loaded[years] = (n_series, n_points)
                _say(f"history {years} y: {n_series} series, {n_points:,} points in {secs:.1f} s")
            rules_ms = {years: history.time_rules_sync(svc.redis_url, prefixes[years], friday=end) for years in (1, 5)}
            h_messages = min(envelopes, max(1, plan.history_events // 500))
            h_rates: dict[int, list[float]] = {1: [], 5: []}
            for _ in range(plan.processes):
                for years in (1, 5):
                    h_rates[years].extend(monitor_run(batched, h_messages, 500, key_prefix=prefixes[years])())
            per_event: dict[int, float] = {}
            for years in (1, 5):
                n_series, n_points = loaded[years]
                v = add(f"monitor, envelopes, {years} y of history", h_rates[years], "ev/s", f"{n_series} series, {n_points:,} points")
                per_event[years] = 1e6 / v if v else float("nan")
                add(f"  cost per event, {years} y of history", [], "µs", "", value=per_event[years])
                add(f"  default rules at a week close, {years} y", [rules_ms[years]["week"]], "ms", "once per week, not per event")
                add(f"  default rules at a day close, {years} y", [rules_ms[years]["day"]], "ms", "once per day, not per event")
                _delete_keys(svc.redis_url, prefixes[years])
            add("cost per event, 5 y / 1 y of history", [], "x", "1.0 = does not grow", value=per_event[5] / per_event[1])

        # --- soak: RSS over a long run --------------------------------------------------------------
        rss_source = batched_runs[-1]
        if plan.soak_events:
            _say(f"soak: {plan.soak_events:,} batched events in one worker")
            soak = svc.new_topics()
            n_soak = svc.produce_trades(f"{soak}.trades", plan.soak_events, envelope=500, seed=9)
            keep: list[monitor.RunResult] = []
            monitor_run(soak, n_soak, 500, keep=keep)()
            rss_source = keep[0]
            add(f"soak, {plan.soak_events:,} events, one worker", [rss_source.events_per_s], "ev/s")
            add("Redis memory at the end of the soak", [rss_source.redis_mb], "MiB",
                "mostly the trade-id dedup set (kept SM_DEDUP_TTL_DAYS)")
        add("worker RSS at the first applied batch", [rss_source.rss_start_mb], "MiB", "", "rss_start_mb")
        add("worker RSS at the end", [rss_source.rss_end_mb], "MiB",
            f"over {rss_source.messages * rss_source.events_per_message:,.0f} events", "rss_end_mb")
        peak = max([m for _, m in rss_source.rss_trace] + [rss_source.rss_start_mb, rss_source.rss_end_mb])
        add("worker RSS peak", [peak], "MiB")
        trace = rss_source.rss_trace
        if len(trace) >= 4:
            quarters = [trace[min(len(trace) - 1, len(trace) * q // 4)][1] for q in (1, 2, 3)]
            add("worker RSS at 1/4, 1/2, 3/4 of the run", quarters, "MiB", "flat = bounded buffers, rising = a leak",
                value=quarters[-1])
        if rss_source.rss_start_mb:
            add("RSS growth, end / start - 1", [], "%", "the goal: < 10 % over 10M events",
                value=100.0 * (rss_source.rss_end_mb / rss_source.rss_start_mb - 1))
        warm_at = rss_source.seconds / 10
        warm = next((mb for t, mb in trace if t >= warm_at), 0.0)
        if warm:
            add("RSS growth after warm-up, end / RSS at 1/10 of the run - 1", [], "%",
                f"{warm:.1f} -> {rss_source.rss_end_mb:.1f} MiB (+{rss_source.rss_end_mb - warm:.1f}); goal < 10 % and "
                "< 150 MiB", "rss_growth_pct", value=100.0 * (rss_source.rss_end_mb / warm - 1))

    add("events_per_s_single / faust_empty_agent_per_s", [], "x", "goal >= 1", value=single_v / faust_v if faust_v else None)
    add("events_per_s_batched / raw_consume_per_s", [], "x", "goal >= 0.5", value=batched_v / raw_v if raw_v else None)
    add("events_per_s_batched / kafka_streams_batched_per_s", [], "x", "goal >= 0.5",
        value=batched_v / ks_b_v if ks_b_v else None)
    add("events_per_s_single / kafka_streams_per_s", [], "x", "", value=single_v / ks_v if ks_v else None)
    add("events_per_s_single / quix_streams_per_s", [], "x", "goal >= 1.5", value=single_v / quix_v if quix_v else None)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    header = [
        f"signal-monitor bench ({'BENCH_QUICK=1' if plan.quick else 'full'}), {date.today().isoformat()}",
        f"machine: {cores} cores, {platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}",
        f"broker: {broker_label} (embedded, one node, on this machine); command: {_command(plan)}",
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (other processes share these cores)",
        (
            f"each figure: median of {plan.processes} process run(s) x {plan.windows} timed window(s); "
            f"start-up and group join excluded; took {elapsed:.0f} s"
        ),
    ]
    print_table(rows, title="signal-monitor throughput, latency and memory", header=header)
    if os.environ.get("BENCH_KEEP_FILES", "") in ("", "0"):
        shutil.rmtree(workdir, ignore_errors=True)
    print(headline_json(figures), flush=True)
    return 0


def _repeat_peer(plan: Plan, run: Callable[..., "PeerResult"], bootstrap: str, topic: str, messages: int, per_message: int,
                 workdir: Path) -> list[float]:
    """Run a peer ``plan.processes`` times over the whole topic; return each run's rate (first commit to last).

    A peer's rate is its whole run's: its input is committed ahead of the repartition topic it
    feeds, so windows of committed input would credit the early windows with work done at the end.
    """
    return [
        run(bootstrap=bootstrap, topic=topic, messages=messages, events_per_message=per_message, workdir=workdir / "peers").events_per_s
        for _ in range(plan.processes)
    ]


def _peer(fn: Callable[[], list[float]]) -> list[float]:
    """Run a peer's measurement; on failure say why and return no figures (the JSON line then holds null)."""
    from bench.monitor import BenchError

    try:
        return fn()
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        _say(f"peer failed, its figure is left out: {exc}")
        return []


def _command(plan: Plan) -> str:
    """The command line of this run, as the figures should name it."""
    env = [f"{name}={os.environ[name]}" for name in ("BENCH_QUICK", "BENCH_SOAK_EVENTS", "SM_EMBEDDED_BROKER") if os.environ.get(name)]
    return " ".join([*env, "python -m bench"])


def _first_friday_of_stream() -> date:
    """Return the Friday of the first week of the benchmark's trades (they span 20 days up to yesterday)."""
    start = date.today() - timedelta(days=21)
    return start + timedelta(days=(4 - start.weekday()) % 7)


def _delete_keys(redis_url: str, key_or_prefix: str) -> None:
    import redis

    from bench.monitor import delete_prefix

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.delete(key_or_prefix)
        delete_prefix(client, key_or_prefix)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
