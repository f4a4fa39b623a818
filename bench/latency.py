"""Alert latency: from producing the event that fires an alert to a local Slack-compatible receiver getting it.

The worker runs with a one-rule file (:data:`RULES`): a ``threshold_cross``
below 17 (re-armed at 18) on the daily ``close`` of a symbol, and
``SM_CLOSE_GRACE_S=0``. Official close quotes for that symbol alternate 20 (arms)
and 15 (fires) on consecutive trading days in the past; a day closes when the
next day's quote moves the watermark past its close, so the alert of a
"15" day is fired by the quote of the day after. That quote is the event timed:
the clock starts just before it is produced and stops when the alert for its
previous day reaches the receiver.

The receiver (:func:`webhook_receiver`, the fake Slack of :mod:`bench.slack_receiver`) is an
incoming-webhook endpoint served by this process on a free local port: it answers every POST
200 ``ok``, as Slack does, and stamps each request's arrival. The worker delivers to it
through its outbox, dispatcher and slack_sdk webhook client, with the routes
file :data:`ROUTES`: one webhook receiver (its URL in
``SM_SLACK_WEBHOOK_URL``) and **no grouping delay** (``group_wait: 0s``, the
shipped file waits 30 s to make digests) and no realert window. Pacing is the
worker's own (``SM_SLACK_PACE_S``, 1 s by default): each timed event is
produced at least a pace after the previous alert reached the receiver, so
every alert finds its channel idle, as a lone real alert does; the worker here
paces at :data:`PACE_S` (a local receiver has no rate limit), so that a run
takes enough alerts for a p99 that is not its slowest alert.

Two secondary figures come from the same alerts: the time to the alert's
``fired_at`` (the worker's clock, this machine's) and the time until a
consumer in this process reads the alert from ``<prefix>.alerts``.

The background load is trades stamped with the wall clock, produced at a fixed
rate in envelopes (100 events a message by default) to ``<prefix>.trades``. Its
partitions' watermarks are therefore ahead of the quote days and never hold
them back; the quotes partition decides. The first quote is applied before the
load starts, so the closer's calendar starts at the quote days.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis

from bench.monitor import BenchError, WorkerProcess, delete_prefix, rss_mb, worker_env
from bench.report import percentile
from bench.slack_receiver import SlackReceiver
from bench.workload import TradeGenerator, _stable_partition, quote
from signal_monitor.exchange_calendar import is_trading_day
from signal_monitor.periods import close_at

SYMBOL = "BENCHVOL"
RULE_ID = "bench_close_below"
RULES = f"""\
version: 1
rules:
  - id: {RULE_ID}
    description: The benchmark symbol closed below 17, re-armed by a close at or above 18.
    metric: close
    period: day
    scope: {{symbol: {SYMBOL}}}
    kind: threshold_cross
    params: {{direction: below, level: 17.0, rearm: 18.0}}
    severity: info
    labels: {{desk: bench}}
"""
#: The worker's pace between two messages to the receiver (``SM_SLACK_PACE_S``; Slack's own limit, the default,
#: is 1 s): each alert still finds its channel idle, and a run takes enough alerts for its p99 in a few minutes.
PACE_S = 0.25
#: One webhook receiver; every alert is sent at once, one message each (no digest wait, no realert window).
ROUTES = """\
version: 1
receivers:
  - name: bench
    type: slack
    webhook_url_env: SM_SLACK_WEBHOOK_URL
route:
  receiver: bench
  group_wait: 0s
  realert: 0s
  resolved: false
"""
#: The local webhook's team, worker and secret: its path is ``/services/TBENCH0001/BBENCH0001/benchLatencyHook``
#: (shaped like Slack's; the worker logs it masked).
HOOK_TEAM, HOOK_WORKER, HOOK_SECRET = "TBENCH0001", "BENCH0001", "benchLatencyHook"
#: Slack settings the worker must not inherit from the environment of the benchmark.
_SLACK_ENV = (
    "SLACK_WEBHOOK_URL", "SM_SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SM_SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SM_SLACK_CHANNEL",
)


@dataclass
class LatencyResult:
    """Latencies of one worker run."""

    reps: list[list[float]] = field(default_factory=list)  #: ms from producing the quote to the receiver, per repetition
    topic_reps: list[list[float]] = field(default_factory=list)  #: ms from producing the quote to the alerts topic, per repetition
    to_fired: list[float] = field(default_factory=list)  #: ms from producing the quote to the alert's ``fired_at``
    fired_to_topic: list[float] = field(default_factory=list)  #: ms from ``fired_at`` to reading the alert from the topic
    fired_to_receiver: list[float] = field(default_factory=list)  #: ms from ``fired_at`` to the receiver's arrival stamp
    unexpected_posts: int = 0  #: requests to the receiver that were not the alert waited for (a duplicate would count)
    pace_s: float = 0.0  #: the worker's pacing, waited out between alerts
    background_events_per_s: float = 0.0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0

    @property
    def p99_per_rep(self) -> list[float]:
        """The p99 to the receiver of each repetition."""
        return [percentile(r, 99) for r in self.reps]

    @property
    def p99(self) -> float:
        """The p99 to the receiver over every alert of every repetition."""
        return percentile([v for r in self.reps for v in r], 99)

    @property
    def worst(self) -> float:
        """The slowest alert to the receiver of all repetitions."""
        return max((v for r in self.reps for v in r), default=float("nan"))

    @property
    def p50_per_rep(self) -> list[float]:
        """The median to the receiver of each repetition."""
        return [percentile(r, 50) for r in self.reps]

    @property
    def topic_p99_per_rep(self) -> list[float]:
        """The p99 to the alerts topic of each repetition."""
        return [percentile(r, 99) for r in self.topic_reps]

    @property
    def topic_p50_per_rep(self) -> list[float]:
        """The median to the alerts topic of each repetition."""
        return [percentile(r, 50) for r in self.topic_reps]


def webhook_receiver() -> SlackReceiver:
    """Start the local Slack on a free port, its posts queued on the running event loop (``next()``).

    The worker's webhook URL is ``webhook_receiver().webhook_url(HOOK_WORKER)``; another path answers 404.
    """
    return SlackReceiver(team=HOOK_TEAM, secret=HOOK_SECRET).start().watch()


def trading_days(start: date, count: int) -> list[date]:
    """Return ``count`` NYSE session days from ``start`` on."""
    out: list[date] = []
    day = start
    while len(out) < count:
        if is_trading_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out


def _close_ts(day: date) -> datetime:
    """A minute before ``day``'s close (15:59 US/Eastern, 12:59 on an early close): its close quote, inside the day."""
    return close_at(day, "day") - timedelta(minutes=1)


class _Background:
    """Trades at a fixed rate, stamped with the wall clock, in envelopes."""

    def __init__(self, producer: object, topic: str, *, rate: float, envelope: int, partitions: int) -> None:
        self.producer = producer
        self.topic = topic
        self.rate = rate
        self.envelope = envelope
        self.partitions = partitions
        self.sent = 0
        self.t0 = 0.0
        self.gen = TradeGenerator(1, seed=11)

    def _message(self) -> tuple[bytes, bytes]:
        gen = self.gen
        fund = gen.funds[gen.rng.randrange(len(gen.funds))]
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        body = ",".join(gen.trade(self.sent + j, fund, ts=now) for j in range(self.envelope))
        return fund.fund_id.encode(), f"[{body}]".encode()

    async def run(self, stop: asyncio.Event) -> None:
        self.t0 = time.perf_counter()
        if self.rate <= 0:
            return
        interval = self.envelope / self.rate
        next_at = time.perf_counter()
        while not stop.is_set():
            key, value = self._message()
            await self.producer.send(self.topic, value, key=key, partition=_stable_partition(key, self.partitions))  # type: ignore[attr-defined]
            self.sent += self.envelope
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:  # fell behind by a second: do not burst to catch up
                next_at = time.perf_counter()

    @property
    def achieved(self) -> float:
        return self.sent / (time.perf_counter() - self.t0) if self.t0 else 0.0


def _check_alive(worker: WorkerProcess) -> None:
    if not worker.alive():
        raise BenchError(f"the latency worker exited; log {worker.log_path}:\n{worker.log_tail()}")


async def _await_alert(
    *,
    consumer: Any,
    alerts_tp: Any,
    receiver: SlackReceiver,
    worker: WorkerProcess,
    want: str,
    t0: float,
    timeout_s: float,
    result: LatencyResult,
) -> tuple[float, float, float]:
    """Wait for the alert of the day ``want`` on the alerts topic and at the receiver.

    Return (read from the topic, ``time.perf_counter()``; its ``fired_at``, epoch s; arrival at the receiver,
    ``time.perf_counter()``).
    """

    def fail(where: str) -> BenchError:
        return BenchError(
            f"no alert for {want} {where} within {timeout_s:.0f} s; log {worker.log_path}:\n{worker.log_tail()}"
        )

    async def from_topic() -> tuple[float, float]:
        while True:
            remaining = deadline_for(t0, timeout_s)
            if remaining <= 0:
                raise fail("on the alerts topic")
            batches = await consumer.getmany(alerts_tp, timeout_ms=int(min(remaining, 1.0) * 1000))
            for record in batches.get(alerts_tp, []):
                alert = json.loads(record.value)
                if alert.get("rule") == RULE_ID and alert.get("period_end") == want:
                    return time.perf_counter(), datetime.fromisoformat(alert["fired_at"]).timestamp()
            _check_alive(worker)

    async def at_receiver() -> float:
        while True:
            remaining = deadline_for(t0, timeout_s)
            if remaining <= 0:
                raise fail("at the receiver")
            got = await receiver.next(min(remaining, 1.0))
            if got is None:
                _check_alive(worker)
                continue
            at, body = got
            if RULE_ID in body and f"day {want}" in body:
                return at
            result.unexpected_posts += 1

    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(from_topic()), asyncio.create_task(at_receiver())]
    try:
        (topic_at, fired), arrived = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return topic_at, fired, arrived


async def _measure(
    *,
    bootstrap: str,
    redis_url: str,
    key_prefix: str,
    topic_prefix: str,
    worker: WorkerProcess,
    receiver: SlackReceiver,
    pace_s: float,
    reps: int,
    alerts_per_rep: int,
    rate: float,
    envelope: int,
    partitions: int,
    timeout_s: float,
) -> LatencyResult:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    result = LatencyResult(pace_s=pace_s)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, max_request_size=8 * 1024 * 1024)
    alerts_tp = TopicPartition(f"{topic_prefix}.alerts", 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await producer.start()
    await consumer.start()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    stop = asyncio.Event()
    background = _Background(producer, f"{topic_prefix}.trades", rate=rate, envelope=envelope, partitions=partitions)
    load: asyncio.Task[None] | None = None
    try:
        consumer.assign([alerts_tp])
        await consumer.seek_to_end(alerts_tp)
        quotes_topic = f"{topic_prefix}.quotes"
        qpart = _stable_partition(SYMBOL.encode(), partitions)
        count = 1 + 2 * reps * alerts_per_rep + 1
        # every quote day in the past, the last over a week ago (the worker refuses events ahead of its clock);
        # a year holds ~252 sessions, so 1.5 calendar days a session leaves room for the holidays
        days = trading_days(date.today() - timedelta(days=int(count * 1.5) + 14), count)
        if days[-1] >= date.today() - timedelta(days=7):
            raise BenchError(f"{count} quote days from {days[0]} reach {days[-1]}: too close to today")
        # day 0 arms the rule and starts the closer's calendar, before any load
        await producer.send_and_wait(quotes_topic, quote(SYMBOL, _close_ts(days[0]), 20.0), key=SYMBOL.encode(), partition=qpart)
        mark = f"{key_prefix}:{{{quotes_topic}:{qpart}}}:mark"
        deadline = time.monotonic() + timeout_s
        while client.hget(mark, "offset") is None:
            _check_alive(worker)
            if time.monotonic() > deadline:
                raise BenchError(f"the latency worker applied nothing in {timeout_s:.0f} s; log {worker.log_path}")
            await asyncio.sleep(0.05)
        result.rss_start_mb = rss_mb(worker.pid)
        load = asyncio.create_task(background.run(stop))
        if rate > 0:
            await asyncio.sleep(2.0)  # let the load reach its rate
        i = 1
        last_arrival = -float("inf")
        for _ in range(reps):
            samples: list[float] = []
            topic_samples: list[float] = []
            for _ in range(alerts_per_rep):
                fire_day, next_day = days[i], days[i + 1]
                i += 2
                await producer.send_and_wait(quotes_topic, quote(SYMBOL, _close_ts(fire_day), 15.0), key=SYMBOL.encode(), partition=qpart)
                # the channel is idle again once the worker's pace has passed since the last delivery
                await asyncio.sleep(max(0.05, last_arrival + pace_s + 0.05 - time.perf_counter()))
                t0 = time.perf_counter()
                wall0 = time.time()
                await producer.send_and_wait(quotes_topic, quote(SYMBOL, _close_ts(next_day), 20.0), key=SYMBOL.encode(), partition=qpart)
                topic_at, fired, arrived = await _await_alert(
                    consumer=consumer, alerts_tp=alerts_tp, receiver=receiver, worker=worker, want=fire_day.isoformat(),
                    t0=t0, timeout_s=timeout_s, result=result,
                )
                last_arrival = arrived
                to_fired = (fired - wall0) * 1000.0
                samples.append((arrived - t0) * 1000.0)
                topic_samples.append((topic_at - t0) * 1000.0)
                result.to_fired.append(to_fired)
                result.fired_to_topic.append((topic_at - t0) * 1000.0 - to_fired)
                result.fired_to_receiver.append((arrived - t0) * 1000.0 - to_fired)
            result.reps.append(samples)
            result.topic_reps.append(topic_samples)
        result.background_events_per_s = background.achieved
        result.rss_end_mb = rss_mb(worker.pid)
        return result
    finally:
        stop.set()
        if load is not None:
            await load
        await consumer.stop()
        await producer.stop()
        client.close()


def deadline_for(t0: float, timeout_s: float) -> float:
    """Seconds left until ``t0 + timeout_s``."""
    return t0 + timeout_s - time.perf_counter()


def run_latency(
    *,
    bootstrap: str,
    redis_url: str,
    topic_prefix: str,
    workdir: Path,
    reps: int = 3,
    alerts_per_rep: int = 10,
    rate: float = 10_000.0,
    envelope: int = 100,
    partitions: int = 4,
    timeout_s: float = 60.0,
    extra_env: dict[str, str] | None = None,
    argv: list[str] | None = None,
) -> LatencyResult:
    """Start a worker with the one-rule file delivering to a local webhook; measure alert latencies under load."""
    return asyncio.run(
        _run(
            bootstrap=bootstrap, redis_url=redis_url, topic_prefix=topic_prefix, workdir=workdir, reps=reps,
            alerts_per_rep=alerts_per_rep, rate=rate, envelope=envelope, partitions=partitions, timeout_s=timeout_s,
            extra_env=extra_env, argv=argv,
        )
    )


async def _run(
    *,
    bootstrap: str,
    redis_url: str,
    topic_prefix: str,
    workdir: Path,
    reps: int,
    alerts_per_rep: int,
    rate: float,
    envelope: int,
    partitions: int,
    timeout_s: float,
    extra_env: dict[str, str] | None,
    argv: list[str] | None,
) -> LatencyResult:
    run = uuid.uuid4().hex[:8]
    key_prefix = f"smbench:{run}"
    workdir.mkdir(parents=True, exist_ok=True)
    rules_path = workdir / f"rules-{run}.yaml"
    rules_path.write_text(RULES)
    routes_path = workdir / f"routes-{run}.yaml"
    routes_path.write_text(ROUTES)
    receiver = webhook_receiver()
    env = worker_env(
        bootstrap=bootstrap, redis_url=redis_url, key_prefix=key_prefix, topic_prefix=topic_prefix,
        app_id=f"smbench-{run}", data_dir=workdir / f"data-{run}", tag="lat",
        extra={
            "SM_RULES_PATH": str(rules_path),
            "SM_CLOSE_GRACE_S": "0",
            "SM_ROUTES_PATH": str(routes_path),
            "SM_DELIVERY_ENABLED": "true",
            "SM_SLACK_PACE_S": str(PACE_S),
            **(extra_env or {}),
        },
    )
    for name in _SLACK_ENV:  # never a real Slack: the only receiver is the local webhook
        env.pop(name, None)
    env["SM_SLACK_WEBHOOK_URL"] = receiver.webhook_url(HOOK_WORKER)
    pace_s = float(env["SM_SLACK_PACE_S"])
    worker = WorkerProcess(env, workdir / f"worker-latency-{run}.log", *([argv] if argv else [])).start()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await _measure(
            bootstrap=bootstrap, redis_url=redis_url, key_prefix=key_prefix, topic_prefix=topic_prefix,
            worker=worker, receiver=receiver, pace_s=pace_s, reps=reps, alerts_per_rep=alerts_per_rep, rate=rate,
            envelope=envelope, partitions=partitions, timeout_s=timeout_s,
        )
    finally:
        await asyncio.to_thread(worker.stop)
        receiver.stop()
        delete_prefix(client, key_prefix)
        client.close()
