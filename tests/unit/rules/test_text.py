"""Number formatting and default texts: every expected string is written out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from signal_monitor.rules.kinds import (
    BreadthParams,
    DistanceParams,
    DivergenceParams,
    ExtremeParams,
    Finding,
    KindParams,
    LargestChangeParams,
    PercentileParams,
    RatioParams,
    SeriesRef,
    ShareParams,
    SpreadParams,
    StreakEndParams,
    StreakParams,
    ThresholdCrossParams,
    ValueParams,
)
from signal_monitor.rules.model import Check, parse_rules
from signal_monitor.rules.text import (
    DisplayNames,
    correction_text,
    describe,
    fmt_change,
    fmt_money,
    fmt_percent,
    fmt_percentile,
    fmt_points,
    fmt_window,
    ordinal,
    render,
    scope_subject,
    template_fields,
)

WEEK = date(2025, 6, 6)
HF = {"fund_type": "hedge_fund"}
FLS = {"strategy": "fundamental_long_short"}
NAMES = DisplayNames.model_validate(
    {
        "series": {"cftc_vix_futures_net": {"name": "CFTC VIX futures net positioning", "unit": "usd"}},
        "symbols": {"NDX": "the Nasdaq 100", "VIX": "the VIX"},
        "baskets": {"HF_VIP": "the hedge-fund VIP basket", "MOST_SHORT": "the most-short basket"},
    }
)


def check(kind: str, metric: str, params: KindParams, name: str | None = None) -> Check:
    return Check(name=name or kind, kind=kind, metric=metric, params=params)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.41e9, "$2.41B"),
        (450e6, "$450M"),
        (12.34e6, "$12.3M"),
        (-3e9, "-$3.00B"),
        (999.6e6, "$1.00B"),
        (14_300.0, "$14K"),
        (950.0, "$950"),
        (0.0, "$0"),
        (1.5e12, "$1.50T"),
    ],
)
def test_fmt_money(value: float, text: str) -> None:
    assert fmt_money(value) == text


def test_fmt_percent_and_points() -> None:
    assert fmt_percent(2.106) == "210.6%"
    assert fmt_percent(0.23) == "23%"
    assert fmt_percent(0.512) == "51.2%"
    assert fmt_points(-0.025) == "2.5 points"
    assert fmt_points(0.01) == "1 point"
    assert fmt_points(0.009) == "0.9 points"


def test_fmt_change_by_unit() -> None:
    assert fmt_change("net_leverage", 0.009, 0.0179) == "+0.9 points"
    assert fmt_change("ls_ratio", 0.024, 0.015) == "+1.5%"
    assert fmt_change("net_buying", -1e9, None) == "-$1.00B"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (97, "97th"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
    ],
)
def test_ordinal(n: int, text: str) -> None:
    assert ordinal(n) == text


def test_percentile_and_window_text() -> None:
    assert fmt_percentile(97.3, "3y") == "97th percentile over 3 years"
    assert fmt_percentile(85.6, "5y") == "86th percentile over 5 years"
    assert fmt_window("1y") == "1 year"
    assert fmt_window("26w") == "26 weeks"


def test_scope_subject() -> None:
    assert scope_subject(HF) == "Hedge funds"
    assert scope_subject({"fund_type": "hedge_fund", "sector": "Industrials"}) == "Industrials"
    assert scope_subject({"fund_type": "hedge_fund", "instrument_type": "single_stock"}) == "Single stocks"
    assert scope_subject({"fund_type": "hedge_fund", "sector": "*"}) == "Hedge funds"
    assert scope_subject({"symbol": "VIX"}) == "VIX"
    assert scope_subject(FLS) == "Fundamental long/short funds"
    assert scope_subject({}) == "All funds"


# --- default texts --------------------------------------------------------------------


def test_text_sector_high_with_the_flow_ratio() -> None:
    scope = {"fund_type": "hedge_fund", "sector": "Industrials"}
    high = Finding(True, 2.41e9, 2.5e9, {"since": "2024-10-25", "periods_ago": 32, "record": False})
    ratio = Finding(False, 3.7, None, {"value": 3.7})
    text = describe(
        scope,
        WEEK,
        "week",
        [(check("extreme", "net_buying", ExtremeParams(side="high", min_lookback=26)), high)],
        [(check("value", "ls_flow_ratio", ValueParams(), name="ls_flow_ratio"), ratio)],
    )
    assert text == (
        "Industrials: hedge-fund net buying of $2.41B this week, the highest since 2024-10-25 (32 weeks); "
        "long buys outpaced short sales 3.7 to 1."
    )


def test_text_vix_cross() -> None:
    params = ThresholdCrossParams(direction="below", level=17.0, rearm=18.0)
    f = Finding(True, 16.77, 17.0, {"since": "2025-02-20"})
    text = describe({"symbol": "VIX"}, WEEK, "day", [(check("threshold_cross", "close", params), f)], [])
    assert text == "VIX closed at 16.77 on 2025-06-06, below 17 for the first time since 2025-02-20."
    first = Finding(True, 16.77, 17.0, {"since": None})
    text = describe({"symbol": "VIX"}, WEEK, "day", [(check("threshold_cross", "close", params), first)], [])
    assert text == "VIX closed at 16.77 on 2025-06-06, below 17 for the first time in the stored history."


def test_text_largest_decline() -> None:
    f = Finding(
        True,
        2.106,
        -0.05,
        {
            "previous": 2.131,
            "change": -0.025,
            "change_pct": -0.0117,
            "since": "2025-04-04",
            "periods_ago": 9,
            "record": False,
        },
    )
    params = LargestChangeParams(direction="decline", min_lookback=8)
    text = describe(FLS, WEEK, "week", [(check("largest_change", "gross_leverage", params), f)], [])
    assert text == (
        "Fundamental long/short funds: gross leverage of 210.6% this week, down 2.5 points from 213.1%, "
        "the largest one-week decline since 2025-04-04 (9 weeks)."
    )


def test_text_record() -> None:
    f = Finding(True, 2.15, 2.131, {"since": None, "periods_ago": 156, "record": True})
    params = ExtremeParams(side="high", record_only=True)
    text = describe(FLS, WEEK, "week", [(check("extreme", "gross_leverage", params), f)], [])
    assert text == (
        "Fundamental long/short funds: gross leverage of 215% this week, a record: the highest in the "
        "stored history (156 weeks; previous high 213.1%)."
    )


def test_text_rising_streak_with_its_percentile() -> None:
    f = Finding(
        True,
        0.512,
        0.503,
        {
            "streak": 4,
            "since": "2025-05-16",
            "previous": 0.503,
            "change": 0.009,
            "change_pct": 0.0179,
            "run_change": 0.021,
        },
    )
    pct = Finding(False, 0.512, None, {"percentile": 38.2, "window": "3y", "window_points": 157})
    text = describe(
        FLS,
        WEEK,
        "week",
        [(check("streak", "net_leverage", StreakParams(condition="rising", min_count=4)), f)],
        [(check("percentile", "net_leverage", PercentileParams(window="3y")), pct)],
    )
    assert text == (
        "Fundamental long/short funds: net leverage of 51.2% this week, up for the 4th consecutive week "
        "(+0.9 points on the week, +2.1 points over the streak); 38th percentile over 3 years."
    )


def test_text_positive_streak() -> None:
    f = Finding(
        True,
        1.2e9,
        0.0,
        {"streak": 5, "since": "2025-05-09", "previous": 1e9, "change": 0.2e9, "change_pct": 0.2, "run_change": None},
    )
    text = describe(
        HF, WEEK, "week", [(check("streak", "net_buying", StreakParams(condition="gt", min_count=4)), f)], []
    )
    assert text == "Hedge funds: net buying of $1.20B this week, positive for the 5th consecutive week."


def test_text_streak_end() -> None:
    f = Finding(
        True,
        70.14e6,
        70e6,
        {
            "ended_streak": 3,
            "streak_since": "2025-05-16",
            "streak_until": "2025-05-30",
            "previous": 70e6,
            "change": 0.14e6,
            "change_pct": 0.002,
        },
    )
    params = StreakEndParams(condition="falling", min_count=3)
    text = describe({"instrument_type": "etf"}, WEEK, "week", [(check("streak_end", "short_mv", params), f)], [])
    assert text == "ETFs: short positions of $70.1M this week, up 0.2% after 3 weeks down."


def test_text_ratio_share_divergence_spread() -> None:
    ratio = check("ratio", "long_buy", RatioParams(denominator=SeriesRef(metric="short_sale"), op="ge", level=2.5))
    f = Finding(True, 3.0, 2.5, {"numerator": 6e9, "denominator": 2e9})
    assert describe(HF, WEEK, "week", [(ratio, f)], []) == (
        "Hedge funds: long buys outpaced short sales 3.0 to 1 this week ($6.00B vs $2.00B)."
    )
    part = SeriesRef(scope={"instrument_type": ["etf", "index"]}, label="macro products")
    sh = check("share", "net_buying", ShareParams(part=part, move=0.15))
    f = Finding(
        True, 0.23, 0.15, {"share": 0.23, "rest": 0.77, "previous_share": 0.08, "move": 0.15, "part": 2.3, "total": 10}
    )
    assert describe(HF, WEEK, "week", [(sh, f)], []) == (
        "Hedge funds: macro products were 23% of net buying this week (the rest 77%), up 15 points from 8%."
    )
    div = check(
        "divergence",
        "net_buying",
        DivergenceParams(other=SeriesRef(scope={"fund_type": "hedge_fund"}), level=-2e9, band=0.5e9),
    )
    f = Finding(True, -3e9, -2e9, {"other": 0.1e9, "relation": "flat"})
    assert describe({"fund_type": "long_only"}, WEEK, "week", [(div, f)], []) == (
        "Long-only funds: net buying of -$3.00B this week, while hedge funds were at $100M (within ±$500M)."
    )
    spr = check("spread", "return", SpreadParams(minus=SeriesRef(scope={"symbol": "MOST_SHORT"}), op="le", level=-0.05))
    f = Finding(True, -0.08, -0.05, {"left": -0.03, "right": 0.05})
    assert describe({"symbol": "HF_VIP"}, WEEK, "week", [(spr, f)], [], names=NAMES) == (
        "The hedge-fund VIP basket lost 3% this week, lagging the most-short basket (5%) by 8 points."
    )
    assert describe({"symbol": "HF_VIP"}, WEEK, "week", [(spr, f)], []) == (
        "HF_VIP lost 3% this week, lagging MOST_SHORT (5%) by 8 points."
    )


def test_text_breadth() -> None:
    f = Finding(
        True,
        8.0,
        8.0,
        {
            "count": 8,
            "of": 11,
            "leaders": [
                ["Information Technology", 2.1e9],
                ["Health Care", 1.5e9],
                ["Industrials", 1.2e9],
                ["Energy", 0.8e9],
                ["Financials", 0.5e9],
            ],
            "laggards": [["Communication Services", -0.3e9], ["Materials", -0.2e9], ["Utilities", -0.1e9]],
            "missing": [],
        },
    )
    scope = {"fund_type": "hedge_fund", "sector": "*"}
    text = describe(scope, WEEK, "week", [(check("breadth", "net_buying", BreadthParams(min_count=8)), f)], [])
    assert text == (
        "Hedge funds: net buying positive in 8 of 11 sectors this week; led by Information Technology ($2.10B), "
        "Health Care ($1.50B), Industrials ($1.20B), Energy ($800M); lagging: Communication Services (-$300M), "
        "Materials (-$200M), Utilities (-$100M)."
    )


def test_text_two_conditions_on_one_metric_share_the_opening() -> None:
    pct = Finding(True, 3.83, 85, {"percentile": 86.0, "window": "5y", "window_points": 260})
    high = Finding(True, 3.83, 3.9, {"since": "2023-05-26", "periods_ago": 105, "record": False})
    scope = {"sub_industry": "Biotechnology"}
    text = describe(
        scope,
        WEEK,
        "week",
        [
            (check("percentile", "ls_ratio", PercentileParams(window="5y", upper=85)), pct),
            (check("extreme", "ls_ratio", ExtremeParams(side="high", min_lookback=104)), high),
        ],
        [],
    )
    assert text == (
        "Biotechnology: long/short ratio of 3.83 this week, at the 86th percentile over 5 years "
        "and the highest since 2023-05-26 (105 weeks)."
    )


def test_text_two_conditions_on_two_metrics_are_two_sentences() -> None:
    gain = Finding(
        True,
        0.021,
        0.02,
        {
            "streak": 2,
            "since": "2025-05-30",
            "previous": 0.03,
            "change": -0.009,
            "change_pct": -0.3,
            "run_change": None,
        },
    )
    near = Finding(
        True,
        117.0,
        116.4,
        {
            "extreme": 120.0,
            "extreme_date": "2024-05-31",
            "distance": 0.025,
            "base": 90.0,
            "base_date": "2025-04-04",
            "move": 0.3,
            "window": "1y",
        },
    )
    text = describe(
        {"symbol": "NDX"},
        WEEK,
        "week",
        [
            (check("streak", "return", StreakParams(condition="ge", level=0.02, min_count=2)), gain),
            (check("distance_from_extreme", "close", DistanceParams(within=0.03, move=0.2)), near),
        ],
        [],
        names=NAMES,
    )
    assert text == (
        "The Nasdaq 100 gained 2.1% this week, at or above 2% for the 2nd consecutive week. "
        "The Nasdaq 100 closed at 117.00 this week, 2.5% below its high of 120.00 (2024-05-31) and 30% above its "
        "1-year low of 90.00 (2025-04-04)."
    )


def test_correction_texts() -> None:
    assert correction_text("r", HF, WEEK, "week", "Hedge funds: x.") == "Correction after late data: Hedge funds: x."
    assert correction_text("hedge funds net buying streak", HF, WEEK, "week", "") == (
        "Withdrawn after late data: Hedge funds net buying streak no longer holds for Hedge funds "
        "in the week ending 2025-06-06."
    )


# --- templates ------------------------------------------------------------------------


def test_render_is_safe_substitution_only() -> None:
    fields = {"scope": "Industrials", "value": "$2.41B"}
    assert render("$scope: ${value} ($$)", fields) == "Industrials: $2.41B ($)"
    assert render("$missing stays", fields) == "$missing stays"
    assert render("{value.__class__} {0}", fields) == "{value.__class__} {0}"
    assert render("${value.__class__}", fields) == "${value.__class__}"


def test_template_fields_are_formatted_text() -> None:
    rules = parse_rules(
        """
rules:
  - id: r
    description: d
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund, sector: "*"}
    kind: extreme
    params: {side: high, min_lookback: 26}
    report:
      - {kind: value, metric: ls_flow_ratio}
    severity: warning
"""
    )
    rule = rules.get("r")
    scope = {"fund_type": "hedge_fund", "sector": "Industrials"}
    high = Finding(True, 2.41e9, 2.5e9, {"since": "2024-10-25", "periods_ago": 32, "record": False})
    ratio = Finding(False, 3.7, None, {"value": 3.7})
    fields = template_fields(rule, scope, WEEK, 2.41e9, 2.5e9, "T", [(rule.checks[0], high), (rule.report[0], ratio)])
    assert fields["value"] == "$2.41B"
    assert fields["threshold"] == "$2.50B"
    assert fields["since"] == "2024-10-25"
    assert fields["periods_ago"] == "32"
    assert fields["record"] == "no"
    assert fields["ls_flow_ratio"] == "3.7 to 1"  # the note: "a ratio of 3.7 to 1"
    assert fields["sector"] == "Industrials"
    assert fields["scope"] == "Industrials"
    assert fields["period_start"] == "2025-06-02"
    assert fields["held"] == "extreme"
    assert fields["severity"] == "warning"
    assert fields["text"] == "T"


def test_template_value_and_threshold_follow_the_kind() -> None:
    rules = parse_rules(
        """
rules:
  - id: ratio
    description: d
    metric: long_buy
    period: week
    scope: {fund_type: hedge_fund}
    kind: ratio
    params: {denominator: {metric: short_sale}, op: ge, level: 2.5}
  - id: mix
    description: d
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: share
    params: {part: {scope: {instrument_type: etf}}, move: 0.15}
  - id: pct
    description: d
    metric: gross_leverage
    period: week
    scope: {strategy: fundamental_long_short}
    kind: percentile
    params: {window: 3y, upper: 95}
"""
    )
    ratio = rules.get("ratio")
    f = Finding(True, 3.0, 2.5, {"numerator": 6e9, "denominator": 2e9})
    fields = template_fields(ratio, HF, WEEK, 3.0, 2.5, "", [(ratio.checks[0], f)])
    assert (fields["value"], fields["threshold"]) == ("3.0 to 1", "2.5 to 1")  # "a ratio of about 3 to 1"
    assert (fields["numerator"], fields["denominator"]) == ("$6.00B", "$2.00B")
    mix = rules.get("mix")
    f = Finding(True, 0.23, 0.15, {"share": 0.23, "rest": 0.77, "previous_share": 0.08, "move": 0.15})
    fields = template_fields(mix, HF, WEEK, 0.23, 0.15, "", [(mix.checks[0], f)])
    assert (fields["value"], fields["threshold"], fields["move"]) == ("23%", "15 points", "15 points")
    assert fields["part"] == "n/a"  # not in this finding's context
    pct = rules.get("pct")
    f = Finding(True, 2.106, 95, {"percentile": 97.3, "window": "3y", "window_points": 157})
    fields = template_fields(pct, FLS, WEEK, 2.106, 95, "", [(pct.checks[0], f)])
    assert (fields["value"], fields["threshold"], fields["percentile"], fields["window"]) == (
        "210.6%",
        "95th",
        "97th",
        "3 years",
    )


def test_names_and_units_reach_the_text() -> None:
    # CFTC positioning in dollars: the series' name and its observations' unit (usd), never its id or "value of"
    f = Finding(True, -33_434_659.0, None, {"streak": 5, "change": -2.9e6, "change_pct": -0.081, "run_change": -14.3e6})
    streak = check("streak", "obs", StreakParams(condition="falling", min_count=5))
    scope = {"series": "cftc_vix_futures_net"}
    assert describe(scope, WEEK, "week", [(streak, f)], [], names=NAMES) == (
        "CFTC VIX futures net positioning at -$33.4M this week, down for the 5th consecutive week "
        "(-8.1% on the week, -$14.3M over the streak)."
    )
    # a series without a name or unit prints its id and plain numbers, still without "value of"
    assert describe(scope, WEEK, "week", [(streak, f)], []) == (
        "Cftc_vix_futures_net at -33,434,659 this week, down for the 5th consecutive week "
        "(-8.1% on the week, -14,300,000 over the streak)."
    )
    assert scope_subject({"symbol": "VIX"}, names=NAMES) == "The VIX"
    assert scope_subject({"symbol": "MOST_SHORT"}, capital=False, names=NAMES) == "the most-short basket"


def test_the_names_section_of_a_rule_file() -> None:
    rules = parse_rules(
        """
version: 1
names:
  series: {cftc_vix_futures_net: {name: CFTC VIX futures net positioning, unit: USD}, other: Other series}
  baskets: {HF_VIP: the hedge-fund VIP basket}
rules:
  - {id: r, description: d, metric: obs, period: week, scope: {series: cftc_vix_futures_net},
     kind: streak, params: {condition: falling, min_count: 5}}
"""
    )
    assert rules.names.unit("obs", {"series": "cftc_vix_futures_net"}) == "money"
    assert rules.names.of("series", "other") == "Other series"
    assert rules.get("r").names == rules.names


def test_a_names_section_with_an_unknown_unit_is_an_error() -> None:
    from signal_monitor.rules.model import check_rules

    _, errors = check_rules(
        "version: 1\nnames: {series: {s: {name: S, unit: furlongs}}}\nrules: []\n", "f.yaml"
    )
    assert [(e.field, "unknown unit 'furlongs'" in e.message) for e in errors] == [("names.series.s.unit", True)]
