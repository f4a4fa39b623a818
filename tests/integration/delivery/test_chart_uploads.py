"""Alerts' charts on Slack, end to end: a real Redis outbox, a fake Slack on a real HTTP server (pytest-httpserver).

With a bot token the chart's PNG is uploaded into the thread of the posted message, the way slack_sdk's
``files_upload_v2`` does it (files.getUploadURLExternal, a POST of the bytes to the URL it gives,
files.completeUploadExternal); a failed upload leaves the message delivered once. An incoming webhook
cannot upload: its message links the chart's page on the dashboard (SM_DASHBOARD_URL).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
import redis.asyncio as aioredis
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from signal_monitor.charts.links import chart_url
from signal_monitor.charts.render import alert_png
from signal_monitor.delivery import DeliveryOptions, Dispatcher, SlackDefaults, parse_routes
from signal_monitor.delivery.slack import BotSender
from signal_monitor.rules.model import load_rules
from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.state.memory import MemoryState
from tests.unit.delivery.factory import FRIDAY, make_alert

TOKEN = "xoxb-4242-4343-t0kenS3cretValue"
CHANNEL = "C0DESK001"
HOOK = "/services/T0DESK001/B0ALERTS1/hookS3cretValue0123456789"
ROUTES = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk}\n"
SCOPE = {"fund_type": "hedge_fund", "sector": "Industrials"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FakeSlack:
    """chat.postMessage, the three steps of an external upload, and an incoming webhook; every request kept."""

    def __init__(self, server: HTTPServer, *, upload_error: str | None = None) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.calls: list[tuple[str, Request, bytes]] = []
        self.upload_error = upload_error
        self.ts = "1749243600.000100"
        for path in ("/api/chat.postMessage", "/api/files.getUploadURLExternal", "/api/files.completeUploadExternal",
                     "/upload/F0CHART01", HOOK):
            server.expect_request(path, method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        raw = request.get_data()
        with self.lock:
            self.calls.append((request.path, request, raw))
        if request.path == HOOK:
            return Response("ok", content_type="text/plain")
        if request.path == "/upload/F0CHART01":
            return Response("OK - 1", content_type="text/plain")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json({"ok": False, "error": "invalid_auth"})
        if request.path == "/api/chat.postMessage":
            return self._json({"ok": True, "channel": CHANNEL, "ts": self.ts})
        if request.path == "/api/files.getUploadURLExternal":
            if self.upload_error:
                return self._json({"ok": False, "error": self.upload_error})
            return self._json({"ok": True, "file_id": "F0CHART01", "upload_url": self.server.url_for("/upload/F0CHART01")})
        return self._json({"ok": True, "files": [{"id": "F0CHART01", "title": "chart"}]})

    @staticmethod
    def _json(data: dict[str, Any]) -> Response:
        return Response(json.dumps(data), content_type="application/json")

    def of(self, path: str) -> list[tuple[Request, bytes]]:
        """Return the requests of one path, in arrival order."""
        with self.lock:
            return [(r, raw) for p, r, raw in self.calls if p == path]


def _form(request: Request) -> dict[str, str]:
    return {k: request.form[k] for k in request.form} or {k: request.args[k] for k in request.args}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
async def charts() -> Any:
    """Charts of the default rules over a known series: Industrials' net buying, the newest week its highest."""
    state = MemoryState()
    weeks = [(FRIDAY - timedelta(weeks=40 - i), 1e8 * (1 + i % 5)) for i in range(40)] + [(FRIDAY, 2.41e9)]
    await state.put_series("net_buying:week|fund_type=hedge_fund|sector=Industrials", weeks)
    return functools.partial(alert_png, state, load_rules(DEFAULT_RULES_PATH))


def _options(server: HTTPServer) -> DeliveryOptions:
    return DeliveryOptions(slack_pace_s=0.0, slack_timeout_s=5.0, retry_base_s=0.05, retry_max_s=0.2, max_attempts=3,
                           lease_s=2.0, poll_s=0.05, slack_api_url=server.url_for("/api/"))


def _dispatcher(client: aioredis.Redis, key_prefix: str, server: HTTPServer, slack: SlackDefaults,
                **kwargs: Any) -> Dispatcher:
    return Dispatcher(client, routes=parse_routes(ROUTES, "routes.yaml"), prefix=key_prefix, options=_options(server),
                      slack=slack, **kwargs)


async def test_a_bot_delivery_uploads_the_chart_into_the_thread_of_its_message(
    httpserver: HTTPServer, client: aioredis.Redis, key_prefix: str, charts: Any
) -> None:
    fake = FakeSlack(httpserver)
    dispatcher = _dispatcher(client, key_prefix, httpserver, SlackDefaults(bot_token=SecretStr(TOKEN), channel=CHANNEL),
                             charts=charts)
    alert = make_alert("sector_net_buying_high", SCOPE)
    await dispatcher.submit([alert])
    assert await dispatcher.drain(timeout=15)
    sender = dispatcher.senders["desk"]
    assert isinstance(sender, BotSender)
    await sender.wait_uploads(timeout=30)
    (post,) = fake.of("/api/chat.postMessage")
    assert alert.dedup_key in post[1].decode()
    (ask,) = fake.of("/api/files.getUploadURLExternal")
    (upload,) = fake.of("/upload/F0CHART01")
    (complete,) = fake.of("/api/files.completeUploadExternal")
    png = upload[1]
    assert png[:8] == PNG_MAGIC and len(png) > 10_000
    asked = _form(ask[0])
    assert asked["filename"] == "sector_net_buying_high-2025-06-06.png" and int(asked["length"]) == len(png)
    done = _form(complete[0])
    assert done["channel_id"] == CHANNEL and done["thread_ts"] == fake.ts
    assert json.loads(done["files"])[0]["id"] == "F0CHART01"
    assert sender.chart_uploads == {"ok": 1}
    order = [path for path, _, _ in fake.calls]
    assert order == ["/api/chat.postMessage", "/api/files.getUploadURLExternal", "/upload/F0CHART01",
                     "/api/files.completeUploadExternal"]  # the message first: the chart follows it
    await dispatcher.close()


async def test_a_failed_upload_leaves_the_message_delivered_once(
    httpserver: HTTPServer, client: aioredis.Redis, key_prefix: str, charts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSlack(httpserver, upload_error="missing_scope")
    dispatcher = _dispatcher(client, key_prefix, httpserver, SlackDefaults(bot_token=SecretStr(TOKEN), channel=CHANNEL),
                             charts=charts)
    alert = make_alert("sector_net_buying_high", SCOPE)
    with caplog.at_level(logging.WARNING, logger="signal_monitor.delivery"):
        await dispatcher.submit([alert])
        assert await dispatcher.drain(timeout=15)
        sender = dispatcher.senders["desk"]
        assert isinstance(sender, BotSender)
        await sender.wait_uploads(timeout=30)
        await dispatcher.submit([alert])  # the same alert again: its dedup key was claimed, nothing is queued
        assert await dispatcher.drain(timeout=15)
    assert len(fake.of("/api/chat.postMessage")) == 1 and fake.of("/api/files.completeUploadExternal") == []
    counts = await dispatcher.outbox.counts()
    assert counts["sent"] == 1 and counts.get("parked", 0) == 0
    assert (await dispatcher.outbox.depths()).get("desk", 0) == 0
    assert sender.chart_uploads == {"failed": 1}
    warned = [r.getMessage() for r in caplog.records if "chart" in r.getMessage()]
    assert any("missing_scope" in m and "files:write" in m for m in warned), warned
    assert not any(TOKEN in r.getMessage() for r in caplog.records)
    await dispatcher.close()


async def test_a_webhook_message_links_the_dashboard_chart(
    httpserver: HTTPServer, client: aioredis.Redis, key_prefix: str
) -> None:
    fake = FakeSlack(httpserver)
    webhook = httpserver.url_for(HOOK)
    alert = make_alert("sector_net_buying_high", SCOPE)
    linked = _dispatcher(client, key_prefix, httpserver,
                         SlackDefaults(webhook_url=SecretStr(webhook), dashboard_url="https://monitor.desk.example/"))
    await linked.submit([alert])
    assert await linked.drain(timeout=15)
    (post,) = fake.of(HOOK)
    body = json.loads(post[1])
    url = chart_url("https://monitor.desk.example", alert)
    assert url == (f"https://monitor.desk.example/charts/{alert.dedup_key}?rule=sector_net_buying_high"
                   f"&period={FRIDAY.isoformat()}&scope=fund_type%3Dhedge_fund%7Csector%3DIndustrials")
    context = [e["text"] for a in body["attachments"] for b in a["blocks"] if b["type"] == "context"
               for e in b["elements"]]
    assert context[1] == f"<{url.replace('&', '&amp;')}|chart>"  # after the rule's line, before how to silence
    assert fake.of("/api/files.getUploadURLExternal") == []
    await linked.close()


async def test_without_a_dashboard_url_a_webhook_message_has_no_chart_link(
    httpserver: HTTPServer, client: aioredis.Redis, key_prefix: str
) -> None:
    fake = FakeSlack(httpserver)
    dispatcher = _dispatcher(client, key_prefix, httpserver, SlackDefaults(webhook_url=SecretStr(httpserver.url_for(HOOK))))
    await dispatcher.submit([make_alert("sector_net_buying_high", SCOPE, period=FRIDAY + timedelta(weeks=1))])
    assert await dispatcher.drain(timeout=15)
    (post,) = fake.of(HOOK)
    assert "/charts/" not in post[1].decode() and "|chart>" not in post[1].decode()
    await dispatcher.close()
