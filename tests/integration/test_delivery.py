"""Delivery end to end: a real Redis and a fake Slack on a real HTTP server (pytest-httpserver).

The fake speaks Slack's contracts: incoming webhooks (200 "ok", 429 with Retry-After, 5xx, the permanent
errors as status + reason text) and the Web API (chat.postMessage, a reply when it has a ``thread_ts``;
conversations.history with message metadata, newest first, ``limit`` messages a page and a
``response_metadata.next_cursor`` to the next, without the replies in threads, as Slack; and
conversations.replies: a thread's parent and replies, oldest first).
Each test asserts exact delivery counts and order; one measures pacing; three stop a worker
between claiming a message and acking it (SIGKILL of a subprocess, or a cancelled task) and restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from rich.console import Console
from werkzeug import Request, Response

from signal_monitor.config.settings import Settings
from signal_monitor.delivery import DeliveryOptions, Dispatcher, SlackDefaults, parse_routes
from signal_monitor.delivery.dispatcher import STATS_DEFER_S
from signal_monitor.delivery.cli import outbox as outbox_cli
from signal_monitor.delivery.cli import silence as silence_cli
from signal_monitor.delivery.console import ConsoleSender
from signal_monitor.delivery.keys import delivery_base
from signal_monitor.delivery.outbox import Turn
from signal_monitor.delivery.slack import LeaseCheck, Outcome, Sender
from signal_monitor.config.settings import DEFAULT_ROUTES_PATH
from signal_monitor.rules.alert import Alert, provisional_key
from tests.unit.delivery.factory import FRIDAY, make_alert, weekly

REPO = Path(__file__).resolve().parents[2]
HOOK_PATH = "/services/T0DESK001/B0ALERTS1/hookS3cretValue0123456789"
TOKEN = "xoxb-4242-4343-t0kenS3cretValue"
CHANNEL = "C0DESK001"
KEY = re.compile(r"key ([0-9a-f]{16}(?::v\d+)?)")


# --- the fake Slack ------------------------------------------------------------------------------


@dataclass
class Answer:
    """One scripted answer: status, body, headers, a delay, or a hold until released (``arrived`` set first)."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    arrived: threading.Event | None = None
    release: threading.Event | None = None
    api_error: str | None = None  # Web API: {"ok": false, "error": ...} with this status


@dataclass
class Post:
    """A request the fake received, and whether Slack would show the message."""

    at: float
    path: str
    body: dict[str, Any]
    posted: bool

    @property
    def ts(self) -> str:
        """Return the ``ts`` Slack answers a chat.postMessage with."""
        return f"{self.at:.6f}"

    @property
    def thread_ts(self) -> str | None:
        """Return the ``thread_ts`` the message was posted with: a reply in that message's thread."""
        value = self.body.get("thread_ts")
        return str(value) if value else None

    @property
    def keys(self) -> list[str]:
        """Return the dedup keys in the message, in order."""
        parts = [self.body.get("blocks") or []] + [a.get("blocks") or [] for a in self.body.get("attachments") or []]
        return KEY.findall(json.dumps(parts))  # the figures and the key sit in the colour-bar attachment


class FakeSlack:
    """Incoming webhooks under /services/, and /api/chat.postMessage + /api/conversations.history."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.requests: list[Post] = []
        self.scripts: dict[str, deque[Answer]] = {}
        self.others: list[tuple[float, str]] = []  # (ts, text) of messages other apps and people posted
        server.expect_request(re.compile(r"^/services/.*"), method="POST").respond_with_handler(self._webhook)
        server.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(self._post_message)
        server.expect_request("/api/conversations.history").respond_with_handler(self._history)
        server.expect_request("/api/conversations.replies").respond_with_handler(self._replies)

    def url(self, path: str = HOOK_PATH) -> str:
        """Return the URL of ``path`` on the fake."""
        return self.server.url_for(path)

    def script(self, path: str, *answers: Answer) -> None:
        """Queue answers for ``path`` (then 200 ok)."""
        self.scripts.setdefault(path, deque()).extend(answers)

    def chatter(self, n: int) -> None:
        """Post ``n`` messages of other apps and people in the channel now (in its history, not ``posted``)."""
        now = time.time()
        with self.lock:
            self.others.extend((now + i * 1e-5, f"chatter {i}") for i in range(n))

    def posted(self, path: str | None = None) -> list[Post]:
        """Return the messages Slack would show (of one path), in arrival order."""
        with self.lock:
            return [p for p in self.requests if p.posted and (path is None or p.path == path)]

    def received(self, path: str | None = None) -> list[Post]:
        """Return every request received (of one path)."""
        with self.lock:
            return [p for p in self.requests if path is None or p.path == path]

    def posted_keys(self, path: str | None = None) -> list[str]:
        """Return the dedup keys of every shown message, in order."""
        return [k for p in self.posted(path) for k in p.keys]

    def _answer(self, request: Request) -> tuple[Answer, Post]:
        at = time.time()
        with self.lock:
            queue = self.scripts.get(request.path)
            answer = queue.popleft() if queue else Answer()
        if answer.arrived is not None:
            answer.arrived.set()
        if answer.release is not None:
            answer.release.wait(20)
        if answer.delay:
            time.sleep(answer.delay)
        body = json.loads(request.get_data(as_text=True) or "{}")
        ok = answer.status == 200 and (
            answer.body == "ok" if request.path.startswith("/services/") else not answer.api_error
        )
        post = Post(at, request.path, body, ok)
        with self.lock:
            self.requests.append(post)
        return answer, post

    def _webhook(self, request: Request) -> Response:
        answer, _ = self._answer(request)
        return Response(answer.body, status=answer.status, headers=answer.headers, content_type="text/plain")

    def _post_message(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response(json.dumps({"ok": False, "error": "invalid_auth"}), content_type="application/json")
        answer, post = self._answer(request)
        if answer.api_error:
            data: dict[str, Any] = {"ok": False, "error": answer.api_error}
        elif answer.status == 200:
            data = {"ok": True, "channel": CHANNEL, "ts": post.ts}
        else:
            data = {"ok": False, "error": "internal_error"}
        return Response(json.dumps(data), status=answer.status, headers=answer.headers, content_type="application/json")

    def _history(self, request: Request) -> Response:
        oldest = float(request.args.get("oldest", "0"))
        channel = request.args.get("channel") or request.form.get("channel")
        limit = min(max(int(request.args.get("limit", "100")), 1), 999)  # Slack's default and most
        start = int(request.args.get("cursor") or "0")
        with self.lock:
            shown = [p for p in self.requests if p.posted and p.path == "/api/chat.postMessage" and p.at >= oldest]
            others = [(at, text) for at, text in self.others if at >= oldest]
        messages = [
            {"ts": p.ts, "text": p.body.get("text", ""), "metadata": p.body.get("metadata")}
            for p in shown
            if p.body.get("channel") in (channel, CHANNEL) and (p.thread_ts is None or p.body.get("reply_broadcast"))
        ] + [{"ts": f"{at:.6f}", "text": text} for at, text in others]
        messages.sort(key=lambda m: float(m["ts"]), reverse=True)
        return self._page(messages, start, limit)

    def _replies(self, request: Request) -> Response:
        thread = request.args.get("ts", "")
        limit = min(max(int(request.args.get("limit", "100")), 1), 999)
        start = int(request.args.get("cursor") or "0")
        with self.lock:
            shown = [p for p in self.requests if p.posted and p.path == "/api/chat.postMessage"]
        messages = [
            {"ts": p.ts, "thread_ts": thread, "text": p.body.get("text", ""), "metadata": p.body.get("metadata")}
            for p in shown
            if p.ts == thread or p.thread_ts == thread
        ]
        if not any(m["ts"] == thread for m in messages):
            return Response(json.dumps({"ok": False, "error": "thread_not_found"}), content_type="application/json")
        return self._page(sorted(messages, key=lambda m: float(m["ts"])), start, limit)

    @staticmethod
    def _page(messages: list[dict[str, Any]], start: int, limit: int) -> Response:
        page, more = messages[start : start + limit], start + limit < len(messages)
        data = {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
        return Response(json.dumps(data), content_type="application/json")


@pytest.fixture(scope="module")
def slack_server() -> Iterator[HTTPServer]:
    """One HTTP server for the module (one thread: a slow answer holds the next request, as the tests expect)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_slack(slack_server: HTTPServer) -> Iterator[FakeSlack]:
    """A fresh fake Slack on the module's server."""
    slack_server.clear()
    yield FakeSlack(slack_server)
    slack_server.clear()


# --- dispatchers ---------------------------------------------------------------------------------

CONSOLE_ROUTES = "receivers: [{name: desk, type: auto}]\nroute: {receiver: desk}\n"
SLACK_ROUTES = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk}\n"


def fast_options(fake: FakeSlack | None = None, **overrides: Any) -> DeliveryOptions:
    """Delivery options for tests: short pacing, timeouts, backoff and lease."""
    values: dict[str, Any] = {
        "slack_pace_s": 0.02,
        "slack_timeout_s": 2.0,
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "max_attempts": 4,
        "lease_s": 1.5,
        "poll_s": 0.05,
        "stats_s": 0.0,  # every tick refreshes the stats (the tests count ticks by them)
    }
    if fake is not None:
        values["slack_api_url"] = fake.url("/api/")
    values.update(overrides)
    return DeliveryOptions(**values)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async client of the shared Redis (keys only under the test's key_prefix)."""
    connection = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


Make = Callable[..., Dispatcher]


@pytest.fixture
async def make(client: aioredis.Redis, key_prefix: str) -> AsyncIterator[Make]:
    """Build dispatchers on the test's key prefix; all are closed at the end."""
    made: list[Dispatcher] = []

    def build(
        routes: str = SLACK_ROUTES,
        *,
        webhook: str | None = None,
        token: str | None = None,
        channel: str = "",
        options: DeliveryOptions | None = None,
        **kwargs: Any,
    ) -> Dispatcher:
        settings = Settings(slack_webhook_url=webhook, slack_bot_token=token, slack_channel=channel)
        dispatcher = Dispatcher(
            client,
            routes=parse_routes(routes, "test-routes.yaml"),
            prefix=key_prefix,
            options=options or fast_options(),
            slack=SlackDefaults.from_settings(settings),
            **kwargs,
        )
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        await dispatcher.close()


def keys(alerts: Sequence[Alert]) -> list[str]:
    """Return the dedup keys of ``alerts``."""
    return [a.dedup_key for a in alerts]


# --- delivery ------------------------------------------------------------------------------------


async def test_each_alert_is_posted_once_in_order(fake_slack: FakeSlack, make: Make) -> None:
    dispatcher = make(webhook=fake_slack.url())
    alerts = weekly("hf_net_buying_streak", 5)
    await dispatcher.submit(alerts)
    assert (await dispatcher.outbox.depths()) == {"desk": 5}  # durable before the first attempt
    assert fake_slack.received() == []
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys(HOOK_PATH) == keys(alerts)
    assert len(fake_slack.received()) == 5
    stats = await dispatcher.refresh_stats()
    assert (stats["sent"], stats["pending"], stats["parked"]) == (5, 0, 0)
    assert stats["last_sent"]["rule"] == "hf_net_buying_streak"


async def test_a_replay_and_a_second_worker_post_nothing_twice(fake_slack: FakeSlack, make: Make) -> None:
    first, second = make(webhook=fake_slack.url()), make(webhook=fake_slack.url())
    alerts = weekly("sector_net_buying_high", 4)
    await asyncio.gather(first.submit(alerts), second.submit(alerts))
    await first.submit(alerts)  # a batch replayed after a crash
    results = await asyncio.gather(first.drain(timeout=10), second.drain(timeout=10))
    assert results == [True, True]
    assert fake_slack.posted_keys() == keys(alerts)
    assert len(fake_slack.received()) == 4
    counts = await first.outbox.counts()
    assert counts["deduplicated"] == 8 and counts["enqueued"] == 4


async def test_429_waits_the_retry_after_it_gives(fake_slack: FakeSlack, make: Make) -> None:
    fake_slack.script(HOOK_PATH, Answer(429, "rate_limited", {"Retry-After": "1"}))
    dispatcher = make(webhook=fake_slack.url())
    alerts = weekly("vix_below_17", 2)
    await dispatcher.submit(alerts)
    assert await dispatcher.drain(timeout=10)
    received = fake_slack.received()
    assert len(received) == 3
    assert received[1].at - received[0].at >= 0.95
    assert fake_slack.posted_keys() == keys(alerts)
    counts = await dispatcher.outbox.counts()
    assert counts["rate_limited"] == 1 and "retried" not in counts


async def test_5xx_is_retried_with_backoff_until_ok(
    fake_slack: FakeSlack, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.script(HOOK_PATH, Answer(500, "oops"), Answer(503, "busy"))
    dispatcher = make(webhook=fake_slack.url())
    alert = make_alert()
    with caplog.at_level(logging.WARNING, logger="signal_monitor.delivery"):
        await dispatcher.submit([alert])
        assert await dispatcher.drain(timeout=10)
    assert [p.keys for p in fake_slack.received()] == [[alert.dedup_key]] * 3
    assert fake_slack.posted_keys() == [alert.dedup_key]
    assert (await dispatcher.outbox.counts())["retried"] == 2
    assert "attempt 1 of 4" in caplog.text and "(3 left)" in caplog.text


@pytest.mark.parametrize(
    ("status", "reason", "fix"),
    [
        (400, "invalid_payload", "malformed"),
        (403, "action_prohibited", "admin"),
        (403, "invalid_token", "SLACK_WEBHOOK_URL"),
        (404, "channel_not_found", "/invite"),
        (404, "no_service", "create a new one"),
        (410, "channel_is_archived", "unarchive"),
    ],
)
async def test_permanent_errors_are_parked_once_and_the_queue_goes_on(
    fake_slack: FakeSlack, make: Make, caplog: pytest.LogCaptureFixture, status: int, reason: str, fix: str
) -> None:
    fake_slack.script(HOOK_PATH, Answer(status, reason))
    dispatcher = make(webhook=fake_slack.url())
    refused, after = weekly("sector_breadth", 2)
    with caplog.at_level(logging.ERROR, logger="signal_monitor.delivery"):
        await dispatcher.submit([refused, after])
        assert await dispatcher.drain(timeout=10)
    assert [p.keys for p in fake_slack.received()] == [[refused.dedup_key], [after.dedup_key]]
    assert fake_slack.posted_keys() == [after.dedup_key]
    (parked,) = await dispatcher.outbox.parked()
    assert (parked.reason, parked.status) == (reason, status)
    assert parked.message["alerts"][0]["dedup_key"] == refused.dedup_key
    stats = await dispatcher.refresh_stats()
    assert stats["parked"] == 1 and stats["parked_by_reason"] == {reason: 1} and stats["sent"] == 1
    line = next(r.getMessage() for r in caplog.records if "parked" in r.getMessage())
    assert reason in line and fix in line and "outbox requeue" in line


async def test_parked_message_is_delivered_after_requeue(fake_slack: FakeSlack, make: Make) -> None:
    fake_slack.script(HOOK_PATH, Answer(404, "channel_not_found"))
    dispatcher = make(webhook=fake_slack.url())
    alert = make_alert()
    await dispatcher.submit([alert])
    assert await dispatcher.drain(timeout=10)
    (parked,) = await dispatcher.outbox.parked()
    assert await dispatcher.outbox.requeue(parked.id)
    assert not await dispatcher.outbox.requeue(parked.id)
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == [alert.dedup_key]
    assert await dispatcher.outbox.parked() == []


async def test_slow_answer_within_the_timeout_is_one_post(fake_slack: FakeSlack, make: Make) -> None:
    fake_slack.script(HOOK_PATH, Answer(delay=0.8))
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(slack_timeout_s=3.0))
    alert = make_alert()
    await dispatcher.submit([alert])
    assert await dispatcher.drain(timeout=10)
    assert len(fake_slack.received()) == 1 and fake_slack.posted_keys() == [alert.dedup_key]


async def test_bot_answer_after_the_timeout_is_confirmed_not_reposted(fake_slack: FakeSlack, make: Make) -> None:
    fake_slack.script("/api/chat.postMessage", Answer(delay=1.6))
    dispatcher = make(token=TOKEN, channel=CHANNEL, options=fast_options(fake_slack, slack_timeout_s=1.0))
    first, second = weekly("crowding_spread", 2)
    await dispatcher.submit([first, second])
    assert await dispatcher.drain(timeout=15)
    assert [p.keys for p in fake_slack.received("/api/chat.postMessage")] == [[first.dedup_key], [second.dedup_key]]
    assert fake_slack.posted_keys() == keys([first, second])
    counts = await dispatcher.outbox.counts()
    assert counts["confirmed"] == 1 and counts["sent"] == 2


async def test_bot_post_confirmed_on_the_second_page_of_history_is_not_reposted(
    fake_slack: FakeSlack, make: Make
) -> None:
    # Slack takes the post but answers after the timeout; meanwhile 250 messages land in the channel, so
    # the post is on the second page of conversations.history (200 a page), newest first.
    # The timeout leaves the history reads (two pages, 250 messages) room on a loaded machine.
    arrived = threading.Event()
    fake_slack.script("/api/chat.postMessage", Answer(delay=2.6, arrived=arrived))
    dispatcher = make(token=TOKEN, channel=CHANNEL, options=fast_options(fake_slack, slack_timeout_s=2.0))
    alert = make_alert()
    await dispatcher.submit([alert])
    draining = asyncio.create_task(dispatcher.drain(timeout=15))
    await _wait_for(arrived.is_set, 10, "the post")
    fake_slack.chatter(250)
    assert await draining
    assert len(fake_slack.received("/api/chat.postMessage")) == 1
    assert fake_slack.posted_keys() == [alert.dedup_key]
    counts = await dispatcher.outbox.counts()
    assert counts["confirmed"] == 1 and counts["sent"] == 1
    pages = [p for p in fake_slack.server.log if p[0].path == "/api/conversations.history"]
    assert [r.args.get("cursor") for r, _ in pages] == [None, "200"]
    assert len({r.args.get("oldest") for r, _ in pages}) == 1  # each page of the same time window


async def test_a_bot_whose_lease_is_lost_before_sending_posts_nothing(fake_slack: FakeSlack, make: Make) -> None:
    # The lease runs out between recording the attempt and posting (a pause of the worker), and another
    # worker takes the destination over: the first must not post (its check after so long a pause asks
    # Redis); the new holder sends the message, once.
    options = fast_options(fake_slack)
    paused = make(token=TOKEN, channel=CHANNEL, options=options, worker_id="paused")
    alert = make_alert()
    await paused.submit([alert])
    lease_key = paused.outbox.key("lease", "desk")
    begin = paused.outbox.begin

    async def begin_then_lose_the_lease(*args: Any, **kwargs: Any) -> bool:
        started = await begin(*args, **kwargs)
        await asyncio.sleep(options.lease_s + 0.1)  # the pause: the lease runs out
        assert await paused.outbox.client.set(lease_key, "another-worker:0", px=60_000, nx=True)
        return started

    paused.outbox.begin = begin_then_lose_the_lease  # type: ignore[method-assign]
    assert await paused.drain(timeout=3) is False  # its queue is still there: the other worker holds it
    assert fake_slack.received("/api/chat.postMessage") == []
    assert await paused.outbox.depths() == {"desk": 1}
    await paused.outbox.client.delete(lease_key)  # the other worker's lease; it is the holder that sends
    holder = make(token=TOKEN, channel=CHANNEL, options=options, worker_id="holder")
    assert await holder.drain(timeout=10)
    assert fake_slack.posted_keys() == [alert.dedup_key]
    assert len(fake_slack.received("/api/chat.postMessage")) == 1


async def test_a_post_right_after_its_attempt_renewed_the_lease_asks_redis_for_no_other_renewal(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = make(token=TOKEN, channel=CHANNEL, options=fast_options(fake_slack))
    lease, renewals = dispatcher.outbox.lease, []

    async def counted_lease(*args: Any, **kwargs: Any) -> bool:
        renewals.append(args)
        return await lease(*args, **kwargs)

    monkeypatch.setattr(dispatcher.outbox, "lease", counted_lease)
    alert = make_alert()
    await dispatcher.submit([alert])
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == [alert.dedup_key]
    assert renewals == []  # the turn took the lease, the attempt's begin renewed it: the post went out on that


async def test_webhook_answer_after_the_timeout_is_resent_with_a_warning(
    fake_slack: FakeSlack, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    # An incoming webhook cannot be asked whether it posted: at-least-once, said in the log.
    fake_slack.script(HOOK_PATH, Answer(delay=1.6))
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(slack_timeout_s=1.0))
    alert = make_alert()
    with caplog.at_level(logging.WARNING, logger="signal_monitor.delivery"):
        await dispatcher.submit([alert])
        assert await dispatcher.drain(timeout=15)
    assert len(fake_slack.received()) == 2
    assert "got no answer; sending it again" in caplog.text
    assert (await dispatcher.outbox.counts())["sent"] == 1


async def test_connection_refused_is_retried_then_parked_not_lost(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dispatcher = make(webhook=f"http://127.0.0.1:{port}{HOOK_PATH}", options=fast_options(max_attempts=3))
    alert = make_alert()
    with caplog.at_level(logging.WARNING, logger="signal_monitor.delivery"):
        await dispatcher.submit([alert])
        assert await dispatcher.drain(timeout=10)
    (parked,) = await dispatcher.outbox.parked()
    assert parked.reason == "retries_exhausted" and "connection_refused" in parked.detail
    assert parked.message["alerts"][0]["dedup_key"] == alert.dedup_key
    assert (await dispatcher.outbox.counts())["retried"] == 2
    assert "attempt 2 of 3" in caplog.text and "retries_exhausted" in caplog.text


async def test_pacing_spaces_each_channel_and_keeps_channels_independent(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "/services/T0DESK001/B0URGENT1/otherS3cretValue"
    monkeypatch.setenv("SM_TEST_URGENT_HOOK", fake_slack.url(other))
    routes = """
receivers:
  - {name: desk, type: slack}
  - {name: urgent, type: slack, webhook_url_env: SM_TEST_URGENT_HOOK}
route:
  receiver: desk
  routes: [{match: {severity: critical}, receiver: urgent}]
"""
    dispatcher = make(routes, webhook=fake_slack.url(), options=fast_options(slack_pace_s=1.0))
    desk = weekly("hf_flow_mix", 3, severity="info")
    urgent = weekly("gross_leverage_record", 3, severity="critical")
    await dispatcher.submit(desk + urgent)
    assert await dispatcher.drain(timeout=15)
    for path, alerts in ((HOOK_PATH, desk), (other, urgent)):
        assert fake_slack.posted_keys(path) == keys(alerts)
        times = [p.at for p in fake_slack.posted(path)]
        assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times
    # the two channels run side by side: neither waited for the other
    assert abs(fake_slack.posted(HOOK_PATH)[0].at - fake_slack.posted(other)[0].at) < 0.5


# --- the run loop wakes on submit -----------------------------------------------------------------

# Both would hang (and time out) if run() waited for its poll: it is set to an hour here.
NEVER_POLL = 3600.0


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``dispatcher.run()`` past its first look at the outbox; cancel it on exit."""
    task = asyncio.create_task(dispatcher.run())
    try:
        await _wait_for(lambda: bool(dispatcher.stats()) or task.done(), 10, "the first tick of run()")
        assert not task.done(), task
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_run_sends_a_submitted_alert_at_once_to_an_idle_channel(fake_slack: FakeSlack, make: Make) -> None:
    # neither the poll nor the pacing holds the first message of a channel that has been quiet
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL, slack_pace_s=NEVER_POLL))
    first, second = weekly("vix_below_17", 2, scope={"symbol": "VIX"})
    async with running(dispatcher):
        await dispatcher.submit([first])
        await _wait_for(lambda: fake_slack.posted_keys() == [first.dedup_key], 10, "the first alert")
    # a new worker on the same outbox: the channel is no longer idle, so its pace holds the next message
    later = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL, slack_pace_s=NEVER_POLL))
    async with running(later):
        await later.submit([second])
        await _wait_for(lambda: bool(later.stats().get("pending")), 10, "the second alert queued")
        assert await later.outbox.depths() == {"desk": 1}
    assert fake_slack.posted_keys() == [first.dedup_key]


async def test_run_wakes_for_each_submit_after_its_queue_went_empty(fake_slack: FakeSlack, make: Make) -> None:
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL))
    alerts = weekly("hf_net_buying_streak", 3)
    async with running(dispatcher):
        for n, alert in enumerate(alerts, 1):
            await dispatcher.submit([alert])
            await _wait_for(lambda n=n: len(fake_slack.posted_keys()) == n, 10, f"alert {n}")
    assert fake_slack.posted_keys() == keys(alerts)


async def test_a_submit_starts_its_channel_loop_itself_without_waiting_for_a_tick(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # once run() is up, its ticks cannot list the destinations any more: only submit can start the loop
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL))
    alert = weekly("vix_below_17", 1, scope={"symbol": "VIX"})[0]
    stuck = asyncio.Event()

    async def never_listed() -> list[str]:
        await stuck.wait()
        return []

    async with running(dispatcher):
        monkeypatch.setattr(dispatcher.outbox, "destinations", never_listed)
        await dispatcher.submit([alert])
        await _wait_for(lambda: fake_slack.posted_keys() == [alert.dedup_key], 10, "the alert")
        stuck.set()


async def test_the_first_alert_of_a_submit_goes_out_while_the_others_are_admitted(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL))
    alerts = weekly("hf_net_buying_streak", 3)
    admit, admitted, posted_meanwhile = dispatcher.outbox.admit, 0, []

    async def admit_after_the_first_post(**kwargs: Any) -> str:
        nonlocal admitted
        admitted += 1
        if admitted == 2:  # the second waits (up to 5 s) for the first to reach Slack
            deadline = time.monotonic() + 5
            while not fake_slack.posted_keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            posted_meanwhile.append(len(fake_slack.posted_keys()))
        return await admit(**kwargs)

    monkeypatch.setattr(dispatcher.outbox, "admit", admit_after_the_first_post)
    async with running(dispatcher):
        await dispatcher.submit(alerts)
        await _wait_for(lambda: len(fake_slack.posted_keys()) == 3, 10, "all three")
    assert posted_meanwhile == [1]
    assert fake_slack.posted_keys() == keys(alerts)


async def test_a_tick_woken_by_a_submit_leaves_the_stats_to_a_later_tick(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL))
    alert = weekly("vix_below_17", 1, scope={"symbol": "VIX"})[0]
    refresh = dispatcher.refresh_stats
    refreshes: list[float] = []

    async def timed_refresh() -> dict[str, Any]:
        refreshes.append(time.monotonic())
        return await refresh()

    monkeypatch.setattr(dispatcher, "refresh_stats", timed_refresh)
    async with running(dispatcher):
        await _wait_for(lambda: len(refreshes) == 1, 10, "the first tick's stats")
        submitted = time.monotonic()
        await dispatcher.submit([alert])
        await _wait_for(lambda: len(refreshes) == 2, 10, "the stats after the submit")
        await _wait_for(lambda: fake_slack.posted_keys() == [alert.dedup_key], 10, "the alert")
    assert refreshes[1] - submitted >= STATS_DEFER_S


async def test_the_stats_are_refreshed_every_stats_s_not_at_every_poll(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=0.02, stats_s=0.5))
    ticks, refresh, tick = 0, dispatcher.refresh_stats, dispatcher._tick
    refreshes: list[float] = []

    async def counted_tick(**kwargs: Any) -> bool:
        nonlocal ticks
        ticks += 1
        return await tick(**kwargs)

    async def timed_refresh() -> dict[str, Any]:
        refreshes.append(time.monotonic())
        return await refresh()

    monkeypatch.setattr(dispatcher, "_tick", counted_tick)
    monkeypatch.setattr(dispatcher, "refresh_stats", timed_refresh)
    async with running(dispatcher):
        await _wait_for(lambda: len(refreshes) == 3, 10, "three snapshots")
    assert ticks >= 3 * len(refreshes)  # a poll every 0.02 s, a snapshot every 0.5 s
    assert all(later - earlier >= 0.5 for earlier, later in itertools.pairwise(refreshes))


async def test_an_alert_queued_while_the_channel_loop_ends_is_not_left_to_the_poll(
    fake_slack: FakeSlack, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The channel's loop finds its queue empty; before it ends, an alert is queued and run() is woken, looks,
    # and sees the loop still running. The loop's end must wake run() once more.
    dispatcher = make(webhook=fake_slack.url(), options=fast_options(poll_s=NEVER_POLL))
    first, late = weekly("sector_net_buying_high", 2)
    turn, refresh = dispatcher.outbox.turn, dispatcher.refresh_stats
    ticks = 0

    async def counted_refresh() -> dict[str, Any]:
        nonlocal ticks
        ticks += 1
        return await refresh()

    async def turn_then_submit(dest: str, token: str, ttl_s: float) -> Turn:
        found = await turn(dest, token, ttl_s)
        if found.ident is None and late.dedup_key not in fake_slack.posted_keys():
            seen = ticks
            await dispatcher.submit([late])
            await _wait_for(lambda: ticks > seen, 10, "run() to look while the channel loop still runs")
        return found

    monkeypatch.setattr(dispatcher, "refresh_stats", counted_refresh)
    monkeypatch.setattr(dispatcher.outbox, "turn", turn_then_submit)
    async with running(dispatcher):
        await dispatcher.submit([first])
        await _wait_for(lambda: fake_slack.posted_keys() == keys([first, late]), 10, "both alerts")
    assert len(fake_slack.received()) == 2


# --- a worker stopped between claim and ack ---------------------------------------------------------

WORKER = """
import asyncio, json, sys
import redis.asyncio as aioredis
from signal_monitor.config.settings import Settings
from signal_monitor.delivery import DeliveryOptions, Dispatcher, SlackDefaults, parse_routes

async def main() -> None:
    cfg = json.loads(sys.argv[1])
    client = aioredis.Redis.from_url(cfg["redis_url"], decode_responses=True)
    settings = Settings(slack_webhook_url=cfg.get("webhook"), slack_bot_token=cfg.get("token"),
                        slack_channel=cfg.get("channel", ""))
    dispatcher = Dispatcher(client, routes=parse_routes(cfg["routes"]), prefix=cfg["prefix"],
                            options=DeliveryOptions(**cfg["options"]), slack=SlackDefaults.from_settings(settings))
    print("draining", flush=True)
    await dispatcher.drain(timeout=30)
    print("drained", flush=True)

asyncio.run(main())
"""


def _spawn(tmp_path: Path, config: dict[str, Any]) -> subprocess.Popen[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(config)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _options_dict(options: DeliveryOptions) -> dict[str, Any]:
    return {k: getattr(options, k) for k in DeliveryOptions.__dataclass_fields__}


async def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_bot_worker_killed_while_slack_posts_resumes_without_a_repost(
    fake_slack: FakeSlack, make: Make, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    options = fast_options(fake_slack, slack_pace_s=0.1)
    alerts = weekly("ls_ratio_percentile", 6)
    await make(token=TOKEN, channel=CHANNEL, options=options).submit(alerts)
    arrived, release = threading.Event(), threading.Event()
    # Slack takes the third message, then the worker dies before hearing back.
    fake_slack.script("/api/chat.postMessage", Answer(), Answer(), Answer(arrived=arrived, release=release))
    worker = _spawn(
        tmp_path,
        {
            "redis_url": redis_url,
            "prefix": key_prefix,
            "token": TOKEN,
            "channel": CHANNEL,
            "routes": SLACK_ROUTES,
            "options": _options_dict(options),
        },
    )
    try:
        await _wait_for(arrived.is_set, 20, "the third post")
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    finally:
        release.set()
        if worker.poll() is None:
            worker.kill()
    await _wait_for(lambda: len(fake_slack.posted()) == 3, 5, "the held post to finish")
    restarted = make(token=TOKEN, channel=CHANNEL, options=options)
    assert await restarted.drain(timeout=15)
    assert fake_slack.posted_keys() == keys(alerts)
    assert len(fake_slack.received("/api/chat.postMessage")) == 6
    counts = await restarted.outbox.counts()
    assert counts["confirmed"] == 1 and counts["sent"] == 6
    assert await restarted.outbox.depths() == {}


async def test_webhook_worker_killed_mid_queue_resumes_where_it_stopped(
    fake_slack: FakeSlack, make: Make, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    options = fast_options(slack_pace_s=0.5)
    alerts = weekly("sector_net_buying_streak", 6)
    await make(webhook=fake_slack.url(), options=options).submit(alerts)
    worker = _spawn(
        tmp_path,
        {
            "redis_url": redis_url,
            "prefix": key_prefix,
            "webhook": fake_slack.url(),
            "routes": SLACK_ROUTES,
            "options": _options_dict(options),
        },
    )
    try:
        await _wait_for(lambda: len(fake_slack.posted()) >= 3, 20, "three posts")
        await asyncio.sleep(0.15)  # the third is acked; the worker waits out the pacing
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    sent_before = len(fake_slack.posted())
    assert 3 <= sent_before < 6
    restarted = make(webhook=fake_slack.url(), options=options)
    assert await restarted.drain(timeout=15)
    assert fake_slack.posted_keys() == keys(alerts)
    assert len(fake_slack.received()) == 6


class _HangsOnThird:
    """Wraps a sender: the third send hangs before anything reaches Slack (the worker is then stopped)."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.kind, self.label, self.pace = inner.kind, inner.label, inner.pace
        self.calls = 0
        self.reached = asyncio.Event()

    async def send(
        self,
        alerts: Sequence[Alert],
        *,
        outbox_id: str,
        title: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> Outcome:
        """Hang on the third call; else pass through."""
        self.calls += 1
        if self.calls == 3:
            self.reached.set()
            await asyncio.Event().wait()
        return await self.inner.send(alerts, outbox_id=outbox_id, title=title, lease=lease, thread_ts=thread_ts)

    async def confirm(
        self,
        outbox_id: str,
        since: float,
        *,
        channel_id: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> bool | None:
        """Pass through."""
        return await self.inner.confirm(outbox_id, since, channel_id=channel_id, lease=lease, thread_ts=thread_ts)

    async def close(self) -> None:
        """Pass through."""
        await self.inner.close()


async def test_task_cancelled_between_claim_and_ack_loses_nothing(fake_slack: FakeSlack, make: Make) -> None:
    plain = make(webhook=fake_slack.url())
    hanging = _HangsOnThird(plain.senders["desk"])
    stopping = make(webhook=fake_slack.url(), senders={"desk": hanging})
    alerts = weekly("hf_long_short_flow_ratio", 5)
    await stopping.submit(alerts)
    worker = asyncio.create_task(stopping.run())
    await asyncio.wait_for(hanging.reached.wait(), 10)
    worker.cancel()  # the third message is claimed (in flight), not acked
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    assert fake_slack.posted_keys() == keys(alerts[:2])
    head = await stopping.outbox.head("desk")
    assert head is not None and head[1] is not None
    assert head[1]["alerts"][0]["dedup_key"] == alerts[2].dedup_key
    assert await stopping.outbox.inflight(head[0]) is not None
    assert await plain.drain(timeout=10)
    assert fake_slack.posted_keys() == keys(alerts)
    assert len(fake_slack.received()) == 5


class _SlowAnswer(_HangsOnThird):
    """Wraps a sender: Slack takes each message at once and answers ``delay_s`` later (none hangs)."""

    def __init__(self, inner: Sender, delay_s: float) -> None:
        super().__init__(inner)
        self.delay_s = delay_s
        self.taken = asyncio.Event()

    async def send(
        self,
        alerts: Sequence[Alert],
        *,
        outbox_id: str,
        title: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> Outcome:
        """Post through the wrapped sender, then wait before answering."""
        outcome = await self.inner.send(alerts, outbox_id=outbox_id, title=title, lease=lease, thread_ts=thread_ts)
        self.taken.set()
        await asyncio.sleep(self.delay_s)
        return outcome


async def test_a_stop_lets_the_post_in_flight_finish_so_a_webhook_message_is_not_sent_twice(
    fake_slack: FakeSlack, make: Make
) -> None:
    plain = make(webhook=fake_slack.url())
    slow = _SlowAnswer(plain.senders["desk"], delay_s=0.5)
    stopping = make(webhook=fake_slack.url(), senders={"desk": slow})
    alerts = weekly("hf_long_short_flow_ratio", 3)
    await stopping.submit(alerts)
    worker = asyncio.create_task(stopping.run())
    await asyncio.wait_for(slow.taken.wait(), 10)
    worker.cancel()  # Slack has the first message; its answer is still on the way
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    assert fake_slack.posted_keys() == keys(alerts[:1])
    head = await stopping.outbox.head("desk")
    assert head is not None and head[1] is not None
    assert head[1]["alerts"][0]["dedup_key"] == alerts[1].dedup_key  # the first was settled as sent
    assert await plain.drain(timeout=10)
    assert fake_slack.posted_keys() == keys(alerts)
    assert len(fake_slack.received()) == 3


async def test_run_cancelled_at_any_point_stops_promptly_and_loses_nothing(fake_slack: FakeSlack, make: Make) -> None:
    # Regression: redis-py 8 on Python 3.11 can swallow (or hang on) a cancel that lands inside a command;
    # the dispatcher keeps cancellation out of its Redis steps.
    rng = random.Random(7)
    alerts = weekly("net_leverage_rising_streak", 12)
    submitting = asyncio.create_task(make(webhook=fake_slack.url()).submit(alerts))
    await asyncio.sleep(0)
    submitting.cancel()  # a cancelled submit still stores its whole batch
    with contextlib.suppress(asyncio.CancelledError):
        await submitting
    assert sum((await make(webhook=fake_slack.url()).outbox.depths()).values()) == 12
    for _ in range(15):
        worker = make(webhook=fake_slack.url(), options=fast_options(lease_s=0.3))
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(rng.uniform(0.0, 0.06))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=8)
        assert done, "run() did not stop after a cancel"
    final = make(webhook=fake_slack.url())
    assert await final.drain(timeout=15)
    assert sorted(fake_slack.posted_keys()) == sorted(keys(alerts))
    assert len(set(fake_slack.posted_keys())) == 12


# --- noise control --------------------------------------------------------------------------------


async def test_realert_drops_the_same_rule_and_scope_within_the_interval(fake_slack: FakeSlack, make: Make) -> None:
    clock = FakeClock()
    routes = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk, realert: 1h}\n"
    dispatcher = make(routes, webhook=fake_slack.url(), clock=clock)
    week1, week2, week3 = weekly("vix_below_17", 3, scope={"symbol": "VIX"})
    other_scope = make_alert("vix_below_17", {"symbol": "VIX9D"})
    await dispatcher.submit([week1, other_scope])
    clock.advance(30 * 60)
    await dispatcher.submit([week2])
    clock.advance(31 * 60)
    await dispatcher.submit([week3])
    correction = make_alert("vix_below_17", {"symbol": "VIX"}, period=week3.period_end, revision=2)
    await dispatcher.submit([correction])  # corrections always pass
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == [week1.dedup_key, other_scope.dedup_key, week3.dedup_key, correction.dedup_key]
    assert (await dispatcher.outbox.counts())["realert_suppressed"] == 1


async def test_alerts_within_group_wait_go_out_as_one_digest(fake_slack: FakeSlack, make: Make) -> None:
    clock = FakeClock()
    routes = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk, group_wait: 30s, group_max: 3}\n"
    dispatcher = make(routes, webhook=fake_slack.url(), clock=clock)
    alerts = weekly("sector_net_buying_high", 4)
    await dispatcher.submit(alerts[:2])
    clock.advance(20)
    await dispatcher.submit(alerts[2:])
    assert await dispatcher.flush_groups() == 0  # not due: 20 s of 30
    assert await dispatcher.outbox.group_depth() == 4
    clock.advance(11)
    assert await dispatcher.flush_groups() == 2  # 4 alerts, 3 a message
    assert await dispatcher.drain(timeout=10)
    posts = fake_slack.posted()
    assert [p.keys for p in posts] == [keys(alerts[:3]), keys(alerts[3:])]
    assert posts[0].body["blocks"][0]["text"]["text"].startswith("3 alerts")
    assert posts[1].body["blocks"][0]["text"]["text"].startswith(":large_orange_circle: ")  # the rule's summary
    assert "WARNING" in json.dumps(posts[1].body["attachments"])  # the severity, in the context line


async def test_a_critical_alert_inhibits_warnings_of_its_scope(fake_slack: FakeSlack, make: Make) -> None:
    clock = FakeClock()
    routes = """
receivers: [{name: desk, type: slack}]
route: {receiver: desk, group_wait: 10s}
inhibit: [{source: {severity: critical}, target: {severity: warning}, equal: [scope], for: 1h}]
"""
    dispatcher = make(routes, webhook=fake_slack.url(), clock=clock)
    energy = {"sector": "Energy"}
    early_warning = make_alert("sector_long_buying_high", energy, severity="warning")
    await dispatcher.submit([early_warning])  # buffered in the group
    critical = make_alert("sector_net_buying_high", energy, severity="critical")
    same_batch = make_alert("sector_net_buying_streak", energy, severity="warning")
    other = make_alert("sector_net_buying_streak", {"sector": "Tech"}, severity="warning")
    await dispatcher.submit([same_batch, other, critical])
    clock.advance(11)
    assert await dispatcher.flush_groups() == 1  # the early warning is muted when its digest goes out
    clock.advance(2 * 3600)
    late_warning = make_alert(
        "sector_net_buying_streak", energy, severity="warning", period=critical.period_end.replace(day=13)
    )
    await dispatcher.submit([late_warning])  # the inhibition has ended
    assert await dispatcher.drain(timeout=10)
    assert sorted(fake_slack.posted_keys()) == sorted(keys([critical, other, late_warning]))
    assert (await dispatcher.outbox.counts())["inhibited"] == 2


async def test_silences_mute_until_they_end_or_expire(fake_slack: FakeSlack, make: Make) -> None:
    clock = FakeClock()
    dispatcher = make(webhook=fake_slack.url(), clock=clock)
    silence = await dispatcher.silences.add(
        "vix_below_17", duration=7200, reason="CBOE feed late", scope={"symbol": "VIX"}
    )
    week1, week2, week3 = weekly("vix_below_17", 3, scope={"symbol": "VIX"})
    unrelated = make_alert("vix_below_17", {"symbol": "VIX9D"})
    await dispatcher.submit([week1, unrelated])
    assert (await dispatcher.refresh_stats())["silences_active"] == 1
    clock.advance(7200)
    await dispatcher.submit([week2])  # the silence ended
    second = await dispatcher.silences.add("*", duration=3600, reason="maintenance")
    await dispatcher.submit([week3])
    assert [s.id for s in await dispatcher.silences.active()] == [second.id]
    assert (await dispatcher.silences.expire(second.id)) is not None
    assert await dispatcher.silences.active() == []
    assert await dispatcher.silences.expire("nope") is None
    assert {s.id for s in await dispatcher.silences.all()} == {silence.id, second.id}
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == keys([unrelated, week2])
    assert (await dispatcher.outbox.counts())["silenced"] == 2


async def test_resolved_notices_only_for_alerts_that_were_sent(fake_slack: FakeSlack, make: Make) -> None:
    routes = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk, resolved: true}\n"
    dispatcher = make(routes, webhook=fake_slack.url())
    sent = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"})
    withdrawn = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, revision=2, fired=False, text="")
    never_sent = make_alert("hf_flow_mix", {"fund_type": "hedge_fund"}, revision=2, fired=False, text="")
    provisional = make_alert("hf_flow_mix", {"fund_type": "etf"}, provisional=True)
    await dispatcher.submit([sent, provisional])
    await dispatcher.submit([withdrawn, never_sent])
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == [sent.dedup_key, withdrawn.dedup_key]
    assert fake_slack.posted()[1].body["blocks"][0]["text"]["text"].startswith(":white_check_mark: Withdrawn: ")
    counts = await dispatcher.outbox.counts()
    assert counts["resolved_skipped"] == 1 and counts["provisional_skipped"] == 1

    quiet = make("receivers: [{name: desk, type: slack}]\nroute: {receiver: desk}\n", webhook=fake_slack.url())
    other = make_alert("gross_leverage_record", {"strategy": "macro"})
    await quiet.submit([other])
    await quiet.submit([make_alert("gross_leverage_record", {"strategy": "macro"}, revision=2, fired=False, text="")])
    assert await quiet.drain(timeout=10)
    assert fake_slack.posted_keys()[-1] == other.dedup_key


async def test_provisional_findings_go_to_the_provisional_receiver_and_never_to_slack(
    fake_slack: FakeSlack, make: Make
) -> None:
    """The shipped routes with Slack configured: the desk's Slack gets the final alert only."""
    out = io.StringIO()
    routes = DEFAULT_ROUTES_PATH.read_text(encoding="utf-8") + (
        "inhibit:\n  - {source: {severity: critical}, target: {severity: warning}, equal: [scope]}\n"
    )
    dispatcher = make(routes, webhook=fake_slack.url(), console=Console(file=out, width=300, color_system=None))
    hf = {"fund_type": "hedge_fund"}
    key = provisional_key("hf_net_buying_streak", hf, FRIDAY)
    finding = make_alert("hf_net_buying_streak", hf, severity="critical", provisional=True,
                         text="Hedge funds on track for a 5th consecutive week of net buying.").model_copy(
        update={"dedup_key": key})
    lo_key = provisional_key("fund_type_divergence", {"fund_type": "long_only"}, FRIDAY)
    other = make_alert("fund_type_divergence", {"fund_type": "long_only"}, provisional=True).model_copy(
        update={"dedup_key": lo_key})
    await dispatcher.submit([finding, other])
    # the week's close: the final alert (a warning of the scope the critical finding has) and a withdrawal
    final = make_alert("hf_net_buying_streak", hf, severity="warning").model_copy(update={"supersedes": key})
    withdrawal = other.model_copy(update={"fired": False, "correction": True, "revision": 2,
                                          "dedup_key": f"{lo_key}:v2", "supersedes": lo_key,
                                          "text": "No longer on track: long-only funds sold while hedge funds held."})
    await dispatcher.submit([final, withdrawal])
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == [final.dedup_key]  # not muted by the finding, which is not final
    assert await dispatcher.outbox.claimed("provisional", key)
    assert not await dispatcher.outbox.claimed("desk", key)
    printed = out.getvalue()
    assert "PROVISIONAL CRITICAL hf_net_buying_streak" in printed and "on track for a 5th" in printed
    assert "PROVISIONAL WITHDRAWN fund_type_divergence" in printed and "No longer on track" in printed
    counts = await dispatcher.outbox.counts()
    assert counts.get("provisional_skipped", 0) == 0 and counts.get("inhibited", 0) == 0


WITHDRAWAL = "Withdrawn after late data: Hedge funds net buying streak no longer holds for Hedge funds in the week ending 2025-06-06."


def _sent_and_withdrawn() -> tuple[Alert, Alert]:
    sent = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}).model_copy(
        update={"summary": "Hedge funds net buying streak"}
    )
    withdrawn = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, revision=3, fired=False,
                           text=WITHDRAWAL).model_copy(update={"summary": "Hedge funds net buying streak"})
    return sent, withdrawn


async def test_with_a_bot_token_a_withdrawal_replies_in_the_thread_of_the_first_post(
    fake_slack: FakeSlack, make: Make
) -> None:
    routes = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk, resolved: true}\n"
    dispatcher = make(routes, token=TOKEN, channel=CHANNEL, options=fast_options(fake_slack))
    sent, withdrawn = _sent_and_withdrawn()
    corrected = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, revision=2)
    await dispatcher.submit([sent])
    await dispatcher.submit([corrected])
    assert await dispatcher.drain(timeout=10)
    await dispatcher.submit([withdrawn])
    assert await dispatcher.drain(timeout=10)
    first, correction, reply = fake_slack.posted("/api/chat.postMessage")
    assert first.keys == [sent.dedup_key] and first.thread_ts is None and correction.thread_ts is None
    assert reply.keys == [withdrawn.dedup_key]
    assert reply.thread_ts == first.ts  # under the first post, not under the correction
    assert reply.body["reply_broadcast"] is False
    header, body = (b["text"]["text"] for b in reply.body["blocks"][:2])
    assert header == ":white_check_mark: Withdrawn: Hedge funds net buying streak" and body == WITHDRAWAL
    assert "Withdraws the alert" not in json.dumps(reply.body["blocks"])  # the thread says which


async def test_a_threaded_withdrawal_answered_after_the_timeout_is_found_in_its_thread(
    fake_slack: FakeSlack, make: Make
) -> None:
    routes = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk, resolved: true}\n"
    dispatcher = make(routes, token=TOKEN, channel=CHANNEL, options=fast_options(fake_slack, slack_timeout_s=1.0))
    sent, withdrawn = _sent_and_withdrawn()
    await dispatcher.submit([sent])
    assert await dispatcher.drain(timeout=10)
    fake_slack.script("/api/chat.postMessage", Answer(delay=1.6))
    await dispatcher.submit([withdrawn])
    assert await dispatcher.drain(timeout=15)
    assert [p.keys for p in fake_slack.received("/api/chat.postMessage")] == [[sent.dedup_key], [withdrawn.dedup_key]]
    assert (await dispatcher.outbox.counts())["confirmed"] == 1


async def test_with_a_webhook_a_withdrawal_names_the_alert_it_withdraws(fake_slack: FakeSlack, make: Make) -> None:
    routes = "receivers: [{name: desk, type: slack}]\nroute: {receiver: desk, resolved: true}\n"
    dispatcher = make(routes, webhook=fake_slack.url())
    sent, withdrawn = _sent_and_withdrawn()
    await dispatcher.submit([sent])
    await dispatcher.submit([withdrawn])
    assert await dispatcher.drain(timeout=10)
    _, notice = fake_slack.posted()
    assert "thread_ts" not in notice.body
    texts = [b["text"]["text"] for b in notice.body["blocks"] if b["type"] in ("header", "section")]
    assert texts == [
        ":white_check_mark: Withdrawn: Hedge funds net buying streak",
        WITHDRAWAL,
        "Withdraws the alert *Hedge funds net buying streak* for fund_type=hedge_fund, week 2025-06-02 – 2025-06-06.",
    ]
    assert fake_slack.posted_keys() == [sent.dedup_key, withdrawn.dedup_key]  # one key a message, as the fake reads


async def test_no_slack_configured_prints_to_the_console(make: Make) -> None:
    out = io.StringIO()
    dispatcher = make(CONSOLE_ROUTES, console=Console(file=out, width=200, color_system=None))
    assert isinstance(dispatcher.senders["desk"], ConsoleSender)
    alert = make_alert(
        "vix_below_17",
        {"symbol": "VIX"},
        severity="critical",
        text="VIX closed at 16.77 on 2025-06-06, below 17 for the first time since 2025-02-20.",
    )
    await dispatcher.submit([alert])
    assert await dispatcher.drain(timeout=5)
    printed = out.getvalue()
    assert "CRITICAL vix_below_17 · symbol=VIX · week 2025-06-02–2025-06-06" in printed
    assert "VIX closed at 16.77" in printed and "since 2024-10-25" in printed
    assert (await dispatcher.refresh_stats())["sent"] == 1


def test_slack_receiver_without_slack_settings_is_a_config_error(client: aioredis.Redis, key_prefix: str) -> None:
    from signal_monitor.delivery.routing import RouteFileError

    with pytest.raises(
        RouteFileError, match=r"test-routes.yaml, receiver 'desk', field 'type': Slack is not configured"
    ):
        Dispatcher(client, routes=parse_routes(SLACK_ROUTES, "test-routes.yaml"), prefix=key_prefix)
    channel = "receivers: [{name: desk, type: slack, channel: '#x'}]\nroute: {receiver: desk}\n"
    with pytest.raises(RouteFileError, match="field 'channel': posting to a channel needs a bot token"):
        Dispatcher(client, routes=parse_routes(channel, "test-routes.yaml"), prefix=key_prefix)


# --- secrets --------------------------------------------------------------------------------------


async def test_no_secret_in_logs_reprs_stats_or_parked_records(
    fake_slack: FakeSlack, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = ["hookS3cretValue", "B0ALERTS1", "t0kenS3cretValue", TOKEN]
    routes = """
receivers:
  - {name: desk, type: slack}
  - {name: bot, type: slack, channel: C0DESK001}
route:
  receiver: desk
  routes: [{match: {severity: critical}, receiver: bot}]
"""
    fake_slack.script(
        HOOK_PATH,
        Answer(500, "oops"),
        Answer(429, "rate_limited", {"Retry-After": "0"}),
        Answer(404, "channel_not_found"),
    )
    fake_slack.script("/api/chat.postMessage", Answer(api_error="not_in_channel"))
    with caplog.at_level(logging.DEBUG):
        dispatcher = make(routes, webhook=fake_slack.url(), token=TOKEN, options=fast_options(fake_slack))
        await dispatcher.submit(weekly("sector_breadth", 2) + weekly("vix_below_17", 2, severity="critical"))
        assert await dispatcher.drain(timeout=10)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        refused = make(webhook=f"http://127.0.0.1:{port}{HOOK_PATH}", token=TOKEN, options=fast_options(max_attempts=2))
        await refused.submit([make_alert("refused")])
        assert await refused.drain(timeout=10)
    assert len(fake_slack.posted()) == 2  # one webhook post, one bot post; the rest parked
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]  # the fake server logs its paths
    assert any(r.name == "signal_monitor.delivery" for r in ours)
    texts = [r.getMessage() + (r.exc_text or "") for r in ours]
    texts += [repr(dispatcher), str(dispatcher), repr(refused), json.dumps(await dispatcher.refresh_stats())]
    texts += [repr(s) for s in dispatcher.senders.values()] + [repr(dispatcher.options), repr(dispatcher.routes)]
    texts += [json.dumps(p.__dict__) for p in await dispatcher.outbox.parked() + await refused.outbox.parked()]
    joined = "\n".join(texts)
    for secret in secrets:
        assert secret not in joined
    assert "hooks" not in joined or "***" in joined
    assert "127.0.0.1" in joined and "/services/T…/***" in joined  # the redacted form is what shows


# --- the CLI ------------------------------------------------------------------------------------


def test_silence_cli_add_list_expire(redis_url: str, key_prefix: str) -> None:
    runner = CliRunner()
    env = {"REDIS_URL": redis_url, "SM_KEY_PREFIX": key_prefix, "COLUMNS": "200"}
    added = runner.invoke(
        silence_cli,
        ["add", "--rule", "vix_below_17", "--scope", "symbol=VIX", "--for", "2h", "--reason", "CBOE feed late"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    silence_id = re.search(r"silence (\w{8}):", added.output).group(1)  # type: ignore[union-attr]
    listed = runner.invoke(silence_cli, ["list"], env=env)
    assert listed.exit_code == 0 and silence_id in listed.output and "symbol=VIX" in listed.output
    assert "1 active" in listed.output and "CBOE feed late" in listed.output
    expired = runner.invoke(silence_cli, ["expire", silence_id], env=env)
    assert expired.exit_code == 0 and "ended" in expired.output
    assert "0 active" in runner.invoke(silence_cli, ["list"], env=env).output
    assert silence_id in runner.invoke(silence_cli, ["list", "--all"], env=env).output
    assert runner.invoke(silence_cli, ["expire", "nope"], env=env).exit_code == 1
    bad = runner.invoke(silence_cli, ["add", "--rule", "x", "--for", "soon", "--reason", "r"], env=env)
    assert bad.exit_code == 2 and "not a duration" in bad.output
    bad_scope = runner.invoke(
        silence_cli, ["add", "--rule", "x", "--scope", "VIX", "--for", "1h", "--reason", "r"], env=env
    )
    assert bad_scope.exit_code == 2 and "key=value" in bad_scope.output


def test_outbox_cli_status_parked_requeue(redis_url: str, key_prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        base = f"{delivery_base(key_prefix)}:outbox"
        message = {"id": "m1", "dest": "desk", "alerts": [make_alert().model_dump(mode="json")]}
        client.hset(
            f"{base}:parked",
            "m1",
            json.dumps(
                {"dest": "desk", "reason": "channel_not_found", "detail": "", "status": 404, "parked_at": time.time()}
            ),
        )
        client.hset(f"{base}:parked_msg", "m1", json.dumps(message))
        runner = CliRunner()
        env = {"REDIS_URL": redis_url, "SM_KEY_PREFIX": key_prefix, "COLUMNS": "300"}
        parked = runner.invoke(outbox_cli, ["parked"], env=env)
        assert parked.exit_code == 0 and "channel_not_found" in parked.output and "/invite" in parked.output
        requeued = runner.invoke(outbox_cli, ["requeue", "--all"], env=env)
        assert requeued.exit_code == 0 and "requeued 1" in requeued.output
        assert client.lrange(f"{base}:q:desk", 0, -1) == ["m1"]
        status = runner.invoke(outbox_cli, ["status"], env=env)
        assert status.exit_code == 0 and "desk" in status.output and "requeued=1" in status.output
    finally:
        client.close()


async def test_a_sender_keeps_one_http_session_for_its_posts(fake_slack: FakeSlack) -> None:
    from pydantic import SecretStr

    from signal_monitor.delivery.slack import WebhookSender

    sender = WebhookSender(SecretStr(fake_slack.url()), pace=0)
    alerts = weekly("hf_net_buying_streak", 2)
    first = await sender.send([alerts[0]], outbox_id="o1")
    session = sender._client.session
    second = await sender.send([alerts[1]], outbox_id="o2")
    assert (first.kind, second.kind) == ("ok", "ok")
    assert session is not None and sender._client.session is session  # one session: connections are kept alive
    await sender.close()
    assert session.closed
    assert fake_slack.posted_keys(HOOK_PATH) == keys(alerts)


# --- the layout before the {delivery} hash tag -----------------------------------------------------


async def test_state_under_the_names_before_the_hash_tag_moves_under_it_at_the_next_start(
    fake_slack: FakeSlack, make: Make, client: aioredis.Redis, key_prefix: str
) -> None:
    from signal_monitor.delivery.silences import Silence
    from signal_monitor.delivery.stages.message import new_message

    first, second, third = weekly("hf_net_buying_streak", 3)
    current = make(webhook=fake_slack.url())
    await current.submit([third])  # a worker of this version queued one message under the tag
    # meanwhile a worker of the version before the tag left two queued messages and their claims, a parked
    # message, its lease on the destination, a silence and its counters under the old names
    old, now = f"{key_prefix}:outbox", time.time()
    queued = [new_message("desk", "root", [a.model_dump(mode="json")], now) for a in (first, second)]
    refused = new_message("desk", "root", [make_alert("refused").model_dump(mode="json")], now)
    for message, alert in zip(queued, (first, second), strict=True):
        await client.hset(f"{old}:msg", message["id"], json.dumps(message))
        await client.rpush(f"{old}:q:desk", message["id"])
        await client.set(f"{old}:claim:desk:{alert.dedup_key}", message["id"], px=600_000)
    await client.sadd(f"{old}:dests", "desk")
    await client.set(f"{old}:lease:desk", "old-worker:0", px=600_000)
    record = {"dest": "desk", "reason": "channel_not_found", "detail": "", "status": 404, "parked_at": now}
    await client.hset(f"{old}:parked", refused["id"], json.dumps(record))
    await client.hset(f"{old}:parked_msg", refused["id"], json.dumps(refused))
    await client.hset(f"{old}:stats", mapping={"enqueued": 3, "sent": 5, "parked": 1})
    muted = Silence(id="0ld51lce", rule="vix_below_17", starts_at=now, ends_at=now + 3600, reason="r", created_at=now)
    await client.hset(f"{key_prefix}:silences", muted.id, muted.model_dump_json())

    upgraded = make(webhook=fake_slack.url())
    await upgraded.submit([first, make_alert("vix_below_17", {"symbol": "VIX"})])  # a replay and a silenced alert
    assert await upgraded.outbox.depths() == {"desk": 3}
    assert await upgraded.drain(timeout=10)  # the old lease is not waited for
    assert fake_slack.posted_keys() == keys([first, second, third])  # the older queue first
    assert [p.id for p in await upgraded.outbox.parked()] == [refused["id"]]
    assert [s.id for s in await upgraded.silences.active()] == [muted.id]
    counts = await upgraded.outbox.counts()
    assert (counts["enqueued"], counts["sent"], counts["deduplicated"], counts["silenced"]) == (4, 8, 1, 1)
    left = [k async for k in client.scan_iter(match=f"{key_prefix}:*") if "{delivery}" not in k]
    assert left == []
    assert await upgraded.outbox.requeue(refused["id"])


def test_the_cli_says_when_state_under_the_names_before_the_hash_tag_is_left(redis_url: str, key_prefix: str) -> None:
    import redis

    runner = CliRunner()
    env = {"REDIS_URL": redis_url, "SM_KEY_PREFIX": key_prefix, "COLUMNS": "200"}
    assert "before the {delivery} hash tag" not in runner.invoke(outbox_cli, ["status"], env=env).stderr
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.hset(f"{key_prefix}:outbox:stats", "enqueued", 1)
        status = runner.invoke(outbox_cli, ["status"], env=env)
    finally:
        client.close()
    assert status.exit_code == 0 and "before the {delivery} hash tag" in status.stderr
