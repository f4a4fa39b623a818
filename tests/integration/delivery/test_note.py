"""The week's note through the outbox to the fake Slack (bench/slack_receiver.py) and a real Redis.

One message per note; the same note handed on again is not posted twice; with a bot token a
revised note changes the message posted before (chat.update of its ts), and a webhook posts the
revision anew.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timezone
from typing import Any

import pytest
import redis.asyncio as aioredis

from bench.slack_receiver import SlackReceiver
from signal_monitor.config.settings import Settings
from signal_monitor.delivery import DeliveryOptions, Dispatcher, SlackDefaults, parse_routes
from signal_monitor.notes.compose import Note, compose
from tests.unit.delivery.factory import make_alert

WEEK = date(2025, 6, 6)
NOW = datetime(2025, 6, 6, 21, 30, tzinfo=timezone.utc)
STREAK = "Hedge funds: net buying of $400M in the week ending 2025-06-06, positive for the 5th consecutive week."
VIX = "The VIX closed at 16.77 on 2025-06-06, below 17 for the first time since 2025-02-20."
VIX_CORRECTED = "The VIX closed at 16.81 on 2025-06-06, below 17 for the first time since 2025-02-20."
ROUTES = """
receivers: [{name: desk, type: slack}, {name: notes, type: slack}]
route:
  receiver: desk
  group_wait: 30s
  routes:
    - {name: note, match: {kind: note}, receiver: notes}
"""


def _note(vix_text: str, *, revision: int = 1, vix_revision: int = 1) -> Note:
    alerts = [
        make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, severity="info", text=STREAK),
        make_alert("vix_below_17", {"symbol": "VIX"}, text=vix_text, revision=vix_revision),
    ]
    return compose(WEEK, alerts, rules=None, revision=revision, now=NOW)


@pytest.fixture
def receiver() -> Iterator[SlackReceiver]:
    with SlackReceiver(channel="C0NOTES01") as fake:
        yield fake


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
async def dispatchers(client: aioredis.Redis, key_prefix: str) -> AsyncIterator[list[Dispatcher]]:
    made: list[Dispatcher] = []
    yield made
    for dispatcher in made:
        await dispatcher.close()


def _dispatcher(
    client: aioredis.Redis, prefix: str, receiver: SlackReceiver, made: list[Dispatcher], **slack: Any
) -> Dispatcher:
    options = DeliveryOptions(
        slack_pace_s=0.0, slack_timeout_s=2.0, slack_api_url=receiver.api_url, retry_base_s=0.05, retry_max_s=0.2,
        max_attempts=3, lease_s=1.5, poll_s=0.05,
    )
    dispatcher = Dispatcher(
        client, routes=parse_routes(ROUTES, "test-routes.yaml"), prefix=prefix, options=options,
        slack=SlackDefaults.from_settings(Settings(**slack)),
    )
    made.append(dispatcher)
    return dispatcher


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


async def test_a_note_is_one_bot_message_and_a_revision_updates_it_in_place(
    receiver: SlackReceiver, client: aioredis.Redis, key_prefix: str, dispatchers: list[Dispatcher]
) -> None:
    dispatcher = _dispatcher(
        client, key_prefix, receiver, dispatchers, slack_bot_token=receiver.token("w1"), slack_channel="#notes"
    )
    first = _note(VIX)
    await dispatcher.submit_note(first)
    await dispatcher.submit_note(first)  # handed on again (a close taken over): the same note, not queued twice
    assert await dispatcher.drain(10)

    posts = [r for r in receiver.snapshot() if r.kind == "bot" and r.posted]
    assert len(posts) == 1
    assert len(receiver.channel) == 1
    blocks = receiver.channel[0]["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Positioning note, week ending 2025-06-06"
    assert blocks[-1]["type"] == "context"
    body = _texts(blocks)
    assert STREAK in body and VIX in body
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]  # headline, one section
    assert blocks[2]["text"]["text"].startswith("*Other signals*")
    ts = receiver.channel[0]["ts"]

    revised = _note(VIX_CORRECTED, revision=2, vix_revision=2)
    await dispatcher.submit_note(revised)
    assert await dispatcher.drain(10)

    updates = [r for r in receiver.snapshot() if r.kind == "update"]
    assert len(updates) == 1 and updates[0].posted
    assert len([r for r in receiver.snapshot() if r.kind == "bot" and r.posted]) == 1  # no second post
    assert len(receiver.channel) == 1 and receiver.channel[0]["ts"] == ts
    body = _texts(receiver.channel[0]["blocks"])
    assert VIX_CORRECTED in body and VIX not in body
    assert "revision 2" in receiver.channel[0]["blocks"][0]["text"]["text"]


async def test_a_webhook_posts_a_revised_note_anew(
    receiver: SlackReceiver, client: aioredis.Redis, key_prefix: str, dispatchers: list[Dispatcher]
) -> None:
    dispatcher = _dispatcher(client, key_prefix, receiver, dispatchers, slack_webhook_url=receiver.webhook_url("w2"))
    await dispatcher.submit_note(_note(VIX))
    await dispatcher.submit_note(_note(VIX_CORRECTED, revision=2, vix_revision=2))
    assert await dispatcher.drain(10)
    posts = [r for r in receiver.snapshot() if r.kind == "webhook" and r.posted]
    assert len(posts) == 2
    assert not [r for r in receiver.snapshot() if r.kind == "update"]


async def test_the_note_goes_to_the_route_matching_kind_note_not_into_the_alert_digest(
    receiver: SlackReceiver, client: aioredis.Redis, key_prefix: str, dispatchers: list[Dispatcher]
) -> None:
    dispatcher = _dispatcher(
        client, key_prefix, receiver, dispatchers, slack_bot_token=receiver.token("w3"), slack_channel="#desk"
    )
    await dispatcher.submit_note(_note(VIX))
    queued = await dispatcher.outbox.queued("notes")
    assert [m["kind"] for m in queued] == ["note"]
    assert await dispatcher.outbox.queued("desk") == []
    assert await dispatcher.outbox.group_depth() == 0  # the root's group_wait does not hold a note back
