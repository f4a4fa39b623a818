"""The worker app: what create_app wires from the rule set it is given, and the worker process's garbage collection."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from signal_monitor.app import GC_YOUNG_THRESHOLD, create_app, tune_gc
from signal_monitor.config.settings import Settings
from signal_monitor.rules.model import parse_rules

VIX_RULE = """version: 1
rules:
  - id: vix_below_20
    description: The VIX closed below 20.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: below, level: 20.0, rearm: 22.5}
"""


def test_the_app_runs_on_the_rule_set_it_is_given_and_parses_no_rule_file(tmp_path: Path) -> None:
    rules = parse_rules(VIX_RULE, "desk-rules.yaml")
    # nothing may read the configured path: it does not exist, so a parse would fail or fall back to defaults
    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_path=tmp_path / "no-such-rules.yaml", web_enabled=True, delivery_enabled=False)
    context = create_app(settings, rules=rules).context
    assert context.rules is rules
    assert context.closer.evaluator is not None and context.closer.evaluator.rules == rules.rules
    assert context.installed.status is not None and context.installed.status.collector.rules_stats is not None
    assert context.installed.status.collector.rules_stats() == {"loaded": 1}
    assert context.installed.dashboard is not None and context.installed.dashboard.thresholds == (20.0, 22.5)


def test_the_app_without_rules_has_no_engine_and_reports_none_loaded(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_path=tmp_path / "no-such-rules.yaml", rules_enabled=False, delivery_enabled=False)
    context = create_app(settings, rules=parse_rules(VIX_RULE, "desk-rules.yaml")).context
    assert context.rules is None and context.closer.evaluator is None
    assert context.installed.status is not None and context.installed.status.collector.rules_stats is not None
    assert context.installed.status.collector.rules_stats() == {"loaded": 0}
    assert context.installed.dashboard is None  # the web server is off


def test_tune_gc_collects_the_young_generation_less_often_and_freezes_start_up_objects() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen  # what exists now is left out of every collection
        assert gc.isenabled()  # cycles are still collected
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


# --- closes off the agents' path -----------------------------------------------


class _Message:
    def __init__(self, offset: int) -> None:
        self.partition, self.offset, self.value = 0, offset, b"{}"


class _Event:
    def __init__(self, offset: int) -> None:
        self.message = _Message(offset)


class _Stream:
    """A stream of one batch; the agent acknowledges it by asking for the next one."""

    def __init__(self) -> None:
        self.acknowledged = False

    async def batches(self, n: int) -> Any:
        yield [_Event(0), _Event(1)]
        self.acknowledged = True


class _Agents:
    def agent(self, topic: Any, **_: Any) -> Any:
        def register(fn: Any) -> Any:
            self.fn = fn
            return fn

        return register


async def test_the_ingest_agent_acknowledges_a_batch_without_running_a_close() -> None:
    import asyncio
    from types import SimpleNamespace

    from signal_monitor.app import _add_agent

    class Ingestor:
        topic, kind = "signals.trades", "trades"
        handled: list[Any] = []

        async def handle(self, records: Any) -> None:
            self.handled.extend(records)

    class SlowCloser:
        """A close that takes long (or fails): the agent must not wait for it, nor see its error."""

        woken = ways = 0

        async def advance(self) -> int:
            await asyncio.Event().wait()
            raise RuntimeError("not a Redis error")

        async def make_way(self) -> None:  # bounded in the real closer (MAKE_WAY_S)
            self.ways += 1

        def wake(self) -> None:
            self.woken += 1

    agents, ingestor, closer, stream = _Agents(), Ingestor(), SlowCloser(), _Stream()
    _add_agent(agents, None, ingestor, closer, SimpleNamespace(batch_max=100, app_id="t"))  # type: ignore[arg-type]
    await asyncio.wait_for(agents.fn(stream), timeout=2.0)
    assert stream.acknowledged
    assert [r.offset for r in ingestor.handled] == [0, 1]
    assert closer.woken == 1  # the closer's own task closes, woken
    assert closer.ways == 1  # asked before the batch whether a close is under way


async def test_a_failing_close_is_logged_and_retried_whatever_woke_the_closer(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from signal_monitor.agents.closer import PeriodCloser
    from signal_monitor.state.memory import MemoryState

    class Broken(MemoryState):
        async def get_rule_state(self, rule_id: str, scope: str) -> dict[str, Any]:
            raise RuntimeError("an unexpected error in a close")

    async def emit(alerts: Any) -> None:
        pass

    closer = PeriodCloser(Broken(), topics=["t"], evaluator=None, emit=emit, grace_s=0.0, idle_s=60.0)
    task = asyncio.create_task(closer.run(interval_s=0.2))
    try:
        closer.wake()  # woken by an agent
        for _ in range(50):
            await asyncio.sleep(0.01)
            if closer.failures:
                break
        assert closer.failures == 1
        await asyncio.sleep(0.35)  # then the timer's tick: the same policy
        assert closer.failures >= 2
        assert not task.done()  # the worker goes on
    finally:
        task.cancel()
    assert "closing periods failed; retrying on the next tick" in caplog.text


# --- handing alerts on ------------------------------------------------------------


def _alert(rule: str) -> Any:
    from tests.unit.delivery.factory import make_alert

    return make_alert(rule, {"symbol": "VIX"})


@pytest.mark.parametrize("fails", [None, "submit", "produce"])
async def test_an_alert_is_marked_handed_on_only_after_it_is_on_the_topic_and_in_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: str | None
) -> None:
    """A take-over skips alerts marked handed on: a mark written before the outbox and the topic have them loses them.

    Delivery comes first, so the Slack post does not wait for the topic.
    """
    import signal_monitor.app as app_module

    calls: list[str] = []

    class Dispatcher:
        routes = type("Routes", (), {"check_rule_ids": staticmethod(lambda ids: None)})()
        stats = None

        async def submit(self, alerts: Any) -> None:
            calls.append("submit")
            if fails == "submit":
                raise ConnectionError("Redis went away during the submit")

        async def submit_note(self, note: Any) -> None:
            calls.append("submit_note")

    async def remember(client: Any, prefix: str, body: str) -> None:
        calls.append("remember")

    class Notebook:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        async def take(self, alerts: Any) -> None:
            calls.append("note")

    monkeypatch.setattr(app_module, "build_dispatcher", lambda *a, **k: Dispatcher())
    monkeypatch.setattr(app_module, "Notebook", Notebook)
    monkeypatch.setattr(app_module, "remember_alert", remember)
    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_path=tmp_path / "no-such-rules.yaml", delivery_enabled=True)
    app = create_app(settings, rules=parse_rules(VIX_RULE, "desk-rules.yaml"))

    async def produce(*args: Any) -> None:
        calls.append("produce")
        if fails == "produce":
            raise ConnectionError("the broker went away during the produce")

    async def mark_emitted(key: str, *, ttl_s: float) -> None:
        calls.append("mark")

    monkeypatch.setattr(app.producer, "send_and_wait", produce)
    monkeypatch.setattr(app.context.state, "mark_emitted", mark_emitted)
    alerts = [_alert("vix_below_20"), _alert("vix_below_20_again")]
    if fails:
        with pytest.raises(ConnectionError):
            await app.context.closer.emit(alerts)
        # nothing marked: the take-over hands them on again (the outbox dedups)
        assert calls == (["submit"] if fails == "submit" else ["submit", "produce"])
    else:
        await app.context.closer.emit(alerts)
        assert calls == ["submit", "produce", "remember", "produce", "remember", "note", "mark", "mark"]
