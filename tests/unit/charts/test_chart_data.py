"""The chart data of an alert, from series constructed here: points shown, levels or band, the fired point."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from signal_monitor.charts.data import NoChart, alert_chart, chart_data
from signal_monitor.rules.model import parse_rules
from signal_monitor.state.memory import MemoryState
from tests.unit.delivery.factory import make_alert

FRIDAY = date(2025, 6, 6)

RULES = parse_rules("""version: 1
rules:
  - id: vix_below_17
    description: The VIX closed below 17.
    summary: The VIX closed below 17
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: below, level: 17.0, rearm: 18.0}
  - id: gross_percentile
    description: Gross leverage at an extreme percentile over a year.
    metric: gross_leverage
    period: week
    scope: {strategy: fls}
    kind: percentile
    params: {window: 1y, upper: 95, lower: 5}
  - id: sector_high
    description: A sector's net buying at a 10-week high.
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund, sector: "*"}
    kind: extreme
    params: {side: high, min_lookback: 10}
  - id: flow_ratio
    description: Long buys at least 2.5 times short sales.
    metric: long_buy
    period: week
    scope: {fund_type: hedge_fund}
    kind: ratio
    params: {denominator: {metric: short_sale}, op: ge, level: 2.5}
  - id: breadth
    description: Most sectors net bought.
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund, sector: "*"}
    kind: breadth
    params: {condition: gt, level: 0, min_count: 2}
""")


def _weeks(values: list[float], end: date = FRIDAY) -> list[tuple[date, float]]:
    return [(end - timedelta(weeks=len(values) - 1 - i), v) for i, v in enumerate(values)]


async def test_a_crossing_shows_the_days_up_to_it_and_after_its_levels_and_the_fired_close() -> None:
    state = MemoryState()
    days = [date(2025, 5, 1) + timedelta(days=i) for i in range(80)]  # any consecutive days: the series' own
    closes = [19.0 + (i % 3) for i in range(80)]
    period = days[69]
    closes[69] = 16.5  # below 17 after closes at or above 18: fires
    await state.put_series("close:day|symbol=VIX", list(zip(days, closes, strict=True)))
    data = await chart_data(state, RULES.get("vix_below_17"), {"symbol": "VIX"}, period)
    assert data.points[0] == (days[69 - 60], closes[69 - 60])  # 60 days before the period ...
    assert data.points[-1] == (days[79], closes[79])  # ... and the 10 after it
    assert len(data.points) == 71
    assert data.fired == (period, 16.5)
    assert [(lv.value, lv.label) for lv in data.levels] == [(17.0, "below 17"), (18.0, "re-arms at 18")]
    assert data.unit == "price" and data.series == "close:day|symbol=VIX"
    (marker,) = data.markers
    assert (marker.period, marker.value, marker.current) == (period, 16.5, True)
    record = data.to_json()
    assert record["fired"]["text"] == "16.50" and record["period_text"] == period.isoformat()
    assert record["levels"][0]["text"] == "17"


async def test_a_percentile_band_trails_its_window_at_the_ranks_that_fire() -> None:
    state = MemoryState()
    await state.put_series("gross_leverage:week|strategy=fls", _weeks([float(i) for i in range(100)]))
    data = await chart_data(state, RULES.get("gross_percentile"), {"strategy": "fls"}, FRIDAY, before=0, after=0)
    (band,) = data.band
    # the window of the newest week (value 99) is the 53 weeks after 2024-06-06: values 47..99. The
    # kind's rank of v is 100 x (values <= v) / 53: >= 95 from the 51st smallest (50.35 rounded up), 97;
    # <= 5 up to the 2nd smallest (2.65 rounded down), 48.
    assert (band.period, band.high, band.low) == (FRIDAY, 97.0, 48.0)
    assert data.fired == (FRIDAY, 99.0) and data.levels == []
    assert data.band_label == "5th–95th percentile over 1 year"


async def test_a_high_since_draws_the_previous_high_and_reaches_back_to_it() -> None:
    state = MemoryState()
    values = [5.0] * 40 + [9.0] + [1.0] * 29 + [8.0]  # 8 is the highest since the 9 thirty weeks before
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Energy", _weeks([v * 1e8 for v in values]))
    scope = {"fund_type": "hedge_fund", "sector": "Energy"}
    data = await chart_data(state, RULES.get("sector_high"), scope, FRIDAY,
                            others=[FRIDAY - timedelta(weeks=3), FRIDAY - timedelta(weeks=400)])
    since = FRIDAY - timedelta(weeks=30)
    (level,) = data.levels
    assert level.value == 9e8 and level.label == f"previous high ({since.isoformat()})"
    assert data.points[0][0] < since and data.points[-1] == (FRIDAY, 8e8)
    assert data.fired == (FRIDAY, 8e8) and data.unit == "money"
    assert [(m.period, m.current) for m in data.markers] == [(FRIDAY - timedelta(weeks=3), False), (FRIDAY, True)]
    assert data.to_json()["fired"]["text"] == "$800M"


async def test_a_ratio_is_charted_as_the_ratio_it_tests() -> None:
    state = MemoryState()
    await state.put_series("long_buy:week|fund_type=hedge_fund", _weeks([10.0, 30.0, 36.0]))
    await state.put_series("short_sale:week|fund_type=hedge_fund", _weeks([10.0, 0.0, 12.0]))
    data = await chart_data(state, RULES.get("flow_ratio"), {"fund_type": "hedge_fund"}, FRIDAY)
    assert data.points == [(FRIDAY - timedelta(weeks=2), 1.0), (FRIDAY, 3.0)]  # no ratio over 0 short sales
    assert data.fired == (FRIDAY, 3.0) and [lv.value for lv in data.levels] == [2.5]
    assert data.unit == "to_one" and data.series == "long_buy / short_sale"


async def test_alerts_of_group_rules_or_unknown_rules_have_no_chart() -> None:
    state = MemoryState()
    with pytest.raises(NoChart):
        await chart_data(state, RULES.get("breadth"), {"fund_type": "hedge_fund", "sector": "*"}, FRIDAY)
    with pytest.raises(NoChart):
        await alert_chart(state, RULES, make_alert("no_such_rule"))
    with pytest.raises(NoChart):
        await alert_chart(state, RULES, {"rule": "vix_below_17"})  # a record that is not an alert


async def test_an_alert_is_charted_at_its_period_end() -> None:
    state = MemoryState()
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Energy", _weeks([1.0, 2.0, 3.0]))
    alert = make_alert("sector_high", {"fund_type": "hedge_fund", "sector": "Energy"})
    data = await alert_chart(state, RULES, alert.model_dump(mode="json"))
    assert data.period == FRIDAY and data.fired == (FRIDAY, 3.0) and len(data.points) == 3
    assert data.to_json()["period_text"] == "week ending 2025-06-06"
