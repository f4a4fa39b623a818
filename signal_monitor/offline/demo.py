"""The demo: the note's week end to end on the embedded default (or the configured broker and Redis).

It generates the seeded data set, backfills its history into Redis, streams the
four weeks up to the note's week through Kafka as individual events, runs a
worker process on them, prints each alert as it fires, a summary of the state
and the note the worker composed for the note's week (also written to
``<workdir>/note-<week>.md``), then stops what it started.

The worker closes the streamed weeks day by day as its watermark passes them; after
each of a week's days closes (Monday to Thursday) it evaluates the week so far, the
running week, and hands on the provisional findings of the rules marked provisional
(printed labelled "provisional"), which the week's final alerts then supersede.
They are kept apart from the final alerts (``DemoResult.provisional``).

The events are produced in two parts, so that the note's week runs for a while, as it
would live: everything before the note week's Thursday close first; the rest (Thursday's
close, Friday) once the worker has closed Wednesday. Meanwhile the worker's watermark
stands in Thursday (every partition idle: the newest event time plus the grace), and
Wednesday's close evaluates the week with its data through Thursday afternoon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from signal_monitor.config.settings import Settings
from signal_monitor.periods import close_at
from signal_monitor.redaction import redact_url
from signal_monitor.streams.topics import INPUTS

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VIX_CSV = REPO_ROOT / "data" / "vix-daily.csv"


@dataclass
class DemoResult:
    """What a demo run produced."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: the provisional findings of the running weeks, and their withdrawals, in the order they came
    provisional: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: int = 0
    produced: dict[str, int] = field(default_factory=dict)
    note_week: str = ""
    note: str = ""  #: the note's week as Markdown, as the worker stored it ("" when it stored none)
    note_json: dict[str, Any] = field(default_factory=dict)  #: the same note as data (headline, sections, claims)
    note_path: Path | None = None
    seconds: float = 0.0


def _stream_messages(manifest: Any) -> list[tuple[float, str, bytes, bytes]]:
    """Return every streamed event as (event time, kind, key, value), in event-time order."""
    from datetime import datetime

    out = []
    for kind, rel in manifest.streams.items():
        key_field = INPUTS[kind]
        with manifest.path(rel).open("rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                event = json.loads(line)
                ts = datetime.fromisoformat(event["ts"]).timestamp()
                out.append((ts, kind, str(event[key_field]).encode(), line.rstrip(b"\n")))
    out.sort(key=lambda m: m[0])
    return out


def services_line(bootstrap: str, redis_url: str, key_prefix: str) -> str:
    """Return the demo's first line (rich markup): the broker, the Redis URL with its password masked, the keys."""
    return (
        f"[bold]broker[/] {escape(bootstrap)}   [bold]redis[/] {escape(redact_url(redis_url))}   "
        f"[bold]keys[/] {escape(key_prefix)}:*"
    )


def alert_line(alert: dict[str, Any]) -> str:
    """Return the line (rich markup) the demo prints for an alert; a provisional finding is labelled so."""
    head = f"[bold yellow]{escape(alert['rule'])}[/] [dim]{alert['period_end']}[/]  {escape(alert['text'])}"
    if alert.get("provisional"):
        label = "provisional" if alert.get("fired", True) else "provisional, withdrawn"
        return f"[bold magenta]({label})[/] {head}"
    if alert.get("supersedes"):
        return f"{head} [dim](supersedes the provisional finding)[/]"
    return head


def _closed_through(client: Any, prefix: str) -> date | None:
    raw = client.hget(f"{prefix}:rule:__closer__", "progress")
    if not raw:
        return None
    day = json.loads(raw).get("day")
    return date.fromisoformat(day) if day else None


def run_demo(
    settings: Settings,
    *,
    workdir: Path,
    vix_csv: Path = DEFAULT_VIX_CSV,
    console: Console | None = None,
    timeout_s: float = 300.0,
) -> DemoResult:
    """Run the demo and return the alerts it fired; raises RuntimeError when the worker fails."""
    import asyncio

    import redis
    from kafka import KafkaConsumer, KafkaProducer

    from signal_monitor.offline.backfill import backfill
    from signal_monitor.embedded.services import ensure_services
    from signal_monitor.offline.simulate import simulate
    from signal_monitor.state.redis import RedisState
    from signal_monitor.streams.topics import ensure_topics

    console = console or Console()
    started = time.monotonic()
    result = DemoResult()
    workdir.mkdir(parents=True, exist_ok=True)
    with ensure_services(settings, workdir=workdir / "services") as (bootstrap, redis_url):
        run_id = uuid.uuid4().hex[:6]
        demo = settings.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "redis_url": redis_url,
                "key_prefix": f"{settings.key_prefix}-demo",
                "topic_prefix": f"{settings.topic_prefix}-demo-{run_id}",
                "app_id": f"{settings.app_id}-demo-{run_id}",
                "idle_partition_s": 5.0,
            }
        )
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        stale = list(client.scan_iter(match=f"{demo.key_prefix}:*", count=1000))
        for i in range(0, len(stale), 500):
            client.unlink(*stale[i : i + 500])
        console.print(services_line(bootstrap, redis_url, demo.key_prefix))

        manifest = simulate(workdir / "data", vix_csv=vix_csv)
        result.note_week = manifest.note_week
        console.print(f"generated the data set in {manifest.root} (weeks streamed: {', '.join(manifest.stream_weeks)})")

        async def load_history() -> Any:
            state = RedisState.from_url(redis_url, prefix=demo.key_prefix, topic_prefix=demo.topic_prefix)
            try:
                return await backfill(state, **manifest.backfill_args())
            finally:
                await state.close()

        summary = asyncio.run(load_history())
        console.print(f"backfilled history up to {manifest.history_end}: {summary}")

        ensure_topics(demo)
        messages = _stream_messages(manifest)
        target = date.fromisoformat(manifest.note_week)
        wednesday = target - timedelta(days=2)
        thursday_close = close_at(target - timedelta(days=1), "day").timestamp()
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)

        def stream(part: list[tuple[float, str, bytes, bytes]]) -> dict[str, int]:
            counts: dict[str, int] = {}
            for _, kind, key, value in part:
                producer.send(demo.topic(kind), key=key, value=value)
                counts[kind] = counts.get(kind, 0) + 1
                result.produced[kind] = result.produced.get(kind, 0) + 1
            producer.flush(timeout=60)
            return counts

        rest = [m for m in messages if m[0] >= thursday_close]
        first = stream([m for m in messages if m[0] < thursday_close])
        console.print(
            "streamed " + ", ".join(f"{n} {k}" for k, n in first.items())
            + f" events, up to the close of {(target - timedelta(days=1)).isoformat()}; the rest of the note's week "
            f"follows once the worker has closed {wednesday.isoformat()}"
        )

        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": bootstrap,
            "REDIS_URL": redis_url,
            "SM_KEY_PREFIX": demo.key_prefix,
            "SM_TOPIC_PREFIX": demo.topic_prefix,
            "SM_APP_ID": demo.app_id,
            "SM_IDLE_PARTITION_S": str(demo.idle_partition_s),
            "SM_DATA_DIR": str(workdir / "worker"),
            "SM_KAFKA_SESSION_TIMEOUT_S": "6",
            "SM_KAFKA_REBALANCE_TIMEOUT_S": "4",
        }
        log_path = workdir / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "signal_monitor", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        console.print(f"worker started (pid {worker.pid}, log {log_path})\n")
        consumer = KafkaConsumer(
            demo.topic("alerts"), bootstrap_servers=bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None, consumer_timeout_ms=500,
        )
        quiet_since: float | None = None
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                got = 0
                for msg in consumer:
                    alert = json.loads(msg.value)
                    got += 1
                    console.print(alert_line(alert))
                    (result.provisional if alert.get("provisional") else result.alerts).append(alert)
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with {worker.returncode}; see {log_path}")
                closed = _closed_through(client, demo.key_prefix) or date.min
                if rest and closed >= wednesday:
                    counts = stream(rest)
                    rest = []
                    console.print(
                        "[dim]streamed the rest of the note's week: "
                        + ", ".join(f"{n} {k}" for k, n in counts.items()) + " events[/]"
                    )
                    got += 1  # not quiet yet
                done = closed >= target
                if done and not got:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 2.0:
                        break
                else:
                    quiet_since = None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the note's week was not processed within {timeout_s:.0f} s; see {log_path}")
        finally:
            consumer.close()
            producer.close()
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        dlq = KafkaConsumer(
            demo.topic("dlq"), bootstrap_servers=bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000,
        )
        result.dead_letters = sum(1 for _ in dlq)
        dlq.close()
        _print_summary(console, client, demo.key_prefix, result, target)
        client.close()
        _print_note(console, redis_url, demo.key_prefix, result, target, workdir)
    result.seconds = time.monotonic() - started
    console.print(f"\ndone in {result.seconds:.0f} s")
    return result


def _print_note(console: Console, redis_url: str, prefix: str, result: DemoResult, week: date, workdir: Path) -> None:
    """Print the note the worker stored for ``week`` and write it to ``<workdir>/note-<week>.md``."""
    import asyncio

    from signal_monitor.notes.notebook import Notebook
    from signal_monitor.notes.render import markdown
    from signal_monitor.state.redis import RedisState

    async def read() -> Any:
        state = RedisState.from_url(redis_url, prefix=prefix)
        try:
            return await Notebook(state, None).stored(week)
        finally:
            await state.close()

    note = asyncio.run(read())
    if note is None:
        console.print(f"\n[bold red]the worker stored no note for the week ending {week.isoformat()}[/]")
        return
    result.note = markdown(note)
    result.note_json = json.loads(note.model_dump_json())
    result.note_path = workdir / f"note-{week.isoformat()}.md"
    result.note_path.write_text(result.note, encoding="utf-8")
    console.print()
    console.rule(f"the note of the week ending {week.isoformat()} ({result.note_path})")
    console.print(escape(result.note), highlight=False, soft_wrap=True)


def _point(client: Any, prefix: str, sid: str, period: date) -> float | None:
    o = period.toordinal()
    rows = client.zrangebyscore(f"{prefix}:{{s:{sid}}}", o, o)
    return float(rows[0].split("\x1f")[1]) if rows else None


def _print_summary(console: Console, client: Any, prefix: str, result: DemoResult, week: date) -> None:
    from signal_monitor.streams.events import GICS_SECTORS

    console.print()
    by_rule = Counter(a["rule"] for a in result.alerts)
    table = Table(title=f"alerts: {len(result.alerts)}")
    table.add_column("rule")
    table.add_column("count", justify="right")
    for rule, n in sorted(by_rule.items()):
        table.add_row(rule, str(n))
    console.print(table)
    if result.provisional:
        found = [a for a in result.provisional if a.get("fired", True)]
        superseded = {a["supersedes"] for a in result.alerts if a.get("supersedes")}
        withdrawn = sum(1 for a in result.provisional if not a.get("fired", True))
        console.print(
            f"provisional findings of the running weeks: {len(found)}; superseded by the week's final alert "
            f"{sum(1 for a in found if a['dedup_key'] in superseded)}, withdrawn at the close {withdrawn}"
        )
    flows = Table(title=f"hedge-fund net buying, week ending {week.isoformat()} (state in Redis)")
    flows.add_column("sector")
    flows.add_column("net buying", justify="right")
    flows.add_column("long/short", justify="right")
    for sector in GICS_SECTORS:
        scope = f"fund_type=hedge_fund|sector={sector}"
        net = _point(client, prefix, f"net_buying:week|{scope}", week)
        ratio = _point(client, prefix, f"ls_flow_ratio:week|{scope}", week)
        shown_ratio = "-" if net is None else "no short sales" if ratio is None else f"{ratio:.2f}"
        flows.add_row(sector, "-" if net is None else f"{net / 1e9:+,.2f}B", shown_ratio)
    console.print(flows)
    lev = _point(client, prefix, "gross_leverage:week|strategy=fundamental_long_short", week)
    net_lev = _point(client, prefix, "net_leverage:week|strategy=fundamental_long_short", week)
    vix = _point(client, prefix, "close:day|symbol=VIX", week)
    parts = []
    if lev is not None and net_lev is not None:
        parts.append(f"fundamental L/S gross leverage {lev * 100:.1f}%, net {net_lev * 100:.1f}%")
    if vix is not None:
        parts.append(f"VIX close {vix:.2f}")
    parts.append(f"dead letters {result.dead_letters}")
    console.print("; ".join(parts))
