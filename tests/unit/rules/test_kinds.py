"""The kinds: pure functions over points; expected values are worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from signal_monitor.rules.kinds import (
    KINDS,
    BreadthParams,
    DistanceParams,
    DivergenceParams,
    ExtremeParams,
    Inputs,
    LargestChangeParams,
    LevelHeldParams,
    PercentileParams,
    RatioParams,
    SeriesRef,
    ShareParams,
    SpreadParams,
    StreakEndParams,
    StreakParams,
    ThresholdCrossParams,
    ValueParams,
    breadth,
    distance_from_extreme,
    divergence,
    extreme,
    largest_change,
    level_held,
    percentile,
    ratio,
    report_value,
    share,
    spread,
    streak,
    streak_end,
    threshold_cross,
    window_start,
)
from signal_monitor.state.base import Point

FRIDAY = date(2025, 6, 6)


def weekly(values: Sequence[float | None], end: date = FRIDAY) -> list[Point]:
    """Return weekly points ending on ``end``; None leaves that Friday out (a gap)."""
    n = len(values)
    return [(end - timedelta(weeks=n - 1 - i), v) for i, v in enumerate(values) if v is not None]


def daily(values: Sequence[float], end: date = FRIDAY) -> list[Point]:
    """Return one point per weekday ending on ``end`` (weekends skipped, like a trading calendar)."""
    out: list[Point] = []
    day = end
    for v in reversed(values):
        while day.weekday() > 4:
            day -= timedelta(days=1)
        out.append((day, v))
        day -= timedelta(days=1)
    return out[::-1]


def week_in(points: Sequence[Point]) -> Inputs:
    """Inputs of a weekly series evaluated at FRIDAY."""
    return Inputs(FRIDAY, "week", points)


def day_in(points: Sequence[Point]) -> Inputs:
    """Inputs of a daily series evaluated at its last day."""
    return Inputs(points[-1][0], "day", points)


def test_registry_names_every_kind() -> None:
    assert set(KINDS) == {
        "threshold_cross",
        "level_held",
        "percentile",
        "streak",
        "streak_end",
        "extreme",
        "largest_change",
        "ratio",
        "breadth",
        "share",
        "divergence",
        "spread",
        "distance_from_extreme",
        "value",
    }
    assert KINDS["ratio"].shape == "pair" and KINDS["ratio"].ref == "denominator"
    assert KINDS["breadth"].shape == "group"


# --- streak ---------------------------------------------------------------------


def test_streak_no_history_does_not_fire() -> None:
    f = streak(week_in([]), StreakParams(condition="gt", min_count=1), {})
    assert not f.fired and f.value is None


def test_streak_without_a_point_this_period_does_not_fire() -> None:
    points = weekly([1.0, 1.0, 1.0], end=FRIDAY - timedelta(weeks=1))
    assert not streak(week_in(points), StreakParams(condition="gt", min_count=1), {}).fired


def test_streak_counts_consecutive_positive_weeks() -> None:
    # -1 breaks; then 2, 3, 1, 4, 5 are five positive weeks starting 4 weeks before FRIDAY.
    f = streak(week_in(weekly([-1, 2, 3, 1, 4, 5])), StreakParams(condition="gt", level=0, min_count=4), {})
    assert f.fired
    assert f.context["streak"] == 5
    assert f.context["since"] == "2025-05-09"
    assert f.value == 5 and f.threshold == 0


def test_streak_fires_exactly_at_min_count_and_not_below() -> None:
    points = weekly([-1, 2, 3, 1, 4])
    assert streak(week_in(points), StreakParams(condition="gt", min_count=4), {}).fired
    assert not streak(week_in(points), StreakParams(condition="gt", min_count=5), {}).fired


def test_streak_breaks_on_a_missing_week() -> None:
    # Weeks -4 and -3 positive, week -2 missing, weeks -1 and 0 positive: the streak is 2.
    f = streak(week_in(weekly([1, 1, None, 1, 1])), StreakParams(condition="gt", min_count=2), {})
    assert f.context["streak"] == 2 and f.fired


def test_streak_zero_is_not_positive_but_is_at_or_above_a_level() -> None:
    assert streak(week_in(weekly([1, 0])), StreakParams(condition="gt", min_count=1), {}).context["streak"] == 0
    # a return of exactly 2 % counts for "at or above 2 %"
    f = streak(week_in(weekly([0.01, 0.025, 0.02])), StreakParams(condition="ge", level=0.02, min_count=2), {})
    assert f.fired and f.context["streak"] == 2


def test_streak_rising_reports_the_change_and_the_run_change() -> None:
    # 1, 2, 2, 3, 4: 2 -> 2 is not a rise, then 3 and 4 rise: a streak of 2 since the week of 3.
    f = streak(week_in(weekly([1, 2, 2, 3, 4])), StreakParams(condition="rising", min_count=2), {})
    assert f.fired
    assert f.context["streak"] == 2
    assert f.context["since"] == "2025-05-30"
    assert f.context["change"] == 1 and f.context["previous"] == 3
    assert f.context["run_change"] == 2  # 4 - 2, the value before the run
    assert f.threshold == 3


def test_streak_falling_breaks_on_a_gap() -> None:
    # 5, 4, gap, 3, 2: the fall into 3 is across a gap, so only 3 -> 2 counts.
    f = streak(week_in(weekly([5, 4, None, 3, 2])), StreakParams(condition="falling", min_count=1), {})
    assert f.context["streak"] == 1


def test_streak_on_days_uses_consecutive_points() -> None:
    # Fri, Mon, Tue, Wed, Thu, Fri: weekend gaps are not gaps for daily series.
    points = daily([1, 2, 3, 4, 5, 6])
    f = streak(day_in(points), StreakParams(condition="rising", min_count=5), {})
    assert f.fired and f.context["streak"] == 5


# --- level held -------------------------------------------------------------------


def test_level_held_fires_once_in_the_nth_period() -> None:
    params = LevelHeldParams(op="lt", level=17, periods=3)
    third = level_held(day_in(daily([18, 16, 16, 16])), params, {})
    assert third.fired and third.context == {"held": 3, "since": daily([18, 16, 16, 16])[1][0].isoformat()}
    assert not level_held(day_in(daily([18, 16, 16, 16, 16])), params, {}).fired
    assert not level_held(day_in(daily([18, 16, 16])), params, {}).fired


def test_level_held_exactly_at_level_does_not_hold_for_strict_ops() -> None:
    assert not level_held(day_in(daily([16, 16, 17])), LevelHeldParams(op="lt", level=17, periods=1), {}).fired


# --- streak end -------------------------------------------------------------------


def test_streak_end_fires_when_three_falls_end() -> None:
    # 100 -> 90 -> 80 -> 70 is three falls; 70 -> 70.14 is a 0.2 % rise that ends them.
    points = weekly([100, 90, 80, 70, 70.14])
    f = streak_end(week_in(points), StreakEndParams(condition="falling", min_count=3), {})
    assert f.fired
    assert f.context["ended_streak"] == 3
    assert f.context["streak_since"] == "2025-05-16"
    assert f.context["streak_until"] == "2025-05-30"
    assert f.context["change_pct"] == pytest.approx(0.002)


def test_streak_end_needs_a_long_enough_streak() -> None:
    points = weekly([100, 100, 90, 80, 81])
    assert not streak_end(week_in(points), StreakEndParams(condition="falling", min_count=3), {}).fired


def test_streak_end_does_not_fire_while_the_streak_goes_on() -> None:
    points = weekly([100, 90, 80, 70, 60])
    f = streak_end(week_in(points), StreakEndParams(condition="falling", min_count=3), {})
    assert not f.fired and f.context["ended_streak"] == 0


def test_streak_end_a_flat_week_ends_a_falling_streak() -> None:
    points = weekly([100, 90, 80, 70, 70])
    f = streak_end(week_in(points), StreakEndParams(condition="falling", min_count=3), {})
    assert f.fired and f.context["change"] == 0


def test_streak_end_does_not_fire_across_a_gap() -> None:
    points = weekly([100, 90, 80, 70, None, 75])
    assert not streak_end(week_in(points), StreakEndParams(condition="falling", min_count=3), {}).fired


def test_streak_end_of_a_level_condition() -> None:
    # five positive weeks, then a negative one
    points = weekly([1, 1, 1, 1, 1, -1])
    f = streak_end(week_in(points), StreakEndParams(condition="gt", min_count=5), {})
    assert f.fired and f.context["ended_streak"] == 5


# --- threshold crossing with hysteresis ----------------------------------------------


CROSS = ThresholdCrossParams(direction="below", level=17.0, rearm=18.0)


def test_cross_no_history_keeps_the_state() -> None:
    f = threshold_cross(Inputs(FRIDAY, "day", []), CROSS, {"armed": True})
    assert not f.fired and f.state == {"armed": True}


def test_cross_a_series_starting_below_does_not_fire() -> None:
    assert not threshold_cross(day_in(daily([16.5])), CROSS, {}).fired


def test_cross_fires_after_arming_and_names_no_earlier_date() -> None:
    f = threshold_cross(day_in(daily([18.5, 17.5, 16.9])), CROSS, {})
    assert f.fired
    assert f.context["since"] is None
    assert f.threshold == 17.0
    assert f.state == {"armed": False, "last_held": FRIDAY.isoformat(), "through": FRIDAY.isoformat()}


def test_cross_is_not_rearmed_below_the_rearm_level() -> None:
    # 16.9 crossed; 17.5 is back above 17 but below 18: 16.8 does not fire again.
    points = daily([18.5, 16.9, 17.5, 16.8])
    f = threshold_cross(day_in(points), CROSS, {})
    assert not f.fired
    assert f.context["since"] == points[1][0].isoformat()


def test_cross_rearms_exactly_at_the_rearm_level() -> None:
    points = daily([18.5, 16.9, 18.0, 16.5])
    f = threshold_cross(day_in(points), CROSS, {})
    assert f.fired and f.context["since"] == points[1][0].isoformat()


def test_cross_exactly_at_the_level_is_not_below() -> None:
    assert not threshold_cross(day_in(daily([18.5, 17.0])), CROSS, {}).fired


def test_cross_uses_the_state_beyond_the_points() -> None:
    # The memory says: armed, last below 17 on 2025-02-20, evaluated through 2025-06-05.
    state = {"armed": True, "last_held": "2025-02-20", "through": "2025-06-05"}
    points = [(date(2025, 6, 5), 18.48), (date(2025, 6, 6), 16.77)]
    f = threshold_cross(Inputs(date(2025, 6, 6), "day", points), CROSS, state)
    assert f.fired and f.context["since"] == "2025-02-20"
    assert f.state == {"armed": False, "last_held": "2025-06-06", "through": "2025-06-06"}


def test_cross_with_state_matches_a_replay_from_scratch() -> None:
    points = daily([19, 16, 17.5, 18.2, 17.2, 16.4, 16.0, 18.9, 15.0])
    state: dict[str, Any] = {}
    fired_stepwise = []
    for i in range(1, len(points) + 1):
        f = threshold_cross(day_in(points[:i]), CROSS, state)
        fired_stepwise.append(f.fired)
        state = f.state
    replayed = [threshold_cross(day_in(points[:i]), CROSS, {}).fired for i in range(1, len(points) + 1)]
    # 19 arms; 16 fires; 17.5 no; 18.2 re-arms; 17.2 no; 16.4 fires; 16.0 no; 18.9 re-arms; 15.0 fires
    assert fired_stepwise == [False, True, False, False, False, True, False, False, True]
    assert replayed == fired_stepwise


def test_cross_above_mirrors_below() -> None:
    params = ThresholdCrossParams(direction="above", level=30.0, rearm=25.0)
    assert threshold_cross(day_in(daily([24, 31])), params, {}).fired
    assert not threshold_cross(day_in(daily([24, 31, 26, 32])), params, {}).fired


def test_cross_rearm_must_be_beyond_the_level() -> None:
    with pytest.raises(ValidationError) as exc:
        ThresholdCrossParams(direction="below", level=17.0, rearm=16.0)
    assert exc.value.errors()[0]["loc"] == ("rearm",)


# --- percentile ---------------------------------------------------------------------


def test_percentile_upper_fires_exactly_at_the_bound() -> None:
    # 20 weekly values 1..20 with 17 last: 17 of 20 are <= 17 -> 85th percentile.
    values = [float(v) for v in range(1, 17)] + [18.0, 19.0, 20.0, 17.0]
    f = percentile(week_in(weekly(values)), PercentileParams(window="3y", upper=85), {})
    assert f.fired
    assert f.context == {"percentile": 85.0, "window": "3y", "window_points": 20}
    assert f.threshold == 85


def test_percentile_just_below_the_upper_bound_does_not_fire() -> None:
    values = [float(v) for v in range(1, 17)] + [18.0, 19.0, 20.0, 17.0]
    assert not percentile(week_in(weekly(values)), PercentileParams(window="3y", upper=86), {}).fired


def test_percentile_lower_bound_and_ties() -> None:
    # 2 is the current value; 1 and two 2s are <= 2 of 20 values... 3 of 20 = 15th percentile.
    values = [1.0, 2.0, *(float(v) for v in range(3, 20)), 2.0]
    assert len(values) == 20
    f = percentile(week_in(weekly(values)), PercentileParams(window="3y", lower=15), {})
    assert f.fired and f.context["percentile"] == 15.0 and f.threshold == 15


def test_percentile_all_equal_is_the_100th() -> None:
    f = percentile(week_in(weekly([5.0] * 20)), PercentileParams(window="3y", upper=95, lower=5), {})
    assert f.fired and f.context["percentile"] == 100.0


def test_percentile_needs_min_points() -> None:
    f = percentile(week_in(weekly([1.0] * 19)), PercentileParams(window="3y", upper=50), {})
    assert not f.fired and f.context["percentile"] is None and f.context["window_points"] == 19


def test_percentile_window_leaves_older_points_out() -> None:
    # Daily points: 2022-06-06 is the day before the 3-year window of 2025-06-06 starts.
    points = [(date(2022, 6, 6), 100.0), (date(2022, 6, 7), 1.0), (date(2025, 6, 6), 2.0)]
    f = percentile(Inputs(date(2025, 6, 6), "day", points), PercentileParams(window="3y", upper=100, min_points=2), {})
    assert f.context["window_points"] == 2
    assert f.fired and f.context["percentile"] == 100.0


def test_percentile_reads_from_the_window_start() -> None:
    assert PercentileParams(window="3y", upper=90).since(date(2025, 6, 6), "week") == date(2022, 6, 7)


def test_window_start_handles_leap_days_weeks_and_days() -> None:
    assert window_start(date(2024, 2, 29), "1y") == date(2023, 2, 28)
    assert window_start(date(2025, 6, 6), "26w") == date(2024, 12, 6)
    assert window_start(date(2025, 6, 6), "10d") == date(2025, 5, 27)


def test_percentile_without_bounds_only_reports() -> None:
    params = PercentileParams(window="3y")
    assert not params.can_fire()
    f = percentile(week_in(weekly([float(v) for v in range(1, 21)])), params, {})
    assert not f.fired and f.context["percentile"] == 100.0


def test_percentile_lower_must_be_below_upper() -> None:
    with pytest.raises(ValidationError):
        PercentileParams(window="3y", upper=10, lower=90)


# --- n-period extreme -------------------------------------------------------------------


def test_extreme_high_since_a_date_32_weeks_ago() -> None:
    # 2024-10-25: 5.0, then 31 weeks of 1.0, then 4.9 on 2025-06-06: highest since 2024-10-25.
    points = weekly([5.0] + [1.0] * 31 + [4.9])
    assert points[0][0] == date(2024, 10, 25)
    f = extreme(week_in(points), ExtremeParams(side="high", min_lookback=26), {})
    assert f.fired
    assert f.context == {"since": "2024-10-25", "periods_ago": 32, "record": False}
    assert f.threshold == 5.0


def test_extreme_an_equal_earlier_value_ends_the_run() -> None:
    f = extreme(week_in(weekly([5, 1, 1, 5])), ExtremeParams(side="high", min_lookback=1), {})
    assert f.context["since"] == "2025-05-16" and f.context["periods_ago"] == 3


def test_extreme_fires_exactly_at_min_lookback() -> None:
    points = weekly([5, 1, 1, 4])  # the last larger is 3 weeks ago
    assert extreme(week_in(points), ExtremeParams(side="high", min_lookback=3), {}).fired
    assert not extreme(week_in(points), ExtremeParams(side="high", min_lookback=4), {}).fired


def test_extreme_record_of_the_stored_history() -> None:
    f = extreme(week_in(weekly([1, 3, 2, 4])), ExtremeParams(side="high", record_only=True, min_lookback=3), {})
    assert f.fired
    assert f.context == {"since": None, "periods_ago": 3, "record": True}
    assert f.threshold == 3  # the previous record


def test_extreme_record_only_ignores_a_non_record_high() -> None:
    points = weekly([5, 1, 1, 1, 4])
    assert not extreme(week_in(points), ExtremeParams(side="high", record_only=True), {}).fired


def test_extreme_record_needs_enough_history() -> None:
    assert not extreme(week_in(weekly([1, 2])), ExtremeParams(side="high", min_lookback=26), {}).fired


def test_extreme_no_history_does_not_fire() -> None:
    assert not extreme(week_in(weekly([3.0])), ExtremeParams(side="high"), {}).fired
    assert not extreme(week_in([]), ExtremeParams(side="high"), {}).fired


def test_extreme_low_on_days_counts_trading_days() -> None:
    # 15 on the first day, then 4 higher closes, then 16: lowest since the first day, 5 trading days.
    points = daily([15, 20, 19, 18, 17, 16])
    f = extreme(day_in(points), ExtremeParams(side="low", min_lookback=5), {})
    assert f.fired and f.context["periods_ago"] == 5 and f.context["since"] == points[0][0].isoformat()


def test_extreme_weeks_ago_counts_calendar_weeks_across_gaps() -> None:
    f = extreme(week_in(weekly([9, None, None, 1, 8])), ExtremeParams(side="high"), {})
    assert f.context["periods_ago"] == 4


# --- largest change -------------------------------------------------------------------


def test_largest_decline_since_early_april() -> None:
    # 2.10 on 03-28, 2.05 on 04-04 (-0.05), small rises to 2.131 on 05-30, then 2.106 (-0.025).
    values = [2.10, 2.05, 2.07, 2.08, 2.09, 2.10, 2.11, 2.12, 2.13, 2.131, 2.106]
    f = largest_change(week_in(weekly(values)), LargestChangeParams(direction="decline", min_lookback=8), {})
    assert f.fired
    assert f.context["since"] == "2025-04-04"
    assert f.context["periods_ago"] == 9
    assert f.context["change"] == pytest.approx(-0.025)
    assert f.context["previous"] == 2.131
    assert f.threshold == pytest.approx(-0.05)
    assert f.value == 2.106


def test_largest_decline_needs_min_lookback() -> None:
    values = [2.10, 2.05, 2.07, 2.08, 2.09, 2.10, 2.11, 2.12, 2.13, 2.131, 2.106]
    params = LargestChangeParams(direction="decline", min_lookback=10)
    assert not largest_change(week_in(weekly(values)), params, {}).fired


def test_largest_decline_a_rise_is_never_a_decline() -> None:
    f = largest_change(week_in(weekly([1.0, 0.5, 0.6])), LargestChangeParams(direction="decline"), {})
    assert not f.fired and f.context["change"] == pytest.approx(0.1)


def test_largest_decline_an_equal_earlier_decline_ends_the_run() -> None:
    f = largest_change(week_in(weekly([1.0, 0.5, 1.0, 0.5])), LargestChangeParams(direction="decline"), {})
    assert f.context["since"] == "2025-05-23" and f.context["periods_ago"] == 2


def test_largest_decline_record_and_gaps() -> None:
    # 10, gap, 2, 1.5: the move into 2 is across a gap and does not count; -0.5 is a record.
    f = largest_change(
        week_in(weekly([10, None, 2, 1.5])), LargestChangeParams(direction="decline", min_lookback=3), {}
    )
    assert f.fired and f.context["record"] is True and f.context["periods_ago"] == 3 and f.threshold is None
    # the current move itself across a gap: no change, no fire
    assert not largest_change(week_in(weekly([2, None, 1])), LargestChangeParams(direction="decline"), {}).fired


def test_largest_change_relative() -> None:
    # 100 -> 80 is -20 %, 80 -> 90 +12.5 %, 90 -> 81 is -10 %: the last larger decline is the -20 %.
    f = largest_change(week_in(weekly([100, 80, 90, 81])), LargestChangeParams(direction="decline", change="pct"), {})
    assert f.context["since"] == "2025-05-23" and f.threshold == pytest.approx(-0.2)


def test_largest_rise() -> None:
    f = largest_change(week_in(weekly([1, 3, 3.5, 4, 6])), LargestChangeParams(direction="rise", min_lookback=3), {})
    assert f.fired and f.context["since"] == "2025-05-16" and f.context["periods_ago"] == 3


# --- distance from an extreme ----------------------------------------------------------


def _index_points(current: float) -> list[Point]:
    return [
        (date(2024, 5, 24), 80.0),  # lower, but outside the 1-year window
        (date(2024, 5, 31), 120.0),  # the all-time high, outside the window
        (date(2024, 6, 7), 110.0),
        (date(2025, 4, 4), 90.0),  # the window's low
        (FRIDAY, current),
    ]


def test_distance_near_the_high_after_a_rally() -> None:
    # (120 - 117) / 120 = 2.5 % below the high; 117 / 90 - 1 = 30 % above the 1-year low.
    f = distance_from_extreme(week_in(_index_points(117.0)), DistanceParams(within=0.03, move=0.20), {})
    assert f.fired
    assert f.context["extreme"] == 120.0 and f.context["extreme_date"] == "2024-05-31"
    assert f.context["base"] == 90.0 and f.context["base_date"] == "2025-04-04"
    assert f.context["distance"] == pytest.approx(0.025)
    assert f.context["move"] == pytest.approx(0.3)
    assert f.threshold == pytest.approx(116.4)


def test_distance_exactly_at_within() -> None:
    # 116.4 is exactly 3 % below 120
    assert distance_from_extreme(week_in(_index_points(116.4)), DistanceParams(within=0.03, move=0.20), {}).fired
    assert not distance_from_extreme(week_in(_index_points(116.3)), DistanceParams(within=0.03, move=0.20), {}).fired


def test_distance_needs_the_rally() -> None:
    # 117 / 90 - 1 = 30 %, short of a 31 % rally
    assert not distance_from_extreme(week_in(_index_points(117.0)), DistanceParams(within=0.03, move=0.31), {}).fired


def test_distance_a_new_high_is_at_distance_zero() -> None:
    f = distance_from_extreme(week_in(_index_points(125.0)), DistanceParams(within=0.03, move=0.20), {})
    assert f.fired and f.context["distance"] == 0 and f.context["extreme_date"] == FRIDAY.isoformat()


def test_distance_no_history() -> None:
    assert not distance_from_extreme(week_in(weekly([100.0])), DistanceParams(within=0.03, move=0.2), {}).fired


# --- pairs -----------------------------------------------------------------------------


def _pair(a: float | None, b: float | None) -> Inputs:
    return Inputs(FRIDAY, "week", weekly([a]), weekly([b]))


def test_ratio_fires_at_or_above_the_level() -> None:
    params = RatioParams(denominator=SeriesRef(metric="short_sale"), op="ge", level=2.5)
    f = ratio(_pair(6e9, 2e9), params, {})
    assert f.fired and f.value == 3.0 and f.context == {"numerator": 6e9, "denominator": 2e9}
    assert ratio(_pair(5e9, 2e9), params, {}).fired  # exactly 2.5
    assert not ratio(_pair(4.9e9, 2e9), params, {}).fired


def test_ratio_without_a_denominator_does_not_fire() -> None:
    params = RatioParams(denominator=SeriesRef(metric="short_sale"), op="ge", level=2.5)
    assert not ratio(_pair(6e9, 0.0), params, {}).fired
    assert not ratio(_pair(6e9, None), params, {}).fired


def test_spread_at_or_below_the_level() -> None:
    params = SpreadParams(minus=SeriesRef(scope={"symbol": "MOST_SHORT"}), op="le", level=-0.05)
    f = spread(_pair(-0.03, 0.05), params, {})
    assert f.fired and f.value == pytest.approx(-0.08) and f.context == {"left": -0.03, "right": 0.05}
    assert spread(_pair(0.0, 0.05), params, {}).fired  # exactly -5 points
    assert not spread(_pair(0.01, 0.05), params, {}).fired


def test_divergence_flat_or_opposite() -> None:
    params = DivergenceParams(other=SeriesRef(scope={"fund_type": "hedge_fund"}), level=-2e9, band=0.5e9)
    flat = divergence(_pair(-3e9, 0.1e9), params, {})
    assert flat.fired and flat.context == {"other": 0.1e9, "relation": "flat"}
    assert divergence(_pair(-3e9, 0.5e9), params, {}).fired  # exactly at the band
    opposite = divergence(_pair(-3e9, 1e9), params, {})
    assert opposite.fired and opposite.context["relation"] == "opposite"
    assert not divergence(_pair(-3e9, -1e9), params, {}).fired  # both sold
    assert not divergence(_pair(-1.9e9, 0.0), params, {}).fired  # not enough selling
    assert divergence(_pair(-2e9, 0.0), params, {}).fired  # exactly at the level


def test_share_moves_15_points() -> None:
    # macro 0.8 of 10 (8 %) last week, 2.3 of 10 (23 %) this week: +15 points.
    inputs = Inputs(FRIDAY, "week", weekly([10.0, 10.0]), weekly([0.8, 2.3]))
    f = share(inputs, ShareParams(part=SeriesRef(scope={"instrument_type": ["etf", "index"]}), move=0.15), {})
    assert f.fired
    assert f.value == pytest.approx(0.23)
    assert f.context["rest"] == pytest.approx(0.77)
    assert f.context["previous_share"] == pytest.approx(0.08)
    assert f.context["move"] == pytest.approx(0.15)


def test_share_without_a_previous_week_or_a_total_does_not_fire() -> None:
    params = ShareParams(part=SeriesRef(scope={"instrument_type": "etf"}), move=0.15)
    gap = Inputs(FRIDAY, "week", weekly([10.0, None, 10.0]), weekly([0.8, None, 2.3]))
    f = share(gap, params, {})
    assert not f.fired and f.context["move"] is None and f.value == pytest.approx(0.23)
    assert not share(Inputs(FRIDAY, "week", weekly([10.0, 0.0]), weekly([1.0, 2.0])), params, {}).fired


# --- breadth -----------------------------------------------------------------------------


SECTOR_FLOWS = {
    "Information Technology": 2.1e9,
    "Health Care": 1.5e9,
    "Industrials": 1.2e9,
    "Energy": 0.8e9,
    "Financials": 0.5e9,
    "Consumer Discretionary": 0.4e9,
    "Consumer Staples": 0.3e9,
    "Real Estate": 0.1e9,
    "Communication Services": -0.3e9,
    "Materials": -0.2e9,
    "Utilities": -0.1e9,
}


def test_breadth_8_of_11_with_sorted_leaders_and_laggards() -> None:
    group = {name: weekly([v]) for name, v in SECTOR_FLOWS.items()}
    f = breadth(Inputs(FRIDAY, "week", group=group), BreadthParams(min_count=8), {})
    assert f.fired and f.value == 8 and f.threshold == 8
    assert f.context["of"] == 11
    assert [n for n, _ in f.context["leaders"][:4]] == [
        "Information Technology",
        "Health Care",
        "Industrials",
        "Energy",
    ]
    assert [n for n, _ in f.context["laggards"]] == ["Communication Services", "Materials", "Utilities"]
    assert f.context["missing"] == []


def test_breadth_a_sector_without_a_point_counts_as_not_satisfying() -> None:
    group = {name: weekly([v]) for name, v in SECTOR_FLOWS.items()}
    group["Real Estate"] = weekly([0.1e9], end=FRIDAY - timedelta(weeks=1))
    f = breadth(Inputs(FRIDAY, "week", group=group), BreadthParams(min_count=8), {})
    assert not f.fired and f.context["count"] == 7 and f.context["of"] == 11
    assert f.context["missing"] == ["Real Estate"]


def test_breadth_ties_sort_by_name_and_zero_is_not_positive() -> None:
    group = {"b": weekly([0.0]), "a": weekly([0.0]), "c": weekly([1.0])}
    f = breadth(Inputs(FRIDAY, "week", group=group), BreadthParams(min_count=1), {})
    assert f.context["leaders"] == [["c", 1.0]]
    assert f.context["laggards"] == [["a", 0.0], ["b", 0.0]]


def test_breadth_no_points_does_not_fire() -> None:
    assert not breadth(Inputs(FRIDAY, "week", group={}), BreadthParams(min_count=1), {}).fired


# --- value ---------------------------------------------------------------------------------


def test_value_reports_and_never_fires() -> None:
    f = report_value(week_in(weekly([3.7])), ValueParams(), {})
    assert not f.fired and f.value == 3.7 and f.context == {"value": 3.7}
    assert not ValueParams().can_fire()
