"""The latency benchmark's pieces without a worker: its receiver answers the worker's Slack sender as Slack does, and
its routes send each alert at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import SecretStr

from bench.latency import HOOK_WORKER, ROUTES, RULE_ID, SYMBOL, webhook_receiver
from signal_monitor.delivery.routing import parse_routes
from signal_monitor.delivery.slack import WebhookSender
from signal_monitor.rules.alert import Alert, dedup_key

DAY = date(2025, 6, 4)


def bench_alert() -> Alert:
    """The alert the latency worker's one rule fires: a close of the benchmark symbol below 17 on ``DAY``."""
    scope = {"symbol": SYMBOL}
    return Alert(
        rule=RULE_ID, scope=scope, granularity="day", period_start=DAY, period_end=DAY, value=15.0, threshold=17.0,
        severity="info", labels={"desk": "bench"}, dedup_key=dedup_key(RULE_ID, scope, DAY),
        text=f"{SYMBOL} closed at 15 on {DAY.isoformat()}, below 17.", fired_at=datetime(2025, 6, 5, 14, 0, tzinfo=UTC),
    )


async def test_the_latency_receiver_takes_a_webhook_post_as_slack_does() -> None:
    receiver = webhook_receiver()
    sender = WebhookSender(SecretStr(receiver.webhook_url(HOOK_WORKER)), timeout=10.0)
    try:
        alert = bench_alert()
        outcome = await sender.send([alert], outbox_id="bench-1")
        arrival = await receiver.next(10.0)
    finally:
        await sender.close()
        receiver.stop()
    assert outcome.kind == "ok"  # 200 "ok": delivered, no retry
    assert arrival is not None
    _, body = arrival
    assert alert.dedup_key in body
    assert RULE_ID in body and f"day {DAY.isoformat()}" in body  # what the benchmark waits for


def test_the_latency_routes_send_at_once_to_the_webhook() -> None:
    routes = parse_routes(ROUTES, "bench-routes.yaml")
    (receiver,) = routes.receivers.values()
    assert receiver.webhook_url_env == "SM_SLACK_WEBHOOK_URL"
    noise = routes.noise(routes.match(bench_alert())[0], bench_alert())
    assert (noise.group_wait, noise.realert) == (0, 0)
