"""Helpers for integration tests: worker processes, producing events, waiting, and ground truth."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from signal_monitor.periods import week_end

SECTORS = ("Industrials", "Health Care", "Information Technology", "Energy")
ACTIONS = ("buy_long", "sell_long", "sell_short", "buy_to_cover")
SEP = "\x1f"
INPUT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass
class Names:
    """Topic prefix, consumer group and key prefix unique to one test."""

    key_prefix: str
    topic_prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    app_id: str = field(default_factory=lambda: f"sm-{uuid.uuid4().hex[:8]}")

    def topic(self, name: str) -> str:
        """Return the full name of a topic of this test."""
        return f"{self.topic_prefix}.{name}"


def create_topics(
    bootstrap: str, names: Names, *, partitions: int = 4, input_config: Mapping[str, str] | None = None
) -> None:
    """Create this test's input and output topics; ``input_config`` is added to the four input topics' config.

    Apache Kafka refuses a message over a topic's max.message.bytes (1 MiB by default) when it is
    produced; the input topics here take 8 MiB, so that messages over the monitor's own
    SM_MAX_MESSAGE_BYTES (1 MiB) reach the worker and its dead-letter path, as on a desk's topic
    configured to accept them.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    config = {"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES), **(input_config or {})}
    try:
        admin.create_topics(
            [
                NewTopic(names.topic(t), partitions, 1, topic_configs=config)
                for t in ("trades", "quotes", "exposures", "observations")
            ]
            + [NewTopic(names.topic(t), 1, 1) for t in ("dlq", "alerts", "status")]
        )
    finally:
        admin.close()


class Worker:
    """A ``signal-monitor worker`` subprocess with its own log file."""

    def __init__(self, bootstrap: str, redis_url: str, names: Names, workdir: Path, *, env: Mapping[str, str] = {}, tag: str = "w") -> None:
        self.log_path = workdir / f"worker-{tag}-{uuid.uuid4().hex[:4]}.log"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": bootstrap,
            "REDIS_URL": redis_url,
            "SM_KEY_PREFIX": names.key_prefix,
            "SM_TOPIC_PREFIX": names.topic_prefix,
            "SM_APP_ID": names.app_id,
            "SM_DATA_DIR": str(workdir / f"data-{tag}"),
            "SM_WORKER_ID": tag,
            "SM_RULES_ENABLED": "false",
            "SM_REDIS_RETRY_MAX_S": "2",
            "SM_KAFKA_SESSION_TIMEOUT_S": "6",
            "SM_KAFKA_REBALANCE_TIMEOUT_S": "4",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Worker":
        """Start the process."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "signal_monitor", "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the worker and wait for it to exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL)."""
        self.kill(signal.SIGTERM)

    @property
    def log(self) -> str:
        """Return what the worker printed so far."""
        return self.log_path.read_text(errors="replace")


def trade(i: int, *, ts: datetime, fund: str | None = None, rng: random.Random) -> dict[str, Any]:
    """Return a valid trade event."""
    qty = rng.randint(1, 500)
    price = round(rng.uniform(5, 500), 2)
    return {
        "trade_id": f"T{i}",
        "ts": ts.isoformat(),
        "fund_id": fund or f"F{rng.randint(0, 40)}",
        "fund_type": rng.choice(("hedge_fund", "long_only")),
        "strategy": rng.choice(("fundamental_long_short", "quant", "macro")),
        "symbol": f"S{rng.randint(0, 99)}",
        "instrument_type": "single_stock",
        "sector": rng.choice(SECTORS),
        "action": rng.choice(ACTIONS),
        "quantity": qty,
        "price": price,
        "notional": round(qty * price, 2),
    }


def make_trades(n: int, *, seed: int, start: datetime, span: timedelta) -> list[dict[str, Any]]:
    """Return ``n`` valid trades with event times spread over ``span`` from ``start``, in time order."""
    rng = random.Random(seed)
    step = span / n
    return [trade(i, ts=start + step * i, rng=rng) for i in range(n)]


def produce(bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Produce raw ``(key, value)`` messages and flush; return how many."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024)
    n = 0
    for key, value in items:
        producer.send(topic, key=key, value=value)
        n += 1
    producer.flush(timeout=60)
    producer.close()
    return n


def as_messages(events: list[dict[str, Any]], *, envelope: int = 1) -> list[tuple[bytes, bytes]]:
    """Return messages for ``events``: one per event, or JSON arrays of ``envelope`` events of one fund."""
    if envelope <= 1:
        return [(e["fund_id"].encode(), json.dumps(e).encode()) for e in events]
    by_fund: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_fund[e["fund_id"]].append(e)
    out = []
    for fund, evs in by_fund.items():
        for i in range(0, len(evs), envelope):
            out.append((fund.encode(), json.dumps(evs[i : i + envelope]).encode()))
    return out


def ground_truth(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """Return expected notional and count per (week, fund_type|sector, action), each trade_id once."""
    out: dict[tuple[str, str, str], float] = defaultdict(float)
    seen: set[str] = set()
    for e in events:
        if e["trade_id"] in seen:
            continue
        seen.add(e["trade_id"])
        week = week_end(datetime.fromisoformat(e["ts"])).isoformat()
        scope = f"fund_type={e['fund_type']}|sector={e['sector']}"
        out[(week, scope, e["action"])] += e["notional"]
        out[(week, scope, "n")] += 1
        out[(week, "", "n")] += 1
    return dict(out)


def stored_truth(redis_url: str, key_prefix: str, topic: str, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], float]:
    """Read the same figures as ``ground_truth`` from the store, summing the partitions."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        parts = client.smembers(f"{key_prefix}:parts:{topic}")
        out: dict[tuple[str, str, str], float] = {}
        for week, scope, name in keys:
            total = 0.0
            for p in parts:
                v = client.hget(f"{key_prefix}:{{{topic}:{p}}}:flow:{week}", f"{scope}{SEP}{name}")
                total += float(v) if v else 0.0
            out[(week, scope, name)] = total
        return out
    finally:
        client.close()


def applied_offsets(redis_url: str, key_prefix: str, topic: str) -> dict[int, int]:
    """Return partition -> last applied offset from the store."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        out = {}
        for p in client.smembers(f"{key_prefix}:parts:{topic}"):
            out[int(p)] = int(client.hget(f"{key_prefix}:{{{topic}:{p}}}:mark", "offset") or -1)
        return out
    finally:
        client.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Return partition -> offset of the last message (-1 when empty)."""
    from kafka import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: off - 1 for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def caught_up(bootstrap: str, redis_url: str, key_prefix: str, topic: str) -> Callable[[], bool]:
    """Return a predicate: every non-empty partition of ``topic`` is applied to its last offset."""
    def check() -> bool:
        ends = {p: o for p, o in end_offsets(bootstrap, topic).items() if o >= 0}
        applied = applied_offsets(redis_url, key_prefix, topic)
        return all(applied.get(p, -1) >= o for p, o in ends.items())

    return check


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.5) -> None:
    """Wait until ``predicate()`` holds, else fail with ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_topic(bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Read JSON records from the start of ``topic`` until ``expect`` arrived or ``timeout``."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        consumer_timeout_ms=1000, group_id=None,
    )
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for msg in consumer:
                out.append(json.loads(msg.value))
    finally:
        consumer.close()
    return out


UTC = timezone.utc
