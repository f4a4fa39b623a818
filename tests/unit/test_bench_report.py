"""The benchmark's last line: one JSON object with exactly the headline keys of issue 6 (formatting only, no timing);
and the latency benchmark's webhook receiver answers the worker's Slack sender as Slack does.
"""

from __future__ import annotations

import json
import math

from pydantic import SecretStr

from bench.latency import ROUTES, WebhookReceiver
from bench.report import HEADLINE_KEYS, headline_json, median, percentile
from signal_monitor.delivery.routing import parse_routes
from signal_monitor.delivery.slack import WebhookSender
from tests.unit.delivery.factory import make_alert

ISSUE_KEYS = {
    "raw_consume_per_s",
    "faust_empty_agent_per_s",
    "naive_agent_per_s",
    "events_per_s_single",
    "events_per_s_batched",
    "alert_latency_p99_ms",
    "rss_start_mb",
    "rss_end_mb",
}


def test_headline_keys_are_exactly_the_issue_keys() -> None:
    assert set(HEADLINE_KEYS) == ISSUE_KEYS
    assert len(HEADLINE_KEYS) == len(ISSUE_KEYS)


def test_headline_json_is_one_line_with_exactly_the_keys_in_order() -> None:
    figures = {key: float(i) * 1000.123 for i, key in enumerate(HEADLINE_KEYS)}
    figures["scale_factor"] = 1.7  # an extra figure stays in the table, not in the line
    line = headline_json(figures)
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed) == list(HEADLINE_KEYS)
    assert parsed["faust_empty_agent_per_s"] == round(1000.123, 1)


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


async def test_the_latency_receiver_takes_a_webhook_post_as_slack_does() -> None:
    receiver = WebhookReceiver().start()
    sender = WebhookSender(SecretStr(receiver.url), timeout=10.0)
    try:
        alert = make_alert("bench_close_below", {"symbol": "BENCHVOL"})
        outcome = await sender.send([alert], outbox_id="bench-1")
        arrival = await receiver.next(10.0)
    finally:
        await sender.close()
        receiver.stop()
    assert outcome.kind == "ok"  # 200 "ok": delivered, no retry
    assert arrival is not None
    _, body = arrival
    assert alert.dedup_key in body and f"week {alert.period_start.isoformat()}" in body


def test_the_latency_routes_send_at_once_to_the_webhook() -> None:
    routes = parse_routes(ROUTES, "bench-routes.yaml")
    (receiver,) = routes.receivers.values()
    assert receiver.webhook_url_env == "SM_SLACK_WEBHOOK_URL"
    noise = routes.noise(routes.match(make_alert())[0], make_alert())
    assert (noise.group_wait, noise.realert) == (0, 0)
