"""Provisional findings of the running week: the cadence, the day-close trigger, once per (rule, scope, week),
take-overs, and supersession by the week's close (PeriodCloser + ProvisionalWatch over MemoryState)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any, NamedTuple

import pytest

from signal_monitor.agents.closer import EMIT_TTL_S, PeriodCloser
from signal_monitor.agents.provisional import PointsOverlay, ProvisionalWatch
from signal_monitor.rules.alert import Alert, provisional_key
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import RuleSet, parse_rules
from signal_monitor.series import scope_key
from signal_monitor.state.memory import MemoryState
from tests.unit.agents.test_closer import (
    FRI,
    GRACE_S,
    IDLE_S,
    LEASE_S,
    PREV_FRI,
    TOPICS,
    Feed,
    Killed,
    LeaseClockState,
    ListSink,
    trade,
)

UTC = timezone.utc
HF, LO = {"fund_type": "hedge_fund"}, {"fund_type": "long_only"}
HF_SERIES = "net_buying:week|fund_type=hedge_fund"

RULES = """
rules:
  - id: hf_streak
    description: Hedge funds net bought for at least 2 consecutive weeks.
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, level: 0, min_count: 2}
    provisional: true
    provisional_message: "Hedge funds on track for a ${streak_ordinal} week of net buying: $value so far."
  - id: lo_buying
    description: Long-only funds net bought in the week.
    metric: net_buying
    period: week
    scope: {fund_type: long_only}
    kind: streak
    params: {condition: gt, level: 0, min_count: 1}
    provisional: true
  - id: hf_buying_final_only
    description: Hedge funds net bought in the week (not provisional).
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, level: 0, min_count: 1}
"""

HF_KEY = provisional_key("hf_streak", HF, FRI)
LO_KEY = provisional_key("lo_buying", LO, FRI)


def at(day: int, hour: int) -> datetime:
    return datetime(2025, 6, day, hour, tzinfo=UTC)


class Clock:
    """The watermark, set by the test (as a replay sets it)."""

    def __init__(self) -> None:
        self.t: float | None = None

    def __call__(self) -> float | None:
        return self.t

    def at(self, day: int, hour: int) -> None:
        self.t = at(day, hour).timestamp()


@pytest.fixture
def rules() -> RuleSet:
    return parse_rules(RULES)


async def with_history(state: MemoryState) -> None:
    """Hedge funds net bought the week before: the running week is their 2nd if it holds."""
    await state.put_series(HF_SERIES, [(PREV_FRI, 100.0)])


def closer_of(
    state: MemoryState, rules: RuleSet, emit: Any, clock: Clock, *, every_s: float = 0.0
) -> PeriodCloser:
    engine = RuleEngine(rules, state, clock=lambda: datetime(2025, 6, 9, tzinfo=UTC))
    watch = ProvisionalWatch(rules, every_s=every_s, clock=lambda: datetime(2025, 6, 9, tzinfo=UTC))
    return PeriodCloser(state, topics=TOPICS, evaluator=engine, emit=emit, grace_s=GRACE_S, idle_s=IDLE_S,
                        claim_ttl_s=LEASE_S, clock=clock, provisional=watch)


async def monday(feed: Feed) -> None:
    await feed.send("trades", [
        trade("h1", at(2, 14), "buy_long", 1000.0),
        trade("l1", at(2, 15), "buy_long", 500.0, fund_id="F9", fund_type="long_only", strategy="value"),
    ])


class RunningWeek(NamedTuple):
    """A running week over MemoryState: the week before bought by hedge funds, Monday's trades fed to ``closer``."""

    state: MemoryState
    sink: ListSink
    clock: Clock
    closer: PeriodCloser
    feed: Feed


async def running_week(rules: RuleSet, *, every_s: float = 0.0) -> RunningWeek:
    """Start a week with one closer (``every_s``: its provisional cadence, 0 for none) and Monday's trades fed."""
    state, sink, clock = MemoryState(), ListSink(), Clock()
    await with_history(state)
    closer = closer_of(state, rules, sink, clock, every_s=every_s)
    feed = Feed(state, closer)
    await monday(feed)
    return RunningWeek(state, sink, clock, closer, feed)


def provisional(alerts: Sequence[Any]) -> list[Alert]:
    return [a for a in alerts if a.provisional]


# --- the cadence ---------------------------------------------------------------------------------


def test_the_cadence_is_due_every_every_s_and_never_when_0(rules: RuleSet) -> None:
    watch = ProvisionalWatch(rules, every_s=300.0)
    assert watch.due(1000.0)  # at once, the first time
    watch.schedule(1000.0)
    assert not watch.due(1299.0)
    assert watch.due(1300.0)
    off = ProvisionalWatch(rules, every_s=0.0)
    assert not off.due(1000.0) and not off.due(1e12)
    final_only = parse_rules("rules:\n  - id: hf_buying_final_only" + RULES.split("  - id: hf_buying_final_only")[1])
    assert not ProvisionalWatch(final_only, every_s=1.0).due(1000.0)  # no provisional rule: nothing to do


async def test_the_run_loop_evaluates_the_running_week_at_its_cadence_without_a_day_close(rules: RuleSet) -> None:
    state, sink, clock, closer, _ = await running_week(rules, every_s=300.0)
    clock.at(2, 18)  # Monday 14:00 EDT: no day to close yet
    task = asyncio.create_task(closer.run(interval_s=0.01))
    try:
        for _ in range(500):
            if len(sink.items) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert closer.closed_days == 0
    assert sorted(a.dedup_key for a in sink.items) == sorted([HF_KEY, LO_KEY])
    assert all(a.provisional and a.period_end == FRI for a in sink.items)
    assert closer.provisional is not None and not closer.provisional.due(time.monotonic())


async def test_watch_running_week_hands_on_the_findings_of_the_week_so_far(rules: RuleSet) -> None:
    state, sink, clock, closer, _ = await running_week(rules)
    clock.at(2, 18)
    assert await closer.watch_running_week() == 2
    hf = next(a for a in sink.items if a.rule == "hf_streak")
    assert hf.dedup_key == HF_KEY and hf.provisional and hf.fired
    assert hf.text.startswith("Hedge funds on track for a 2nd week of net buying: ")
    assert hf.context["streak"] == 2
    lo = next(a for a in sink.items if a.rule == "lo_buying")
    assert lo.text.startswith("On track, with the week so far: ")
    assert "hf_buying_final_only" not in {a.rule for a in sink.items}  # not a provisional rule


async def test_a_provisional_evaluation_writes_no_rule_state_and_no_point(rules: RuleSet) -> None:
    state, sink, clock, closer, _ = await running_week(rules)
    clock.at(2, 18)
    assert await closer.watch_running_week() == 2
    for rule in rules:
        assert await state.get_rule_state(rule.id, scope_key(dict(rule.scope))) == {}
    assert await state.history(HF_SERIES, since=FRI) == []
    with pytest.raises(RuntimeError):
        await PointsOverlay(state, FRI, {}).set_rule_state("hf_streak", "fund_type=hedge_fund", {})


async def test_no_finding_when_the_watermark_is_past_the_week_close(rules: RuleSet) -> None:
    state, sink, clock, closer, _ = await running_week(rules)
    clock.t = at(6, 20).timestamp() + GRACE_S  # the week is due to close: the next advance closes it
    assert await closer.watch_running_week() == 0
    assert sink.items == []


# --- the day-close trigger ---------------------------------------------------------------------------


async def test_each_day_close_of_a_running_week_evaluates_it(rules: RuleSet) -> None:
    state, sink, clock, closer, _ = await running_week(rules)  # no cadence: only the day closes
    clock.at(3, 14)  # Tuesday 10:00 EDT: Monday closes
    await closer.advance()
    assert closer.closed_days == 1
    assert sorted(a.dedup_key for a in sink.items) == sorted([HF_KEY, LO_KEY])
    assert closer.provisional is not None and closer.provisional.evaluations == 1


async def test_a_day_close_of_a_week_already_passed_evaluates_nothing(rules: RuleSet) -> None:
    state, sink, clock, closer, _ = await running_week(rules)
    clock.at(9, 14)  # caught up late: the week closes in the same advance as its days
    await closer.advance()
    assert closer.closed_weeks == 1
    assert provisional(sink.items) == [] and closer.provisional is not None and closer.provisional.evaluations == 0


# --- once per (rule, scope, week) ------------------------------------------------------------------------


async def test_a_finding_is_handed_on_once_across_evaluations_and_day_closes(rules: RuleSet) -> None:
    state, sink, clock, closer, feed = await running_week(rules)
    clock.at(3, 14)
    await closer.advance()  # Monday's close
    await feed.send("trades", [trade("h2", at(3, 15), "buy_long", 700.0)])  # the value changes
    assert await closer.watch_running_week() == 0
    clock.at(4, 14)
    await closer.advance()  # Tuesday's close
    clock.at(5, 14)
    await closer.advance()  # Wednesday's
    assert closer.provisional is not None and closer.provisional.evaluations == 4
    assert sorted(a.dedup_key for a in sink.items) == sorted([HF_KEY, LO_KEY])


@pytest.mark.parametrize("produced", [False, True])
async def test_a_worker_killed_at_the_hand_on_is_taken_over_and_each_finding_goes_out_once(
    rules: RuleSet, produced: bool
) -> None:
    state, clock = LeaseClockState(), Clock()
    await with_history(state)
    topic: list[Any] = []

    async def killed(alerts: Sequence[Any]) -> None:
        if produced:  # on the topic and recorded, as the app's emit does, then the kill
            topic.extend(alerts)
            for alert in alerts:
                await state.mark_emitted(alert.dedup_key, ttl_s=EMIT_TTL_S)
        raise Killed

    async def emit(alerts: Sequence[Any]) -> None:
        topic.extend(alerts)

    first = closer_of(state, rules, killed, clock)
    await monday(Feed(state, first))
    clock.at(2, 18)
    with pytest.raises(Killed):
        await first.watch_running_week()
    second = closer_of(state, rules, emit, clock)
    assert await second.watch_running_week() == 0, "the dead worker's lease still holds"
    state.now += LEASE_S
    assert await second.watch_running_week() == (0 if produced else 2)
    assert await second.watch_running_week() == 0
    # the dead worker, back: its lease is another's now
    first.emit = emit
    assert await first.watch_running_week() == 0
    assert sorted(a.dedup_key for a in topic) == sorted([HF_KEY, LO_KEY])


async def test_two_workers_evaluating_together_hand_each_finding_on_once(rules: RuleSet) -> None:
    state, sink, clock = MemoryState(), ListSink(), Clock()
    await with_history(state)
    one, two = closer_of(state, rules, sink, clock), closer_of(state, rules, sink, clock)
    await monday(Feed(state, one))
    clock.at(2, 18)
    found = await asyncio.gather(one.watch_running_week(), two.watch_running_week(), one.watch_running_week())
    assert sum(found) == 2
    assert sorted(a.dedup_key for a in sink.items) == sorted([HF_KEY, LO_KEY])


# --- supersession at the week's close --------------------------------------------------------------------


async def test_the_week_close_supersedes_each_finding_or_withdraws_it(rules: RuleSet) -> None:
    state, sink, clock, closer, feed = await running_week(rules)
    clock.at(3, 14)
    await closer.advance()  # Monday's close: both findings
    # Thursday: long-only funds sell more than they bought; hedge funds buy on
    await feed.send("trades", [
        trade("l2", at(5, 15), "sell_long", 2000.0, fund_id="F9", fund_type="long_only", strategy="value"),
        trade("h2", at(5, 16), "buy_long", 300.0),
    ])
    clock.at(9, 14)
    await closer.advance()  # through Friday and the week
    assert closer.closed_weeks == 1
    keys = [a.dedup_key for a in sink.items]
    final = next(a for a in sink.items if a.rule == "hf_streak" and not a.provisional)
    assert final.supersedes == HF_KEY and final.fired and final.period_end == FRI
    assert keys.index(HF_KEY) < keys.index(final.dedup_key)
    other = next(a for a in sink.items if a.rule == "hf_buying_final_only")
    assert other.supersedes is None  # no finding of its own
    withdrawal = next(a for a in sink.items if a.dedup_key == f"{LO_KEY}:v2")
    assert withdrawal.provisional and not withdrawal.fired and withdrawal.supersedes == LO_KEY
    assert withdrawal.text.startswith("No longer on track: ")
    assert not any(a.rule == "lo_buying" and not a.provisional for a in sink.items)  # it did not fire
    assert closer.provisional is not None
    assert (closer.provisional.superseded, closer.provisional.withdrawn) == (1, 1)


async def test_a_week_close_taken_over_supersedes_the_same_findings(rules: RuleSet) -> None:
    state, clock = LeaseClockState(), Clock()
    await with_history(state)
    topic: list[Any] = []

    async def emit(alerts: Sequence[Any]) -> None:
        topic.extend(alerts)

    async def killed_at_the_week(alerts: Sequence[Any]) -> None:
        if alerts[0].granularity == "week" and not alerts[0].provisional:
            raise Killed
        topic.extend(alerts)

    first = closer_of(state, rules, killed_at_the_week, clock)
    await monday(Feed(state, first))
    clock.at(3, 14)
    await first.advance()
    clock.at(9, 14)
    with pytest.raises(Killed):
        await first.advance()
    state.now += LEASE_S
    second = closer_of(state, rules, emit, clock)
    await second.advance()
    final = next(a for a in topic if a.rule == "hf_streak" and not a.provisional)
    assert final.supersedes == HF_KEY
    lo = next(a for a in topic if a.rule == "lo_buying" and not a.provisional)
    assert lo.supersedes == LO_KEY  # it held at the close: superseded, not withdrawn
    assert sorted(a.dedup_key for a in provisional(topic)) == sorted([HF_KEY, LO_KEY])
