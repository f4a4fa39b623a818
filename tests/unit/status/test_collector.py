"""Collection: rates, lag, figures and the optional reporters; publication masks every secret."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from signal_monitor.agents.ingest import IngestStats
from signal_monitor.config.settings import Settings
from signal_monitor.state.base import PartitionMark
from signal_monitor.status.collector import Collector, RateTracker, last_alert_of
from signal_monitor.status.publisher import MASK, StatusOptions, StatusPublisher, encode, install, secret_values
from signal_monitor.worker import WorkerContext
from tests.unit.status.records import make_record

TRADES, QUOTES = "signals.trades", "signals.quotes"


class FakeClock:
    """A clock the test moves."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeState:
    """The two State calls the collector makes."""

    def __init__(self, marks: Mapping[str, dict[int, PartitionMark]], *, down: Exception | None = None) -> None:
        self._marks = marks
        self.down = down

    async def ping(self) -> float:
        if self.down is not None:
            raise self.down
        return 0.0012

    async def marks(self, topic: str) -> dict[int, PartitionMark]:
        if self.down is not None:
            raise self.down
        return dict(self._marks.get(topic, {}))


class FakeConsumer:
    """Assignment and end offsets as the Faust consumer reports them."""

    def __init__(self, assigned: set[TP], ends: Mapping[TP, int | None]) -> None:
        self.assigned = assigned
        self.ends = ends

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    def highwater(self, tp: TP) -> int | None:
        return self.ends.get(tp)


class FakeProducer:
    """Keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, key: bytes, value: bytes, *_: Any) -> None:
        self.sent.append((topic, key, value))


class FakeApp:
    """The worker context create_app builds, and the Faust app's consumer and producer, with fakes behind them."""

    def __init__(
        self, state: FakeState, consumer: FakeConsumer | None, stats: IngestStats | None = None, closer: Any = None
    ) -> None:
        self.context = WorkerContext(
            worker_id="w7",
            version="9.9.9",
            app_id="sm",
            state=state,  # type: ignore[arg-type]
            stats=stats or IngestStats(),
            inputs=(TRADES, QUOTES),
            closer=closer,  # the collector reads its counters
            rules=None,
            rules_stats=lambda: {"loaded": 0},
        )
        self.consumer = consumer
        self.producer = FakeProducer()


def test_rates_are_per_second_over_a_sliding_window() -> None:
    clock = FakeClock(0.0)
    rates = RateTracker(window_s=60.0, clock=clock)
    assert rates.observe({"t": 0}) == {"t": 0.0}
    clock.t = 10.0
    assert rates.observe({"t": 100}) == {"t": pytest.approx(10.0)}
    clock.t = 20.0
    assert rates.observe({"t": 300}) == {"t": pytest.approx(15.0)}  # 300 events over 20 s
    for t in (40.0, 60.0, 80.0, 100.0):  # nothing new: the old burst leaves the window
        clock.t = t
        last = rates.observe({"t": 300})
    assert last == {"t": 0.0}


def test_rates_of_a_new_key_count_from_zero_and_never_go_negative() -> None:
    clock = FakeClock(0.0)
    rates = RateTracker(clock=clock)
    rates.observe({"a": 50})
    clock.t = 5.0
    assert rates.observe({"a": 40, "b": 10}) == {"a": 0.0, "b": pytest.approx(2.0)}


async def test_collect_reports_lag_figures_and_reporters() -> None:
    stats = IngestStats()
    stats.events[TRADES] = 120
    stats.messages[TRADES] = 30
    stats.dlq["malformed_json"] = 2
    stats.batches = 4
    stats.newest_event[TRADES] = datetime(2025, 6, 6, 19, 0, tzinfo=timezone.utc).timestamp()
    tps = {TP(TRADES, 0), TP(TRADES, 1), TP(TRADES, 2), TP("other.topic", 0)}
    consumer = FakeConsumer(tps, {TP(TRADES, 0): 15, TP(TRADES, 1): 3, TP(TRADES, 2): None})
    marks = {TRADES: {0: PartitionMark(offset=9, highwater=12), 2: PartitionMark(offset=7, highwater=8)}}
    closer = types.SimpleNamespace(closed_days=12, closed_weeks=2, failures=1, leases_lost=0, emits_skipped=3,
                                   store_retries=4, ingest_waits=9)
    app = FakeApp(FakeState(marks), consumer, stats, closer)
    alert = {"rule": "vix_below_17", "severity": "warning", "fired_at": "2025-06-06T20:05:00+00:00", "text": "x" * 500}

    async def newest() -> dict[str, Any]:
        return alert

    collector = Collector(
        interval_s=5.0, clock=FakeClock(1_750_000_000.0), host="h1",
        delivery_stats=lambda: {"outbox": {"slack": 3}, "parked": 1},
        rules_stats=lambda: {"loaded": 21, "armed": 19, "firing": 2, "silenced": 0},
        last_alert=newest,
    )
    record = await collector.collect(app.context, app.consumer)
    lags = {(p.topic, p.partition): (p.applied_offset, p.end_offset, p.lag) for p in record.lag}
    assert lags == {(TRADES, 0): (9, 15, 5), (TRADES, 1): (-1, 3, 3), (TRADES, 2): (7, 8, 0)}
    assert len(record.partitions) == 4 and record.worker_id == "w7" and record.version == "9.9.9"
    assert record.topics[TRADES].events == 120 and record.topics[QUOTES].events == 0
    assert record.topics[TRADES].newest_event == datetime(2025, 6, 6, 19, 0, tzinfo=timezone.utc)
    assert record.topics[QUOTES].newest_event is None
    assert record.dlq == {"malformed_json": 2} and record.batches == 4
    assert record.redis.ok and record.redis.rtt_ms == pytest.approx(1.2)
    assert record.delivery.outbox == {"slack": 3} and record.delivery.parked == 1
    assert (record.rules.loaded, record.rules.firing) == (21, 2)
    assert record.last_alert is not None and record.last_alert.rule == "vix_below_17"
    assert record.last_alert.text is not None and len(record.last_alert.text) == 200
    assert record.interval_s == 5.0 and record.reason == "interval"
    assert record.closer.model_dump() == vars(closer)


async def test_redis_down_leaves_lag_unknown_and_says_why() -> None:
    consumer = FakeConsumer({TP(TRADES, 0)}, {TP(TRADES, 0): 50})
    app = FakeApp(FakeState({}, down=ConnectionError("Connection refused")), consumer)
    record = await Collector(interval_s=10.0).collect(app.context, app.consumer)
    assert not record.redis.ok and record.redis.rtt_ms is None
    assert record.redis.error == "ConnectionError: Connection refused"
    assert [(p.applied_offset, p.end_offset, p.lag) for p in record.lag] == [(None, 50, None)]


async def test_broken_reporters_and_a_stopped_consumer_do_not_stop_the_record() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("outbox closed")

    class Stopped(FakeConsumer):
        def assignment(self) -> set[TP]:
            raise RuntimeError("consumer not started")

    app = FakeApp(FakeState({}), Stopped(set(), {}))
    collector = Collector(interval_s=10.0, delivery_stats=broken, rules_stats=lambda: {"loaded": -1, "armed": None})
    record = await collector.collect(app.context, app.consumer)
    assert record.partitions == [] and record.delivery.outbox == {} and record.rules.loaded is None


async def test_a_rebalance_record_names_the_new_assignment() -> None:
    app = FakeApp(FakeState({}), FakeConsumer({TP(TRADES, 0)}, {}))
    record = await Collector(interval_s=10.0).collect(app.context, app.consumer, reason="assigned", assigned={TP(TRADES, 1), TP(TRADES, 2)})
    assert record.reason == "assigned" and [p.partition for p in record.partitions] == [1, 2]


def test_last_alert_of_skips_what_is_not_an_alert() -> None:
    assert last_alert_of(None) is None and last_alert_of({"text": "no rule"}) is None
    assert last_alert_of({"rule": "r", "fired_at": "not a time"}) is None
    assert last_alert_of({"rule": "r"}).rule == "r"  # type: ignore[union-attr]


def test_secret_values_include_a_password_inside_the_redis_url() -> None:
    settings = Settings(redis_url="redis://user:url%2Fpw@127.0.0.1:6379/0", slack_bot_token="xoxb-1234")
    assert set(secret_values(settings)) == {"url%2Fpw", "url/pw", "xoxb-1234"}


async def test_no_secret_from_the_environment_reaches_a_published_record(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = "https://hooks.slack.com/services/T000/B000/s3cr3t-hook"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env-token")
    monkeypatch.setenv("REDIS_PASSWORD", "redis-pass-123")
    monkeypatch.setenv("REDIS_URL", "redis://:url-pass-456@127.0.0.1:6379/0")
    settings = Settings()
    # the worst case: a secret inside an error message the record carries
    leak = ConnectionError(f"AUTH redis-pass-123 failed at redis://:url-pass-456@127.0.0.1 posting to {hook}")
    app = FakeApp(FakeState({}, down=leak), FakeConsumer(set(), {}))
    publisher = StatusPublisher(app, app.context, Collector(interval_s=10.0), options=StatusOptions.from_settings(settings))
    await publisher.publish()
    ((topic, key, value),) = app.producer.sent
    assert topic == "signals.status" and key == b"w7"
    text = value.decode()
    for secret in (hook, "xoxb-env-token", "redis-pass-123", "url-pass-456", "s3cr3t"):
        assert secret not in text
    assert MASK in json.loads(text)["redis"]["error"]
    assert secret_values(settings) and "redis-pass-123" not in repr(settings)


def _strings(value: Any) -> Iterator[str]:
    """Every string of a parsed JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


async def test_a_secret_holding_a_quote_and_a_backslash_never_reaches_a_published_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # JSON escapes " and \ (pa\"ss\\word), so masking the serialised text for the raw secret misses it.
    password, url_password = 'pa"ss\\word', 'ur"l\\pw'
    monkeypatch.setenv("REDIS_PASSWORD", password)
    monkeypatch.setenv("REDIS_URL", "redis://:ur%22l%5Cpw@127.0.0.1:6379/0")
    settings = Settings()
    assert settings.redis_password is not None and settings.redis_password.get_secret_value() == password
    leak = ConnectionError(f"AUTH {password} failed; {url_password} at redis://:ur%22l%5Cpw@127.0.0.1; {password!r}")
    app = FakeApp(FakeState({}, down=leak), FakeConsumer(set(), {}))
    publisher = StatusPublisher(app, app.context, Collector(interval_s=10.0), options=StatusOptions.from_settings(settings))
    await publisher.publish()
    ((_, _, value),) = app.producer.sent
    text = value.decode()
    for secret in (password, url_password):
        escaped = json.dumps(secret)[1:-1]
        assert secret not in text and escaped not in text, text
        shown = list(_strings(json.loads(text)))
        assert not [s for s in shown if secret in s or repr(secret)[1:-1] in s], shown  # nor as a repr shows it
    assert "ur%22l%5Cpw" not in text
    assert MASK in json.loads(text)["redis"]["error"]


def test_encode_masks_every_occurrence() -> None:
    record = make_record(host="pw-pw")
    assert b"pw" not in encode(record, ["pw"]) and encode(record, []) == record.model_dump_json().encode()


def test_install_is_idempotent_and_attaches_the_collector(tmp_path: Path) -> None:
    from signal_monitor.app import create_app

    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_enabled=True, status_interval_s=2.5)
    app = create_app(settings)
    first = install(app, app.context, StatusOptions.from_settings(settings))
    assert install(app, app.context, StatusOptions.from_settings(settings)) is first
    assert app.context.installed.status is first and first.collector.interval_s == 2.5
    assert first.topic == "signals.status" and first.context is app.context
    from signal_monitor.rules.model import load_rules

    assert first.collector.rules_stats is not None
    assert first.collector.rules_stats()["loaded"] == len(load_rules(settings.rules_path)) > 0


def test_the_status_options_carry_the_secrets_but_do_not_show_them() -> None:
    settings = Settings(redis_url="redis://:url-pass-456@127.0.0.1:6379/0", slack_bot_token="xoxb-opt-token")
    options = StatusOptions.from_settings(settings)
    assert set(options.secrets) == {"url-pass-456", "xoxb-opt-token"}
    assert "url-pass-456" not in repr(options) and "xoxb-opt-token" not in repr(options)


def test_last_alert_of_a_provisional_finding_says_so() -> None:
    raw = {"rule": "hf_net_buying_streak", "dedup_key": "provisional:hf_net_buying_streak:fund_type=hedge_fund:2025-06-06",
           "provisional": True, "text": "Hedge funds on track"}
    last = last_alert_of(raw)
    assert last is not None and last.provisional
    final = last_alert_of({"rule": "hf_net_buying_streak", "text": "final"})
    assert final is not None and not final.provisional
