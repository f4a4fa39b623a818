"""The engine over an in-memory State: expansion, once-only alerts, provisional runs, state, corrections."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.rules.alert import dedup_key
from signal_monitor.rules.engine import RECENT_PERIODS, SIDE_BY_SIDE, RuleEngine
from signal_monitor.rules.model import RuleSet, load_rules, parse_rules
from signal_monitor.state.base import Point
from signal_monitor.state.memory import MemoryState

WEEK = date(2025, 6, 6)
NOW = datetime(2025, 6, 6, 21, 0, tzinfo=UTC)
HF_NET = "net_buying:week|fund_type=hedge_fund"

STREAK = """
rules:
  - id: hf_net_buying_streak
    description: Hedge funds net bought for 4 weeks.
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, level: 0, min_count: 4}
    severity: warning
    labels: {desk: equities}
"""

# Real CBOE VIX closes, 2025-02-13 .. 2025-06-10 (data/vix-daily.csv).
VIX_2025 = """
2025-02-13 15.1 2025-02-14 14.77 2025-02-17 15.37 2025-02-18 15.35 2025-02-19 15.27 2025-02-20 15.66
2025-02-21 18.21 2025-02-24 18.98 2025-02-25 19.43 2025-02-26 19.1 2025-02-27 21.13 2025-02-28 19.63
2025-03-03 22.78 2025-03-04 23.51 2025-03-05 21.93 2025-03-06 24.87 2025-03-07 23.37 2025-03-10 27.86
2025-03-11 26.92 2025-03-12 24.23 2025-03-13 24.66 2025-03-14 21.77 2025-03-17 20.51 2025-03-18 21.7
2025-03-19 19.9 2025-03-20 19.8 2025-03-21 19.28 2025-03-24 17.48 2025-03-25 17.15 2025-03-26 18.33
2025-03-27 18.69 2025-03-28 21.65 2025-03-31 22.28 2025-04-01 21.77 2025-04-02 21.51 2025-04-03 30.02
2025-04-04 45.31 2025-04-07 46.98 2025-04-08 52.33 2025-04-09 33.62 2025-04-10 40.72 2025-04-11 37.56
2025-04-14 30.89 2025-04-15 30.12 2025-04-16 32.64 2025-04-17 29.65 2025-04-21 33.82 2025-04-22 30.57
2025-04-23 28.45 2025-04-24 26.47 2025-04-25 24.84 2025-04-28 25.15 2025-04-29 24.17 2025-04-30 24.7
2025-05-01 24.6 2025-05-02 22.68 2025-05-05 23.64 2025-05-06 24.76 2025-05-07 23.55 2025-05-08 22.48
2025-05-09 21.9 2025-05-12 18.39 2025-05-13 18.22 2025-05-14 18.62 2025-05-15 17.83 2025-05-16 17.24
2025-05-19 18.14 2025-05-20 18.09 2025-05-21 20.87 2025-05-22 20.28 2025-05-23 22.29 2025-05-26 20.57
2025-05-27 18.96 2025-05-28 19.31 2025-05-29 19.18 2025-05-30 18.57 2025-06-02 18.36 2025-06-03 17.69
2025-06-04 17.61 2025-06-05 18.48 2025-06-06 16.77 2025-06-09 17.16 2025-06-10 16.95
"""


def vix_points() -> list[Point]:
    parts = VIX_2025.split()
    return [(date.fromisoformat(d), float(v)) for d, v in zip(parts[::2], parts[1::2], strict=True)]


def weekly(values: Sequence[float | None], end: date = WEEK) -> list[Point]:
    """Weekly points ending on ``end``; None leaves that Friday out."""
    n = len(values)
    return [(end - timedelta(weeks=n - 1 - i), v) for i, v in enumerate(values) if v is not None]


def engine(rules: RuleSet, state: MemoryState) -> RuleEngine:
    return RuleEngine(rules, state, clock=lambda: NOW)


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture
def streak_rules() -> RuleSet:
    return parse_rules(STREAK)


async def test_a_fired_alert_carries_data_and_text(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([-0.5e9, 1e9, 1.1e9, 0.9e9, 1.3e9, 1.2e9]))
    alerts = await engine(streak_rules, state).evaluate(WEEK, "week")
    assert len(alerts) == 1
    a = alerts[0]
    assert a.rule == "hf_net_buying_streak"
    assert a.scope == {"fund_type": "hedge_fund"}
    assert a.granularity == "week"
    assert (a.period_start, a.period_end) == (date(2025, 6, 2), WEEK)
    assert a.value == 1.2e9 and a.threshold == 0
    assert a.context["streak"] == 5 and a.context["since"] == "2025-05-09"
    assert a.severity == "warning" and a.labels == {"desk": "equities"}
    assert a.dedup_key == dedup_key("hf_net_buying_streak", {"fund_type": "hedge_fund"}, WEEK)
    assert a.text == "Hedge funds: net buying of $1.20B this week, positive for the 5th consecutive week."
    assert a.fired and not a.provisional and not a.correction and a.revision == 1
    assert a.fired_at == NOW
    assert a.model_dump(mode="json")["period_start"] == "2025-06-02"


def test_dedup_key_is_stable_and_specific() -> None:
    key = dedup_key("r", {"a": "1", "b": "2"}, WEEK)
    assert len(key) == 16
    assert key == dedup_key("r", {"b": "2", "a": "1"}, WEEK)
    assert key != dedup_key("r2", {"a": "1", "b": "2"}, WEEK)
    assert key != dedup_key("r", {"a": "1", "b": "3"}, WEEK)
    assert key != dedup_key("r", {"a": "1", "b": "2"}, WEEK - timedelta(weeks=1))


async def test_a_period_is_evaluated_once(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    eng = engine(streak_rules, state)
    assert len(await eng.evaluate(WEEK, "week")) == 1
    assert await eng.evaluate(WEEK, "week") == []


async def test_two_workers_produce_one_alert(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    first = await engine(streak_rules, state).evaluate(WEEK, "week")
    second = await engine(streak_rules, state).evaluate(WEEK, "week")
    assert len(first) == 1 and second == []
    assert not await state.claim(f"eval:{first[0].dedup_key}", ttl_s=60)


async def test_a_claim_taken_elsewhere_suppresses_the_alert_but_state_is_saved(
    state: MemoryState, streak_rules: RuleSet
) -> None:
    # Another worker computed the same result and claimed it between our read and our claim.
    await state.put_series(HF_NET, weekly([1e9] * 5))
    key = dedup_key("hf_net_buying_streak", {"fund_type": "hedge_fund"}, WEEK)
    assert await state.claim(f"eval:{key}", ttl_s=60)
    assert await engine(streak_rules, state).evaluate(WEEK, "week") == []
    record = await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund")
    assert record["period"] == "2025-06-06"
    assert record["recent"]["2025-06-06"]["fired"] is True


async def test_provisional_returns_findings_and_changes_nothing(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    eng = engine(streak_rules, state)
    provisional = await eng.evaluate(WEEK, "week", provisional=True)
    assert len(provisional) == 1 and provisional[0].provisional
    assert await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund") == {}
    final = await eng.evaluate(WEEK, "week")
    assert len(final) == 1 and not final[0].provisional
    assert final[0].dedup_key == provisional[0].dedup_key


async def test_no_history_fires_nothing_for_the_default_rules(state: MemoryState) -> None:
    eng = engine(load_rules(DEFAULT_RULES_PATH), state)
    assert await eng.evaluate(WEEK, "week") == []
    assert await eng.evaluate(WEEK, "day") == []


async def test_only_rules_of_the_granularity_run(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    assert await engine(streak_rules, state).evaluate(WEEK, "day") == []
    assert await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund") == {}


SECTOR_STREAK = """
rules:
  - id: sector_net_buying_streak
    description: d
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund, sector: "*"}
    exclude: {sector: [broad]}
    kind: streak
    params: {condition: gt, min_count: 2}
"""


async def test_wildcards_expand_to_matching_series_minus_excluded(state: MemoryState) -> None:
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Industrials", weekly([1, 2]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Energy", weekly([1, -2]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=broad", weekly([1, 2]))
    await state.put_series("net_buying:week|fund_type=long_only|sector=Utilities", weekly([1, 2]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|instrument_type=etf", weekly([1, 2]))
    await state.put_series("long_buy:week|fund_type=hedge_fund|sector=Materials", weekly([1, 2]))
    alerts = await engine(parse_rules(SECTOR_STREAK), state).evaluate(WEEK, "week")
    assert [a.scope for a in alerts] == [{"fund_type": "hedge_fund", "sector": "Industrials"}]
    assert await state.get_rule_state("sector_net_buying_streak", "fund_type=hedge_fund|sector=Energy") != {}
    assert await state.get_rule_state("sector_net_buying_streak", "fund_type=hedge_fund|sector=broad") == {}


async def test_breadth_is_one_alert_over_the_group(state: MemoryState) -> None:
    rules = parse_rules(SECTOR_STREAK.replace("kind: streak", "kind: breadth"))
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Industrials", weekly([2e9]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Energy", weekly([1e9]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Utilities", weekly([-1e9]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=broad", weekly([5e9]))
    alerts = await engine(rules, state).evaluate(WEEK, "week")
    assert len(alerts) == 1
    a = alerts[0]
    assert a.scope == {"fund_type": "hedge_fund", "sector": "*"}
    assert a.context["count"] == 2 and a.context["of"] == 3
    assert a.context["leaders"] == [["Industrials", 2e9], ["Energy", 1e9]]
    assert a.text == (
        "Hedge funds: net buying positive in 2 of 3 sectors this week; led by Industrials ($2.00B), "
        "Energy ($1.00B); lagging: Utilities (-$1.00B)."
    )


async def test_real_vix_closes_fire_both_vix_rules_on_2025_06_06(state: MemoryState) -> None:
    # Last close below 17 before 2025-06-06: 15.66 on 2025-02-20; 16.77 is also the lowest close since then,
    # 75 trading days back (6 in Feb after the 20th, 21 in Mar, 21 in Apr, 22 in May, 5 in Jun).
    defaults = load_rules(DEFAULT_RULES_PATH)
    rules = RuleSet("defaults", tuple(r for r in defaults if r.id in ("vix_below_17", "vix_low_since")))
    points = vix_points()
    await state.put_series("close:day|symbol=VIX", points)
    eng = engine(rules, state)
    fired: list[tuple[str, date]] = []
    for day, _ in points:
        fired.extend((a.rule, a.period_end) for a in await eng.evaluate(day, "day"))
    assert fired == [("vix_below_17", date(2025, 6, 6)), ("vix_low_since", date(2025, 6, 6))]
    record = await state.get_rule_state("vix_below_17", "symbol=VIX")
    assert record["checks"]["threshold_cross"] == {"armed": False, "last_held": "2025-06-10", "through": "2025-06-10"}


async def test_real_vix_alert_texts(state: MemoryState) -> None:
    defaults = load_rules(DEFAULT_RULES_PATH)
    rules = RuleSet("defaults", tuple(r for r in defaults if r.id in ("vix_below_17", "vix_low_since")))
    await state.put_series("close:day|symbol=VIX", [p for p in vix_points() if p[0] <= date(2025, 6, 6)])
    alerts = await engine(rules, state).evaluate(date(2025, 6, 6), "day")
    assert [a.text for a in alerts] == [
        "The VIX closed at 16.77 on 2025-06-06, below 17 for the first time since 2025-02-20.",
        "The VIX closed at 16.77 on 2025-06-06, the lowest since 2025-02-20 (75 trading days).",
    ]
    assert alerts[1].context == {"since": "2025-02-20", "periods_ago": 75, "record": False}


async def test_threshold_memory_outlives_the_stored_history(state: MemoryState) -> None:
    # Only two closes are stored; the record remembers an armed crossing last below 17 on 2025-02-20.
    rules = RuleSet("defaults", (load_rules(DEFAULT_RULES_PATH).get("vix_below_17"),))
    await state.put_series("close:day|symbol=VIX", [(date(2025, 6, 5), 18.48), (date(2025, 6, 6), 16.77)])
    memory = {"armed": True, "last_held": "2025-02-20", "through": "2025-06-04"}
    await state.set_rule_state(
        "vix_below_17", "symbol=VIX", {"period": "2025-06-04", "checks": {"threshold_cross": memory}}
    )
    alerts = await engine(rules, state).evaluate(date(2025, 6, 6), "day")
    assert [a.context["since"] for a in alerts] == ["2025-02-20"]


async def test_a_correction_after_late_data(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9, 1e9, 1e9, 1e9, 1.2e9]))
    eng = engine(streak_rules, state)
    [original] = await eng.evaluate(WEEK, "week")
    assert await eng.reevaluate(WEEK, "week") == []  # nothing changed
    await state.put_points(WEEK, {HF_NET: 1.5e9})
    [fix] = await eng.reevaluate(WEEK, "week")
    assert fix.correction and fix.fired and fix.revision == 2
    assert fix.dedup_key == f"{original.dedup_key}:v2"
    assert fix.value == 1.5e9
    assert (
        fix.text == "Correction after late data: Hedge funds: net buying of $1.50B in the week ending 2025-06-06, "
        "positive for the 5th consecutive week."
    )
    assert await eng.reevaluate(WEEK, "week") == []
    await state.put_points(WEEK, {HF_NET: -0.1e9})
    [withdrawn] = await eng.reevaluate(WEEK, "week")
    assert withdrawn.correction and not withdrawn.fired and withdrawn.revision == 3
    assert withdrawn.dedup_key == f"{original.dedup_key}:v3"
    assert "no longer holds" in withdrawn.text
    assert await eng.evaluate(WEEK, "week") == []  # the period stays evaluated, its result untouched
    record = await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund")
    assert record["recent"]["2025-06-06"]["revision"] == 3 and record["recent"]["2025-06-06"]["fired"] is False


async def test_late_data_that_makes_a_rule_fire(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9, 1e9, 1e9, -1e9]))
    eng = engine(streak_rules, state)
    assert await eng.evaluate(WEEK, "week") == []
    await state.put_points(WEEK, {HF_NET: 2e9})
    [fix] = await eng.reevaluate(WEEK, "week")
    assert fix.fired and fix.correction and fix.context["streak"] == 4 and fix.dedup_key.endswith(":v2")


async def test_a_late_value_change_of_an_unfired_rule_is_not_a_correction(
    state: MemoryState, streak_rules: RuleSet
) -> None:
    await state.put_series(HF_NET, weekly([1e9, -1e9]))
    eng = engine(streak_rules, state)
    await eng.evaluate(WEEK, "week")
    await state.put_points(WEEK, {HF_NET: -2e9})
    assert await eng.reevaluate(WEEK, "week") == []


async def test_reevaluate_a_period_never_evaluated(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    assert await engine(streak_rules, state).reevaluate(WEEK, "week") == []


async def test_two_workers_correct_once(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    await engine(streak_rules, state).evaluate(WEEK, "week")
    await state.put_points(WEEK, {HF_NET: 3e9})
    first = await engine(streak_rules, state).reevaluate(WEEK, "week")
    second = await engine(streak_rules, state).reevaluate(WEEK, "week")
    assert len(first) == 1 and second == []


async def test_a_resumed_reevaluate_hands_on_again_the_correction_claimed(
    state: MemoryState, streak_rules: RuleSet
) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 5))
    await engine(streak_rules, state).evaluate(WEEK, "week")
    await state.put_points(WEEK, {HF_NET: 3e9})
    [claimed] = await engine(streak_rules, state).reevaluate(WEEK, "week")  # its worker dies before the emit
    assert await engine(streak_rules, state).reevaluate(WEEK, "week") == []  # the claim is taken
    [again] = await engine(streak_rules, state).reevaluate(WEEK, "week", resume=True)
    assert again.model_dump_json() == claimed.model_dump_json() and again.dedup_key.endswith(":v2")
    # data changed since: the stored correction, then the next one
    await state.put_points(WEEK, {HF_NET: -1e9})
    resumed = await engine(streak_rules, state).reevaluate(WEEK, "week", resume=True)
    assert [(a.revision, a.fired) for a in resumed] == [(2, True), (3, False)]
    # a period never corrected: resume adds nothing
    await state.put_series(HF_NET, weekly([1e9] * 6, end=date(2025, 6, 13)))
    await engine(streak_rules, state).evaluate(date(2025, 6, 13), "week")
    assert await engine(streak_rules, state).reevaluate(date(2025, 6, 13), "week", resume=True) == []


async def test_resume_hands_on_again_what_an_unfinished_close_had_evaluated(
    state: MemoryState, streak_rules: RuleSet
) -> None:
    # a worker evaluated the week (state written, alert claimed) and died before handing the alert on
    await state.put_series(HF_NET, weekly([1e9] * 5))
    [lost] = await engine(streak_rules, state).evaluate(WEEK, "week")
    # whoever takes the close over gets the same alert again, not a new one
    later = RuleEngine(streak_rules, state, clock=lambda: NOW + timedelta(minutes=2))
    assert await later.evaluate(WEEK, "week") == []
    [again] = await later.evaluate(WEEK, "week", resume=True)
    assert again.model_dump_json() == lost.model_dump_json()
    assert again.dedup_key == lost.dedup_key and again.fired_at == NOW and not again.correction
    # resuming changes nothing: a second take-over returns it again, a plain evaluation still nothing
    [third] = await later.evaluate(WEEK, "week", resume=True)
    assert third.model_dump_json() == lost.model_dump_json()
    assert await later.evaluate(WEEK, "week") == []
    assert await later.reevaluate(WEEK, "week") == []


async def test_resume_evaluates_the_scopes_not_reached_yet(state: MemoryState, streak_rules: RuleSet) -> None:
    every_type = parse_rules(STREAK.replace("{fund_type: hedge_fund}", '{fund_type: "*"}'))
    await state.put_series(HF_NET, weekly([1e9] * 5))
    await state.put_series("net_buying:week|fund_type=long_only", weekly([2e9] * 5))
    # the dead worker had got through the hedge-fund scope only
    [hedge] = await engine(streak_rules, state).evaluate(WEEK, "week")
    resumed = await engine(every_type, state).evaluate(WEEK, "week", resume=True)
    assert [(a.scope["fund_type"], a.correction) for a in resumed] == [("hedge_fund", False), ("long_only", False)]
    assert resumed[0].model_dump_json() == hedge.model_dump_json()
    assert resumed[1].dedup_key == dedup_key("hf_net_buying_streak", {"fund_type": "long_only"}, WEEK)
    # the scope evaluated by the take-over is claimed as usual
    assert await engine(every_type, state).evaluate(WEEK, "week") == []


async def test_resume_also_corrects_what_changed_since(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9, 1e9, 1e9, 1e9, 1.2e9]))
    [lost] = await engine(streak_rules, state).evaluate(WEEK, "week")
    # data of the week arrived after the dead worker evaluated it; the take-over recomputed the points
    await state.put_points(WEEK, {HF_NET: 1.5e9})
    again, fix = await engine(streak_rules, state).evaluate(WEEK, "week", resume=True)
    assert again.dedup_key == lost.dedup_key and again.value == 1.2e9
    assert fix.correction and fix.revision == 2 and fix.value == 1.5e9 and fix.dedup_key == f"{lost.dedup_key}:v2"
    # a corrected period was closed before: resuming it again hands on no first alert, and no correction twice
    assert await engine(streak_rules, state).evaluate(WEEK, "week", resume=True) == []
    assert await engine(streak_rules, state).reevaluate(WEEK, "week") == []


async def test_resume_of_a_period_that_did_not_fire_returns_nothing(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9, 1e9, -1e9]))
    eng = engine(streak_rules, state)
    assert await eng.evaluate(WEEK, "week") == []
    assert await eng.evaluate(WEEK, "week", resume=True) == []


async def test_only_the_newest_period_keeps_its_alert(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 6))
    eng = engine(streak_rules, state)
    [previous] = await eng.evaluate(WEEK - timedelta(weeks=1), "week")
    [current] = await eng.evaluate(WEEK, "week")
    record = await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund")
    assert "alert" not in record["recent"]["2025-05-30"]
    assert record["recent"]["2025-06-06"]["alert"]["dedup_key"] == current.dedup_key
    # a period without its stored alert is run again from its starting state: same key, same numbers
    [rebuilt] = await eng.evaluate(WEEK - timedelta(weeks=1), "week", resume=True)
    assert rebuilt.dedup_key == previous.dedup_key
    assert (rebuilt.value, rebuilt.context["streak"], rebuilt.text) == (
        previous.value,
        previous.context["streak"],
        previous.text,
    )


async def test_a_correction_replaces_the_memory_of_the_last_period(state: MemoryState) -> None:
    rules = RuleSet("defaults", (load_rules(DEFAULT_RULES_PATH).get("vix_below_17"),))
    sid = "close:day|symbol=VIX"
    await state.put_series(sid, [(date(2025, 6, 4), 18.5), (date(2025, 6, 5), 16.5)])
    eng = engine(rules, state)
    await eng.evaluate(date(2025, 6, 4), "day")
    assert len(await eng.evaluate(date(2025, 6, 5), "day")) == 1
    await state.put_points(date(2025, 6, 5), {sid: 17.5})  # the close was wrong: not below 17
    [fix] = await eng.reevaluate(date(2025, 6, 5), "day")
    assert not fix.fired
    record = await state.get_rule_state("vix_below_17", "symbol=VIX")
    assert record["checks"]["threshold_cross"]["armed"] is True
    await state.put_points(date(2025, 6, 6), {sid: 16.0})
    assert len(await eng.evaluate(date(2025, 6, 6), "day")) == 1  # still armed, so this one fires


async def test_an_older_period_does_not_rewind_the_memory(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 6))
    eng = engine(streak_rules, state)
    await eng.evaluate(WEEK, "week")
    older = await eng.evaluate(WEEK - timedelta(weeks=1), "week")
    assert [a.context["streak"] for a in older] == [5]
    record = await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund")
    assert record["period"] == "2025-06-06"
    assert sorted(record["recent"]) == ["2025-05-30", "2025-06-06"]


async def test_recent_results_are_bounded(state: MemoryState, streak_rules: RuleSet) -> None:
    await state.put_series(HF_NET, weekly([1e9] * 12))
    eng = engine(streak_rules, state)
    for i in range(11, -1, -1):
        await eng.evaluate(WEEK - timedelta(weeks=i), "week")
    record = await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund")
    assert len(record["recent"]) == RECENT_PERIODS
    assert min(record["recent"]) == (WEEK - timedelta(weeks=RECENT_PERIODS - 1)).isoformat()


async def test_reports_and_a_message_template(state: MemoryState) -> None:
    rules = parse_rules(
        """
rules:
  - id: single_stock_net_buying_streak
    description: d
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund, instrument_type: single_stock}
    kind: streak
    params: {condition: gt, min_count: 2}
    report:
      - {kind: value, metric: ls_flow_ratio}
    message: "[$severity] $scope: week $streak, long/short $ls_flow_ratio. $text"
"""
    )
    await state.put_series("net_buying:week|fund_type=hedge_fund|instrument_type=single_stock", weekly([1e9, 2e9]))
    await state.put_series("ls_flow_ratio:week|fund_type=hedge_fund|instrument_type=single_stock", weekly([1.5, 2.2]))
    [a] = await engine(rules, state).evaluate(WEEK, "week")
    assert a.context["ls_flow_ratio"] == 2.2
    assert a.text == (
        "[info] Single stocks: week 2, long/short 2.2 to 1. Single stocks: hedge-fund net buying of $2.00B this week, "
        "positive for the 2nd consecutive week; long buys outpaced short sales 2.2 to 1."
    )


async def test_any_of_reports_both_conditions(state: MemoryState) -> None:
    rules = RuleSet("defaults", (load_rules(DEFAULT_RULES_PATH).get("index_weekly_gain_streak"),))
    await state.put_series("return:week|symbol=NDX", weekly([0.01, 0.025, 0.021]))
    closes = [(date(2024, 5, 31), 120.0), (date(2025, 4, 4), 90.0), (date(2025, 5, 30), 114.6), (WEEK, 117.0)]
    await state.put_series("close:week|symbol=NDX", closes)
    [a] = await engine(rules, state).evaluate(WEEK, "week")
    assert a.context["held"] == ["streak", "distance_from_extreme"]
    assert a.context["streak"] == 2
    assert a.context["extreme"] == 120.0 and a.context["base"] == 90.0
    assert a.value == 0.021  # the first condition that held leads
    assert a.text.count("The Nasdaq 100") == 2 and "NDX" not in a.text


async def test_any_of_fires_on_one_condition_and_keeps_the_others_context(state: MemoryState) -> None:
    rules = RuleSet("defaults", (load_rules(DEFAULT_RULES_PATH).get("index_weekly_gain_streak"),))
    await state.put_series("return:week|symbol=NDX", weekly([0.01, -0.01]))
    await state.put_series(
        "close:week|symbol=NDX", [(date(2024, 5, 31), 120.0), (date(2025, 4, 4), 90.0), (WEEK, 117.0)]
    )
    [a] = await engine(rules, state).evaluate(WEEK, "week")
    assert a.context["held"] == ["distance_from_extreme"]
    assert a.value == 117.0 and a.context["streak"] == 0


async def test_all_of_needs_every_condition(state: MemoryState) -> None:
    text = """
rules:
  - id: both
    description: d
    metric: return
    period: week
    scope: {symbol: NDX}
    all_of:
      - {kind: streak, params: {condition: ge, level: 0.02, min_count: 2}}
      - {kind: distance_from_extreme, metric: close, params: {within: 0.03, move: 0.2}}
"""
    await state.put_series("return:week|symbol=NDX", weekly([0.01, -0.01]))
    await state.put_series(
        "close:week|symbol=NDX", [(date(2024, 5, 31), 120.0), (date(2025, 4, 4), 90.0), (WEEK, 117.0)]
    )
    assert await engine(parse_rules(text), state).evaluate(WEEK, "week") == []


async def test_share_sums_the_listed_sub_scopes(state: MemoryState) -> None:
    rules = RuleSet("defaults", (load_rules(DEFAULT_RULES_PATH).get("hf_flow_mix"),))
    await state.put_series(HF_NET, weekly([10e9, 10e9]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|instrument_type=etf", weekly([0.5e9, 1.5e9]))
    await state.put_series("net_buying:week|fund_type=hedge_fund|instrument_type=index", weekly([0.3e9, 0.8e9]))
    [a] = await engine(rules, state).evaluate(WEEK, "week")
    # (1.5 + 0.8) / 10 = 23 % now, (0.5 + 0.3) / 10 = 8 % the week before
    assert a.value == pytest.approx(0.23)
    assert a.context["previous_share"] == pytest.approx(0.08)
    assert a.context["part"] == pytest.approx(2.3e9)
    assert (
        a.text == "Hedge funds: macro products were 23% of net buying this week (the rest 77%), up 15 points from 8%."
    )


class SpyState(MemoryState):
    """A MemoryState that records every history read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, date | None, date | None]] = []

    async def history(self, sid: str, *, since: date | None = None, until: date | None = None) -> list[Point]:
        self.reads.append((sid, since, until))
        return await super().history(sid, since=since, until=until)


async def test_reads_are_limited_to_the_kinds_windows() -> None:
    state = SpyState()
    defaults = load_rules(DEFAULT_RULES_PATH)
    ids = ("gross_leverage_percentile", "hf_long_short_flow_ratio", "gross_leverage_record")
    await engine(RuleSet("d", tuple(defaults.get(i) for i in ids)), state).evaluate(WEEK, "week")
    # the rules run side by side: the reads, not their order
    assert Counter(state.reads) == Counter(
        [
            ("gross_leverage:week|strategy=fundamental_long_short", date(2022, 6, 7), WEEK),
            ("long_buy:week|fund_type=hedge_fund", WEEK, WEEK),
            ("short_sale:week|fund_type=hedge_fund", WEEK, WEEK),
            ("gross_leverage:week|strategy=fundamental_long_short", None, WEEK),
        ]
    )


class GatedState(MemoryState):
    """A MemoryState whose history reads wait together: it counts how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most = 0

    async def history(self, sid: str, *, since: date | None = None, until: date | None = None) -> list[Point]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            return await super().history(sid, since=since, until=until)
        finally:
            self.in_flight -= 1


async def test_the_rules_of_a_period_and_their_scopes_are_evaluated_side_by_side_in_bounded_numbers() -> None:
    defaults = load_rules(DEFAULT_RULES_PATH)
    week_rules = RuleSet("d", tuple(r for r in defaults.rules if r.period == "week" and not r.provisional))
    state = GatedState()
    sequential = [a.dedup_key for a in await engine(week_rules, MemoryState()).evaluate(WEEK, "week")]
    alerts = await engine(week_rules, state).evaluate(WEEK, "week")
    assert 1 < state.most <= SIDE_BY_SIDE
    assert [a.dedup_key for a in alerts] == sequential  # the rule file's order, whatever finished first


async def test_a_failed_evaluation_raises_its_own_error_and_stops_the_others() -> None:
    class Failing(GatedState):
        async def get_rule_state(self, rule_id: str, key: str) -> dict[str, Any]:
            if rule_id == self.failing:
                raise ConnectionError("the store went away")
            return await super().get_rule_state(rule_id, key)

    defaults = load_rules(DEFAULT_RULES_PATH)
    week_rules = RuleSet("d", tuple(r for r in defaults.rules if r.period == "week" and not r.provisional))
    state = Failing()
    state.failing = week_rules.rules[0].id
    with pytest.raises(ConnectionError, match="the store went away"):
        await engine(week_rules, state).evaluate(WEEK, "week")
    assert state.in_flight == 0  # nothing still running once the error is raised


@pytest.mark.parametrize(
    ("now", "when"),
    [
        (datetime(2025, 6, 6, 21, tzinfo=UTC), "this week"),  # the live close, Friday evening
        (datetime(2025, 6, 9, 3, tzinfo=UTC), "this week"),  # Sunday evening in New York: still the week
        (datetime(2025, 6, 9, 14, tzinfo=UTC), "in the week ending 2025-06-06"),  # a close caught up on Monday
        (datetime(2026, 1, 5, tzinfo=UTC), "in the week ending 2025-06-06"),  # a replay or backtest
    ],
)
async def test_this_week_only_while_the_clock_is_in_the_week(
    state: MemoryState, streak_rules: RuleSet, now: datetime, when: str
) -> None:
    await state.put_series(HF_NET, weekly([1e9, 1e9, 1e9, 1e9, 1.2e9]))
    [alert] = await RuleEngine(streak_rules, state, clock=lambda: now).evaluate(WEEK, "week")
    assert alert.text == f"Hedge funds: net buying of $1.20B {when}, positive for the 5th consecutive week."


async def test_a_flow_ratio_reads_to_one_in_the_slack_fields(state: MemoryState) -> None:
    """The note: "long purchases exceeding shorts by a ratio of 3.7 to 1" (industrials) and "about 3 to 1"."""
    from signal_monitor.delivery.slack import build_message

    rules = parse_rules(
        """
rules:
  - id: sector_net_buying_streak
    description: d
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund, sector: Industrials}
    kind: streak
    params: {condition: gt, min_count: 2}
    report:
      - {kind: value, metric: ls_flow_ratio}
  - id: hf_long_short_flow_ratio
    description: d
    metric: long_buy
    period: week
    scope: {fund_type: hedge_fund}
    kind: ratio
    params: {denominator: {metric: short_sale}, op: ge, level: 2.5}
"""
    )
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Industrials", weekly([1e9, 2e9]))
    await state.put_series("ls_flow_ratio:week|fund_type=hedge_fund|sector=Industrials", weekly([1.5, 3.7]))
    await state.put_series("long_buy:week|fund_type=hedge_fund", weekly([6e9]))
    await state.put_series("short_sale:week|fund_type=hedge_fund", weekly([2e9]))
    alerts = {a.rule: a for a in await engine(rules, state).evaluate(WEEK, "week")}
    fields = {
        rule: [f["text"] for b in build_message([a]).attachments[0]["blocks"] for f in b.get("fields", [])]
        for rule, a in alerts.items()
    }
    assert "*ls flow ratio*\n3.7 to 1" in fields["sector_net_buying_streak"]
    assert fields["hf_long_short_flow_ratio"][:2] == ["*value*\n3.0 to 1", "*threshold*\n2.5 to 1"]
    assert alerts["hf_long_short_flow_ratio"].unit == "to_one"


async def test_the_unit_of_the_observation_events_reaches_the_alert_and_names_win(state: MemoryState) -> None:
    """CFTC VIX futures net positioning in dollars (the events say ``usd``): -$33.4M, as the formatter spells money."""
    from signal_monitor.state.fold import fold
    from signal_monitor.streams.events import Observation

    series = "cftc_vix_futures_net"
    values = [-18.0e6, -19.1e6, -22.0e6, -26.1e6, -30.5e6, -33_434_659.0]
    events = [(i, Observation(ts=datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=20), series=series,
                              value=v, unit="USD"))
              for i, (d, v) in enumerate(weekly(values))]
    batch, _ = fold("signals.observations", 0, events)
    assert (await state.apply(batch)).applied
    await state.put_series(f"obs:week|series={series}", weekly(values))
    rule = """
rules:
  - {id: cftc_falling, description: d, metric: obs, period: week, scope: {series: %s},
     kind: streak, params: {condition: falling, min_count: 5}}
"""
    [alert] = await engine(parse_rules(rule % series), state).evaluate(WEEK, "week")
    assert alert.unit == "money"
    assert alert.text.startswith("Cftc_vix_futures_net at -$33.4M this week, down for the 5th consecutive week")
    assert alert.figures["value"] == "-$33.4M"
    named = "version: 1\nnames: {series: {%s: {name: CFTC VIX futures net, unit: count}}}\n" % series
    other = MemoryState()  # the same events and points; the names section declares the series a count
    await other.apply(batch)
    await other.put_series(f"obs:week|series={series}", weekly(values))
    [counted] = await engine(parse_rules(named + rule % series), other).evaluate(WEEK, "week")
    assert counted.unit == "count" and counted.text.startswith("CFTC VIX futures net at -33,434,659 this week")
