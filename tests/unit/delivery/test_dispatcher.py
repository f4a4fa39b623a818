"""The dispatcher without Redis: the sender each receiver gets, its options, and building it.

The stages' pure parts (claim keys, digest chunks, retry backoff) are tested in tests/unit/delivery/stages/.

What it does with Redis (claims, queues, groups, retries, parking) is driven end to end against a real Redis
and a fake Slack in tests/integration/test_delivery.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from signal_monitor.config.settings import Settings
from signal_monitor.delivery.console import ConsoleSender
from signal_monitor.delivery.dispatcher import DeliveryOptions, Dispatcher, SlackDefaults, build_sender
from signal_monitor.delivery.routing import Receiver, RouteFileError, parse_routes
from signal_monitor.delivery.slack import BotSender, Sender, WebhookSender


# --- which sender a receiver gets ----------------------------------------------------------------

HOOK = "https://hooks.slack.com/services/T0DESK001/B0ALERTS1/hookS3cretValue0123456789"
TOKEN = "xoxb-4242-4343-t0kenS3cretValue"
OPTIONS = DeliveryOptions(slack_pace_s=1.5, slack_timeout_s=3.0)
ROUTES = """\
receivers:
  - {name: desk, type: auto}
  - {name: urgent, type: slack, channel: C0URGENT01, pace: 2s}
  - {name: energy, type: slack, webhook_url_env: ENERGY_HOOK}
route: {receiver: desk}
"""


@pytest.fixture(autouse=True)
def _no_slack_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "ENERGY_HOOK"):
        monkeypatch.delenv(name, raising=False)


def sender_of(receiver: Receiver, **settings: Any) -> Sender:
    return build_sender(receiver, slack=SlackDefaults.from_settings(Settings(**settings)), options=OPTIONS,
                        path="routes.yaml")


def test_a_console_receiver_prints_unpaced_unless_it_says_otherwise() -> None:
    plain = sender_of(Receiver("log", "console"), slack_webhook_url=HOOK)
    assert isinstance(plain, ConsoleSender) and plain.pace == 0.0
    assert sender_of(Receiver("log", "console", pace=0.5)).pace == 0.5


def test_a_receiver_with_a_channel_posts_with_the_bot_token_at_its_own_pace() -> None:
    sender = sender_of(Receiver("urgent", "slack", channel="C0URGENT01", pace=2.0), slack_bot_token=TOKEN)
    assert isinstance(sender, BotSender)
    assert (sender.channel, sender.pace, sender.timeout) == ("C0URGENT01", 2.0, 3.0)
    assert sender_of(Receiver("urgent", "slack", channel="C0URGENT01"), slack_bot_token=TOKEN).pace == 1.5
    with pytest.raises(RouteFileError, match=r"routes.yaml, receiver 'urgent', field 'channel': .*SLACK_BOT_TOKEN"):
        sender_of(Receiver("urgent", "slack", channel="C0URGENT01"), slack_webhook_url=HOOK)


def test_a_receiver_with_its_own_webhook_reads_it_from_the_variable_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver("energy", "slack", webhook_url_env="ENERGY_HOOK")
    with pytest.raises(RouteFileError, match=r"field 'webhook_url_env': the environment variable ENERGY_HOOK is not set"):
        sender_of(receiver, slack_bot_token=TOKEN, slack_channel="C0DESK001")
    monkeypatch.setenv("ENERGY_HOOK", HOOK)
    sender = sender_of(receiver, slack_bot_token=TOKEN, slack_channel="C0DESK001")
    assert isinstance(sender, WebhookSender) and sender.url.get_secret_value() == HOOK
    assert "hookS3cretValue" not in sender.label and "hookS3cretValue" not in repr(sender)


def test_auto_and_slack_receivers_take_slack_from_the_settings_bot_token_first() -> None:
    for kind in ("auto", "slack"):
        both = sender_of(Receiver("desk", kind), slack_bot_token=TOKEN, slack_channel="C0DESK001", slack_webhook_url=HOOK)
        assert isinstance(both, BotSender) and both.channel == "C0DESK001"
        hook = sender_of(Receiver("desk", kind), slack_webhook_url=HOOK, slack_bot_token=TOKEN)  # a token, no channel
        assert isinstance(hook, WebhookSender) and hook.pace == 1.5
    assert isinstance(sender_of(Receiver("desk", "auto")), ConsoleSender)
    with pytest.raises(RouteFileError, match=r"receiver 'desk', field 'type': Slack is not configured"):
        sender_of(Receiver("desk", "slack"))


def test_delivery_options_come_from_the_settings() -> None:
    settings = Settings(
        slack_pace_s=0.5, slack_timeout_s=3.0, slack_api_url="http://127.0.0.1:9/api/", delivery_retry_base_s=2.0,
        delivery_retry_max_s=60.0, delivery_max_attempts=5, delivery_lease_s=12.0, delivery_claim_ttl_days=2,
    )
    assert DeliveryOptions.from_settings(settings) == DeliveryOptions(
        slack_pace_s=0.5, slack_timeout_s=3.0, slack_api_url="http://127.0.0.1:9/api/", retry_base_s=2.0,
        retry_max_s=60.0, max_attempts=5, lease_s=12.0, claim_ttl_s=2 * 86400.0,
    )


# --- a dispatcher, built without talking to Redis ------------------------------------------------


def unconnected() -> aioredis.Redis:
    """A client of a port nothing listens on: building a dispatcher must not need Redis."""
    return aioredis.Redis(host="127.0.0.1", port=1)


async def test_a_dispatcher_has_one_sender_per_receiver_and_names_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGY_HOOK", HOOK)
    settings = Settings(key_prefix="smtest", slack_bot_token=TOKEN, slack_channel="C0DESK001")
    given = ConsoleSender(pace=0.0)
    dispatcher = Dispatcher(unconnected(), routes=parse_routes(ROUTES, "routes.yaml"), prefix="smtest",
                            options=OPTIONS, slack=SlackDefaults.from_settings(settings), senders={"desk": given},
                            worker_id="w1")
    try:
        assert dispatcher.senders["desk"] is given  # a sender handed in is used, not built
        assert isinstance(dispatcher.senders["urgent"], BotSender) and dispatcher.senders["urgent"].pace == 2.0
        assert isinstance(dispatcher.senders["energy"], WebhookSender)
        assert dispatcher.token.startswith("w1:")
        text = repr(dispatcher)
        assert "prefix='smtest'" in text and "urgent=chat.postMessage to C0URGENT01" in text
        assert "hookS3cretValue" not in text and TOKEN not in text
    finally:
        await dispatcher.close()


async def test_the_dispatchers_backoff_takes_its_jitter_from_the_rng_it_was_given() -> None:
    options = DeliveryOptions(retry_base_s=1.0, retry_max_s=10.0)
    routes = parse_routes("receivers: [{name: desk, type: console}]\nroute: {receiver: desk}\n", "routes.yaml")
    for jitter, expected in ((0.0, [0.5, 1.0, 2.0, 4.0, 5.0]), (1.0, [1.0, 2.0, 4.0, 8.0, 10.0])):
        dispatcher = Dispatcher(unconnected(), routes=routes, prefix="smtest", options=options, rng=lambda: jitter)
        assert [dispatcher.backoff(n) for n in range(1, 6)] == expected
        await dispatcher.close()
