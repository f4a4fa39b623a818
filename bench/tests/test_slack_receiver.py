"""The fake Slack shared by the benchmark and the fault campaign: webhooks, the Web API, faults, and the latency queue."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from bench.slack_receiver import SlackReceiver

BLOCKS = {"text": "alert", "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "key 0123456789abcdef"}]}]}


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def receiver() -> Any:
    with SlackReceiver(team="TTEST", secret="s3cret", token_prefix="xoxb-test-", channel="C0TEST") as r:
        yield r


def test_a_webhook_post_is_posted_and_names_its_worker(receiver: SlackReceiver) -> None:
    assert receiver.webhook_url("w1").endswith("/services/TTEST/Bw1/s3cret")
    assert post(receiver.webhook_url("w1"), BLOCKS) == (200, b"ok")
    (request,) = receiver.snapshot()
    assert (request.kind, request.worker, request.status, request.posted) == ("webhook", "w1", 200, True)
    assert [k for k, _ in receiver.posted_keys("webhook")] == ["0123456789abcdef"]


def test_an_unknown_webhook_path_is_404_and_not_recorded(receiver: SlackReceiver) -> None:
    base = f"http://{receiver.host}:{receiver.port}"
    for path in ("/services/TTEST/Bw1/wrong", "/services/TOTHER/Bw1/s3cret", "/services/TTEST/s3cret"):
        assert post(base + path, BLOCKS) == (404, b"no_service")
    assert receiver.snapshot() == []


def test_faults_429_and_500_post_nothing(receiver: SlackReceiver) -> None:
    receiver.set_mode("429")
    assert post(receiver.webhook_url("w1"), BLOCKS) == (429, b"rate_limited")
    receiver.set_mode("500")
    assert post(receiver.webhook_url("w1"), BLOCKS)[0] == 500
    receiver.set_mode("ok")
    assert [(r.status, r.posted) for r in receiver.snapshot()] == [(429, False), (500, False)]
    with pytest.raises(ValueError):
        receiver.set_mode("down")


def test_a_stopped_receiver_refuses_and_starts_again_on_its_port(receiver: SlackReceiver) -> None:
    port = receiver.port
    receiver.stop()
    assert not receiver.listening
    with pytest.raises(urllib.error.URLError):
        post(receiver.webhook_url("w1"), BLOCKS)
    receiver.start()
    assert receiver.port == port
    assert post(receiver.webhook_url("w1"), BLOCKS) == (200, b"ok")


def test_the_web_api_posts_to_the_channel_and_shows_it_in_history(receiver: SlackReceiver) -> None:
    seen: list[tuple[str, str]] = []
    receiver.on_post = lambda kind, worker: seen.append((kind, worker))
    body = {**BLOCKS, "channel": "C0TEST", "metadata": {"event_type": "alert", "event_payload": {"outbox_id": "ob-1"}}}
    status, reply = post(receiver.api_url + "chat.postMessage", body, {"Authorization": f"Bearer {receiver.token('w2')}"})
    assert status == 200 and json.loads(reply)["ok"] and json.loads(reply)["channel"] == "C0TEST"
    assert seen == [("bot", "w2")]
    (request,) = receiver.snapshot()
    assert (request.kind, request.worker, request.outbox_id, request.keys) == ("bot", "w2", "ob-1", ["0123456789abcdef"])
    with urllib.request.urlopen(receiver.api_url + "conversations.history?channel=C0TEST", timeout=5) as response:
        history = json.loads(response.read())
    assert [m["metadata"]["event_payload"]["outbox_id"] for m in history["messages"]] == ["ob-1"]
    # another workspace's token is refused as Slack does: 200 with ok false
    status, reply = post(receiver.api_url + "chat.postMessage", body, {"Authorization": "Bearer xoxb-other-w2"})
    assert status == 200 and json.loads(reply) == {"ok": False, "error": "invalid_auth"}


def test_a_reply_records_its_thread_ts_and_shows_in_its_thread_not_in_history(receiver: SlackReceiver) -> None:
    auth = {"Authorization": f"Bearer {receiver.token('w1')}"}

    def meta(ident: str) -> dict[str, Any]:
        return {"event_type": "alert", "event_payload": {"outbox_id": ident}}

    _, first = post(receiver.api_url + "chat.postMessage", {**BLOCKS, "channel": "C0TEST", "metadata": meta("ob-1")}, auth)
    parent = json.loads(first)["ts"]
    reply_body = {**BLOCKS, "channel": "C0TEST", "metadata": meta("ob-2"), "thread_ts": parent, "reply_broadcast": False}
    status, _ = post(receiver.api_url + "chat.postMessage", reply_body, auth)
    assert status == 200
    assert [(r.outbox_id, r.thread_ts) for r in receiver.snapshot()] == [("ob-1", ""), ("ob-2", parent)]

    def read(method: str, query: str) -> list[str]:
        with urllib.request.urlopen(f"{receiver.api_url}{method}?channel=C0TEST{query}", timeout=5) as response:
            return [m["metadata"]["event_payload"]["outbox_id"] for m in json.loads(response.read())["messages"]]

    assert read("conversations.history", "") == ["ob-1"]
    assert read("conversations.replies", f"&ts={parent}") == ["ob-1", "ob-2"]


async def test_watched_posts_arrive_stamped_in_order(receiver: SlackReceiver) -> None:
    receiver.watch()
    before = time.perf_counter()
    for n in (1, 2):
        await asyncio.to_thread(post, receiver.webhook_url("w1"), {"text": f"post {n}"})
    first, second = await receiver.next(5.0), await receiver.next(5.0)
    assert first is not None and second is not None
    assert before <= first[0] <= second[0] <= time.perf_counter()
    assert json.loads(first[1]) == {"text": "post 1"} and json.loads(second[1]) == {"text": "post 2"}
    assert await receiver.next(0.05) is None
