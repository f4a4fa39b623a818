"""The rule schema and loader: the shipped defaults, and errors that name the file, the rule and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from signal_monitor.config.settings import DEFAULT_RULES_PATH, Settings
from signal_monitor.errors import RuleFileError
from signal_monitor.rules.kinds import ExtremeParams, PercentileParams, RatioParams, StreakParams, ThresholdCrossParams
from signal_monitor.rules.model import METRICS, RuleSet, load_rules, parse_rules

SIGNAL_IDS = [
    "hf_net_buying_streak",
    "hf_long_short_flow_ratio",
    "hf_flow_mix",
    "single_stock_net_buying_streak",
    "etf_short_covering_reversal",
    "sector_breadth",
    "sector_net_buying_high",
    "sector_long_buying_high",
    "sector_net_buying_streak",
    "subindustry_ls_ratio_extreme",
    "gross_leverage_record",
    "gross_leverage_largest_drop",
    "gross_leverage_percentile",
    "net_leverage_rising_streak",
    "ls_ratio_percentile",
    "vix_below_17",
    "vix_low_since",
    "vix_futures_positioning_streak",
    "fund_type_divergence",
    "crowding_spread",
    "index_weekly_gain_streak",
]

GOOD = """
rules:
  - id: hf_net_buying_streak
    description: Hedge funds net bought for 4 weeks.
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, level: 0, min_count: 4}
"""


@pytest.fixture(scope="module")
def defaults() -> RuleSet:
    return load_rules(DEFAULT_RULES_PATH)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> RuleFileError:
    with pytest.raises(RuleFileError) as exc:
        load_rules(write(tmp_path, text))
    return exc.value


def one_rule(body: str) -> str:
    """A file with one rule ``r1`` whose body (indented under the list item) is ``body``."""
    lines = "\n".join(f"    {line}" for line in body.strip().splitlines())
    return f"rules:\n  - id: r1\n    description: d\n{lines}\n"


# --- the shipped defaults ---------------------------------------------------------------


def test_defaults_have_exactly_the_catalogue_ids(defaults: RuleSet) -> None:
    assert [r.id for r in defaults] == SIGNAL_IDS
    assert len(defaults) == 21


def test_settings_point_at_the_defaults() -> None:
    assert Settings().rules_path == DEFAULT_RULES_PATH


def test_defaults_kinds_and_conditions(defaults: RuleSet) -> None:
    kinds = {r.id: [c.kind for c in r.checks] for r in defaults}
    assert kinds["hf_net_buying_streak"] == ["streak"]
    assert kinds["hf_long_short_flow_ratio"] == ["ratio"]
    assert kinds["hf_flow_mix"] == ["share"]
    assert kinds["etf_short_covering_reversal"] == ["streak_end"]
    assert kinds["sector_breadth"] == ["breadth"]
    assert kinds["subindustry_ls_ratio_extreme"] == ["percentile", "extreme"]
    assert kinds["gross_leverage_largest_drop"] == ["largest_change"]
    assert kinds["vix_below_17"] == ["threshold_cross"]
    assert kinds["fund_type_divergence"] == ["divergence"]
    assert kinds["crowding_spread"] == ["spread"]
    assert kinds["index_weekly_gain_streak"] == ["streak", "distance_from_extreme"]
    assert defaults.get("hf_net_buying_streak").checks[0].params == StreakParams(condition="gt", level=0, min_count=4)
    assert defaults.get("vix_below_17").checks[0].params == ThresholdCrossParams(
        direction="below", level=17.0, rearm=18.0
    )
    assert defaults.get("vix_low_since").checks[0].params == ExtremeParams(side="low", min_lookback=60)
    assert defaults.get("gross_leverage_percentile").checks[0].params == PercentileParams(
        window="3y", upper=95, lower=5
    )
    ratio = defaults.get("hf_long_short_flow_ratio").checks[0].params
    assert isinstance(ratio, RatioParams) and ratio.level == 2.5 and ratio.denominator.metric == "short_sale"


def test_defaults_scopes_and_wildcards(defaults: RuleSet) -> None:
    breadth = defaults.get("sector_breadth")
    assert breadth.scope == {"fund_type": "hedge_fund", "sector": "*"}
    assert breadth.wildcards == ("sector",) and breadth.grouped
    assert breadth.exclude == {"sector": ("broad",)}
    high = defaults.get("sector_net_buying_high")
    assert not high.grouped and [c.name for c in high.report] == ["ls_flow_ratio"]
    assert defaults.get("index_weekly_gain_streak").checks[1].metric == "close"
    assert defaults.get("index_weekly_gain_streak").combine == "any"
    assert [r.id for r in defaults.for_period("day")] == ["vix_below_17", "vix_low_since"]


def test_metric_table_follows_metrics_module() -> None:
    assert METRICS["net_buying"].periods == ("week",)
    assert frozenset({"fund_type", "sector"}) in METRICS["net_buying"].scopes
    assert frozenset({"sub_industry"}) in METRICS["ls_ratio"].scopes
    assert frozenset({"sub_industry"}) not in METRICS["gross_leverage"].scopes
    assert METRICS["return"].periods == ("week",)
    assert "ls_flow_ratio" in METRICS and "nav" in METRICS


def test_a_good_file_loads(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, GOOD))
    assert rules.path.endswith("rules.yaml")
    rule = rules.get("hf_net_buying_streak")
    assert rule.severity == "info" and rule.labels == {} and rule.message is None
    with pytest.raises(KeyError):
        rules.get("nope")


# --- errors --------------------------------------------------------------------------------


def test_params_error_names_file_rule_and_field(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("min_count: 4", "min_count: 0"))
    assert err.rule_id == "hf_net_buying_streak"
    assert err.field == "params.min_count"
    assert str(err).endswith(
        "rules.yaml, rule 'hf_net_buying_streak', field 'params.min_count': Input should be greater than 0"
    )
    assert err.path == str(tmp_path / "rules.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, "rules:\n  - id: a\n    scope: {fund_type: hedge_fund\n")
    assert err.rule_id is None
    assert "YAML syntax error at line 4" in str(err)
    assert str(err).startswith(str(tmp_path / "rules.yaml"))


def test_duplicate_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("    period: week\n", "    period: week\n    period: day\n"))
    assert "duplicate key 'period'" in str(err) and "line 7" in str(err)


def test_duplicate_rule_id(tmp_path: Path) -> None:
    text = GOOD + GOOD.split("rules:\n", 1)[1]
    err = error_of(tmp_path, text)
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "id")
    assert "duplicate rule id (rule #1 has it too)" in str(err)


def test_unknown_kind(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("kind: streak", "kind: streek"))
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "kind")
    assert "unknown kind 'streek'" in str(err)


def test_unknown_metric(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("metric: net_buying", "metric: net_bying"))
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "metric")
    assert "unknown metric 'net_bying'" in str(err)


def test_metric_without_series_at_the_period(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("period: week", "period: day"))
    assert err.field == "metric" and "has no day series" in str(err)


def test_scope_dimensions_the_metric_is_not_kept_for(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("{fund_type: hedge_fund}", "{symbol: VIX}"))
    assert err.field == "metric" and "not kept for scope dimensions ['symbol']" in str(err)


def test_unknown_placeholder_in_the_message(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + '    message: "$scope streak $streek"\n')
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "message")
    assert "unknown placeholder $streek" in str(err)


def test_invalid_placeholder_in_the_message(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + '    message: "costs $1.5B"\n')
    assert err.field == "message" and "a literal dollar is $$" in str(err)


def test_known_placeholders_load(tmp_path: Path) -> None:
    rules = load_rules(
        write(tmp_path, GOOD + '    message: "$scope: $streak weeks since $since ($$, ${fund_type}) $text"\n')
    )
    assert rules.get("hf_net_buying_streak").message is not None


def test_unknown_field_in_a_rule(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + "    severty: info\n")
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "severty")
    assert "Extra inputs are not permitted" in str(err)


def test_bad_severity(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + "    severity: loud\n")
    assert err.field == "severity" and "'info', 'warning' or 'critical'" in str(err)


def test_unknown_param(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("min_count: 4", "min_count: 4, lenght: 3"))
    assert err.field == "params.lenght"


def test_missing_param(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace(", min_count: 4", ""))
    assert err.field == "params.min_count" and "Field required" in str(err)


def test_rule_without_an_id_is_named_by_position(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("id: hf_net_buying_streak", "name: x"))
    assert err.rule_id == "#1" and err.field == "id"


def test_kind_and_any_of_together(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        one_rule(
            """
metric: ls_ratio
period: week
scope: {sub_industry: "*"}
kind: extreme
params: {side: high}
any_of:
  - {kind: percentile, params: {window: 5y, upper: 85}}
"""
        ),
    )
    assert (err.rule_id, err.field) == ("r1", "kind")


def test_error_inside_any_of_names_the_check(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        one_rule(
            """
metric: ls_ratio
period: week
scope: {sub_industry: "*"}
any_of:
  - {kind: percentile, params: {window: 5y, upper: 85}}
  - {kind: extreme, params: {side: top}}
"""
        ),
    )
    assert (err.rule_id, err.field) == ("r1", "any_of.1.params.side")


def test_check_metric_must_be_kept_for_the_scope(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        one_rule(
            """
metric: return
period: week
scope: {symbol: NDX}
any_of:
  - {kind: streak, params: {condition: ge, level: 0.02, min_count: 2}}
  - {kind: extreme, metric: gross_leverage, params: {side: high}}
"""
        ),
    )
    assert err.field == "any_of.1.metric"


def test_a_check_that_never_fires_must_be_a_report(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        one_rule(
            """
metric: gross_leverage
period: week
scope: {strategy: fundamental_long_short}
kind: percentile
params: {window: 3y}
"""
        ),
    )
    assert err.field == "kind" and "never fires" in str(err)


def test_two_checks_with_one_name(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        one_rule(
            """
metric: ls_ratio
period: week
scope: {sub_industry: "*"}
any_of:
  - {kind: extreme, params: {side: high, min_lookback: 104}}
  - {kind: extreme, params: {side: high, min_lookback: 26}}
"""
        ),
    )
    assert err.field == "any_of.1.name"


def test_breadth_needs_one_wildcard_and_no_company(tmp_path: Path) -> None:
    body = """
metric: net_buying
period: week
scope: {fund_type: hedge_fund}
kind: breadth
params: {min_count: 8}
"""
    err = error_of(tmp_path, one_rule(body))
    assert err.field == "scope" and "exactly one '*'" in str(err)
    err = error_of(
        tmp_path,
        one_rule(
            body.replace("{fund_type: hedge_fund}", '{fund_type: hedge_fund, sector: "*"}')
            + "report:\n  - {kind: value, metric: ls_flow_ratio}\n"
        ),
    )
    assert err.field == "kind" and "only check" in str(err)


def test_exclude_only_on_a_wildcard(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + "    exclude: {fund_type: [long_only]}\n")
    assert err.field == "exclude.fund_type"


def test_second_series_is_validated(tmp_path: Path) -> None:
    body = """
metric: long_buy
period: week
scope: {fund_type: hedge_fund}
kind: ratio
params: {denominator: {metric: short_sails}, op: ge, level: 2.5}
"""
    err = error_of(tmp_path, one_rule(body))
    assert err.field == "params.denominator.metric" and "unknown metric 'short_sails'" in str(err)
    err = error_of(tmp_path, one_rule(body.replace("{metric: short_sails}", '{scope: {sector: "*"}}')))
    assert err.field == "params.denominator.scope.sector"


def test_rearm_on_the_wrong_side(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        one_rule(
            """
metric: close
period: day
scope: {symbol: VIX}
kind: threshold_cross
params: {direction: below, level: 17, rearm: 16}
"""
        ),
    )
    assert err.field == "params.rearm" and "must be >= level (17.0)" in str(err)


def test_file_level_errors(tmp_path: Path) -> None:
    assert error_of(tmp_path, "- a\n- b\n").field == "rules"
    assert error_of(tmp_path, "rules: []\nrulez: []\n").field == "rulez"
    assert error_of(tmp_path, "version: 2\nrules: []\n").field == "version"
    assert error_of(tmp_path, "rules:\n  - just a string\n").rule_id == "#1"
    with pytest.raises(RuleFileError) as exc:
        load_rules(tmp_path / "missing.yaml")
    assert str(exc.value).startswith(str(tmp_path / "missing.yaml")) and "cannot read" in str(exc.value)


def test_parse_rules_names_the_given_path() -> None:
    with pytest.raises(RuleFileError) as exc:
        parse_rules(GOOD.replace("kind: streak", "kind: x"), "inline.yaml")
    assert str(exc.value).startswith("inline.yaml, rule 'hf_net_buying_streak', field 'kind'")


def test_check_rules_returns_every_error_and_parse_rules_raises_the_first_with_a_count() -> None:
    from signal_monitor.rules.model import check_rules

    text = """\
version: 1
extra: 1
rules:
  - id: one
    description: x
    metric: nope
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, min_count: 1}
  - id: two
    description: y
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: extreme
    params: {side: sideways}
"""
    ruleset, errors = check_rules(text, "desk.yaml")
    assert ruleset is None
    assert [(e.rule_id, e.field) for e in errors] == [(None, "extra"), ("one", "metric"), ("two", "params.side")]
    with pytest.raises(RuleFileError, match=r"unknown top-level key .*\(and 2 more: signal-monitor rules check desk.yaml"):
        parse_rules(text, "desk.yaml")


# --- provisional rules ------------------------------------------------------------------------


def test_a_provisional_rule_with_its_message_loads(tmp_path: Path) -> None:
    text = GOOD + '    provisional: true\n    provisional_message: "$scope on track for a ${streak_ordinal} week ($value so far)"\n'
    rule = load_rules(write(tmp_path, text)).get("hf_net_buying_streak")
    assert rule.provisional and rule.provisional_message is not None
    assert not load_rules(write(tmp_path, GOOD)).get("hf_net_buying_streak").provisional  # off by default


def test_provisional_must_be_a_boolean(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + "    provisional: sometimes\n")
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "provisional")


def test_only_a_week_rule_can_be_provisional(tmp_path: Path) -> None:
    err = error_of(tmp_path, one_rule("""
metric: close
period: day
scope: {symbol: VIX}
kind: threshold_cross
params: {direction: below, level: 17.0, rearm: 18.0}
provisional: true
"""))
    assert (err.rule_id, err.field) == ("r1", "provisional") and "only a week rule" in str(err)


def test_a_provisional_message_needs_provisional(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + '    provisional_message: "on track"\n')
    assert err.field == "provisional_message" and "provisional: true" in str(err)


def test_unknown_placeholder_in_the_provisional_message(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD + '    provisional: true\n    provisional_message: "on track for $streek"\n')
    assert (err.rule_id, err.field) == ("hf_net_buying_streak", "provisional_message")
    assert "unknown placeholder $streek" in str(err)


def test_the_defaults_watch_the_flows_of_the_running_week(defaults: RuleSet) -> None:
    watched = {r.id for r in defaults if r.provisional}
    assert {"hf_net_buying_streak", "single_stock_net_buying_streak", "sector_net_buying_streak"} <= watched
    assert all(r.period == "week" and r.provisional_message and "on track" in r.provisional_message
               for r in defaults if r.provisional)
