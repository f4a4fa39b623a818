"""The benchmark's last line: one JSON object with exactly the headline keys of issues 6, 12 and 16 (formatting only, no timing)."""

from __future__ import annotations

import json
import math

from bench.report import HEADLINE_KEYS, TEXT_KEYS, headline_json, median, percentile

ISSUE_KEYS = {
    "raw_consume_per_s",
    "faust_empty_agent_per_s",
    "naive_agent_per_s",
    "events_per_s_single",
    "events_per_s_batched",
    "alert_latency_p99_ms",
    "rss_start_mb",
    "rss_end_mb",
    "broker",  # "apache-kafka 4.1.1", or "tansu 0.6.0"
    # the peers on the same broker and topics, and RSS growth after warm-up
    "consumer_perf_per_s",
    "quix_streams_per_s",
    "kafka_streams_per_s",
    "kafka_streams_batched_per_s",
    "rss_growth_pct",
}


def test_headline_keys_are_exactly_the_issue_keys() -> None:
    assert set(HEADLINE_KEYS) == ISSUE_KEYS
    assert len(HEADLINE_KEYS) == len(ISSUE_KEYS)


def test_headline_json_is_one_line_with_exactly_the_keys_in_order() -> None:
    figures: dict[str, float | str | None] = {key: float(i) * 1000.123 for i, key in enumerate(HEADLINE_KEYS)}
    figures["broker"] = "apache-kafka 4.1.1"
    figures["scale_factor"] = 1.7  # an extra figure stays in the table, not in the line
    line = headline_json(figures)
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed) == list(HEADLINE_KEYS)
    assert parsed["faust_empty_agent_per_s"] == round(HEADLINE_KEYS.index("faust_empty_agent_per_s") * 1000.123, 1)
    assert parsed["broker"] == "apache-kafka 4.1.1"
    assert all(isinstance(parsed[key], float) for key in HEADLINE_KEYS if key not in TEXT_KEYS)


def test_missing_and_non_finite_figures_are_null() -> None:
    parsed = json.loads(headline_json({"raw_consume_per_s": math.nan, "rss_end_mb": math.inf}))
    assert set(parsed) == ISSUE_KEYS
    assert all(value is None for value in parsed.values())


def test_median_and_percentile() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert math.isnan(median([]))
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([10.0], 99) == 10.0
    assert percentile(list(range(101)), 99) == 99.0
