"""Slack messages within Slack's limits, answers classified, secrets redacted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from signal_monitor.delivery.slack import (
    LEASE_LOST,
    MAX_BLOCKS,
    MAX_FIELDS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    METADATA_EVENT,
    TRUNCATED,
    BotSender,
    WebhookSender,
    build_message,
    classify_api,
    classify_exception,
    classify_webhook,
    escape,
    format_number,
    hint,
    redact_text,
    redact_webhook,
    retry_after_seconds,
    truncate,
)
from tests.unit.delivery.factory import make_alert, weekly

HOOK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/s3cr3tS3cr3tS3cr3t"


def _sections(blocks: list[dict]) -> list[dict]:
    return [b for b in blocks if b["type"] == "section"]


def _assert_within_limits(blocks: list[dict]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER_TEXT
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= MAX_FIELDS
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= 10


# --- building ---------------------------------------------------------------------------------------


def test_single_alert_has_header_text_fields_and_context() -> None:
    alert = make_alert(
        "sector_net_buying_high",
        {"sector": "Industrials"},
        severity="critical",
        text="Industrials: hedge-fund net buying of $2.41 B this week is the largest since 2024-10-25.",
    )
    alert = alert.model_copy(update={"summary": "A sector's net buying at a multi-month high"})
    message = build_message([alert])
    assert [b["type"] for b in message.blocks] == ["header", "section"]
    # the header is the rule's summary (with the severity's emoji), not its id
    assert message.blocks[0]["text"]["text"] == ":red_circle: A sector's net buying at a multi-month high"
    assert message.blocks[1]["text"]["text"].startswith("Industrials: hedge-fund net buying of $2.41 B")
    # the figures and the context line sit under the severity's colour bar
    [attachment] = message.attachments
    assert attachment["color"] == "#d0021b"
    assert [b["type"] for b in attachment["blocks"]] == ["section", "context"]
    fields = [f["text"] for f in attachment["blocks"][0]["fields"]]
    assert fields[:2] == ["*value*\n2.41B", "*threshold*\n1.00B"]  # an alert without formatted figures
    assert "*since*\n2024-10-25" in fields and "*periods ago*\n32" in fields
    context = attachment["blocks"][1]["elements"][0]["text"]
    assert "*CRITICAL*" in context and "`sector_net_buying_high`" in context and "sector=Industrials" in context
    assert "week 2025-06-02 – 2025-06-06" in context
    # the notification starts with the sentence
    assert message.text.startswith("Industrials: hedge-fund net buying of $2.41 B this week")
    assert message.text.endswith("(critical: A sector's net buying at a multi-month high)")


def test_each_severity_has_its_colour() -> None:
    colours = {s: build_message([make_alert(severity=s)]).attachments[0]["color"] for s in ("info", "warning", "critical")}
    assert len(set(colours.values())) == 3
    assert build_message([make_alert(revision=2, fired=False, text="")]).attachments[0]["color"] == "#2eb886"


def test_correction_and_withdrawal_are_labelled() -> None:
    corrected = build_message([make_alert(revision=2)])
    assert "Correction: " in corrected.blocks[0]["text"]["text"]
    context = corrected.attachments[0]["blocks"][-1]["elements"][0]["text"]
    assert "CORRECTION" in context and "revision 2" in context
    withdrawn = build_message([make_alert(revision=2, fired=False, text="")])
    assert "Withdrawn: " in withdrawn.blocks[0]["text"]["text"]
    assert "*WITHDRAWN*" in withdrawn.attachments[0]["blocks"][-1]["elements"][0]["text"]
    assert "no longer fires" in withdrawn.blocks[1]["text"]["text"]


def test_a_withdrawal_says_withdrawn_and_names_the_alert_unless_in_its_thread() -> None:
    text = ("Withdrawn after late data: A sector's net buying at a multi-month high no longer holds for Industrials "
            "in the week ending 2025-06-06.")
    alert = make_alert(revision=2, fired=False, text=text).model_copy(
        update={"summary": "A sector's net buying at a multi-month high"}
    )
    apart = build_message([alert])  # a webhook: a message of its own
    assert apart.blocks[0]["text"]["text"] == ":white_check_mark: Withdrawn: A sector's net buying at a multi-month high"
    assert apart.blocks[1]["text"]["text"] == text
    assert apart.blocks[2]["text"]["text"] == (
        "Withdraws the alert *A sector's net buying at a multi-month high* for sector=Industrials, "
        "week 2025-06-02 – 2025-06-06."
    )
    assert apart.text.startswith("Withdrawn after late data: ") and "(withdrawn: A sector's" in apart.text
    threaded = build_message([alert], threaded=True)  # a reply under the alert: no need to name it again
    assert [b["type"] for b in threaded.blocks] == ["header", "section"]
    # nothing to silence in a withdrawal
    assert len(threaded.attachments[0]["blocks"][-1]["elements"]) == 1


def _buttons(message) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_link_buttons_for_the_urls_known_and_the_silence_command_without_a_silence_page() -> None:
    from signal_monitor.delivery.slack import MessageLinks

    plain = make_alert()
    message = build_message([plain])
    assert _buttons(message) == [] and [b["type"] for b in message.blocks] == ["header", "section"]
    context = message.attachments[0]["blocks"][-1]["elements"]
    assert context[1]["text"] == (
        "To silence: `signal-monitor silence add --rule sector_net_buying_high --scope sector=Industrials "
        '--for 7d --reason "&lt;why&gt;"`'
    )
    linked = plain.model_copy(update={"dashboard_url": "https://grafana.example.com/d/flows?var-sector=Industrials",
                                      "runbook_url": "https://wiki.example.com/runbooks/sector-flows"})
    page = build_message([linked], links=MessageLinks(silence_url="https://monitor.example.com/silences/new"))
    assert [(b["text"]["text"], b["url"]) for b in _buttons(page)] == [
        ("Dashboard", "https://grafana.example.com/d/flows?var-sector=Industrials"),
        ("Runbook", "https://wiki.example.com/runbooks/sector-flows"),
        ("How to silence", "https://monitor.example.com/silences/new"),
    ]
    assert len({b["action_id"] for b in _buttons(page)}) == 3
    assert len(page.attachments[0]["blocks"][-1]["elements"]) == 1  # the page says how: no command
    docs = build_message([plain], links=MessageLinks(docs_url="https://git.example.com/signal-monitor/docs/"))
    assert [b["url"] for b in _buttons(docs)] == ["https://git.example.com/signal-monitor/docs/slack.md#silences"]
    assert docs.attachments[0]["blocks"][-1]["elements"][1]["text"].startswith("To silence: `signal-monitor silence")
    # Block Kit: a button's url has at most 3000 characters; a longer one is left out, not sent to be refused
    too_long = plain.model_copy(update={"runbook_url": "https://wiki.example.com/" + "a" * 3000})
    assert _buttons(build_message([too_long])) == []
    daily = make_alert("vix_below_17", {"symbol": "VIX", "sector": "Health Care"}).model_copy(update={"granularity": "day"})
    command = build_message([daily]).attachments[0]["blocks"][-1]["elements"][1]["text"]
    assert "--scope 'sector=Health Care' --scope symbol=VIX --for 1d" in command


def test_mrkdwn_control_characters_are_escaped() -> None:
    message = build_message([make_alert(text="spread <b> & > 3 <!channel>")])
    assert message.blocks[1]["text"]["text"] == "spread &lt;b&gt; &amp; &gt; 3 &lt;!channel&gt;"
    assert escape("a<b") == "a&lt;b"


def test_long_text_is_truncated_with_the_marker_not_refused() -> None:
    message = build_message([make_alert(text="x" * 10_000)])
    body = message.blocks[1]["text"]["text"]
    assert len(body) == MAX_SECTION_TEXT and body.endswith(TRUNCATED)
    assert len(message.text) <= 3000 and message.text.endswith(TRUNCATED)
    _assert_within_limits(message.blocks)


def test_more_than_ten_figures_keep_nine_and_a_marker() -> None:
    context = {f"figure_{i}": i * 1.5 for i in range(25)}
    message = build_message([make_alert(context=context)])
    fields = message.attachments[0]["blocks"][0]["fields"]
    assert len(fields) == MAX_FIELDS
    assert fields[-1]["text"] == "*more*\n18 more figures [truncated]"  # 27 figures: 9 shown


def test_long_rule_id_header_is_cut_to_150() -> None:
    message = build_message([make_alert(rule="r" * 400)])
    assert len(message.blocks[0]["text"]["text"]) == MAX_HEADER_TEXT
    assert message.blocks[0]["text"]["text"].endswith(TRUNCATED)


def test_digest_lists_every_alert_when_it_fits() -> None:
    alerts = weekly("hf_net_buying_streak", 5) + weekly("vix_below_17", 3, severity="critical")
    message = build_message(alerts)
    assert message.blocks[0]["text"]["text"] == "8 alerts (3 critical, 5 warning)"
    assert len(_sections(message.blocks)) == 8
    assert len(message.blocks) == 1 + 2 * 8


def test_digest_too_long_for_50_blocks_is_cut_with_a_marker() -> None:
    alerts = weekly("hf_net_buying_streak", 40)
    message = build_message(alerts)
    _assert_within_limits(message.blocks)
    last = message.blocks[-1]["text"]["text"]
    assert last.startswith("…and 16 more alerts") and last.endswith("[truncated]")
    assert len(_sections(message.blocks)) == 24 + 1


def test_no_alert_is_an_error() -> None:
    with pytest.raises(ValueError):
        build_message([])


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=5000),
    rule=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=300),
    n_context=st.integers(min_value=0, max_value=30),
    n_alerts=st.integers(min_value=1, max_value=60),
)
def test_any_alerts_give_a_message_within_the_limits(text: str, rule: str, n_context: int, n_alerts: int) -> None:
    context = {f"k{i}": "v" * (i * 150) for i in range(n_context)}
    alerts = [make_alert(rule, {"sector": f"s{i}"}, text=text, context=context) for i in range(n_alerts)]
    message = build_message(alerts)
    _assert_within_limits(message.blocks)
    assert len(message.text) <= 3000
    json.dumps(message.blocks)


def test_number_formats() -> None:
    assert format_number(2.41e9) == "2.41B"
    assert format_number(-399_963_876.8) == "-400.0M"
    assert format_number(12345.6) == "12,346"
    assert format_number(16.77) == "16.77"
    assert format_number(5) == "5"
    assert truncate("abc", 3) == "abc"


# --- answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, "invalid_payload", "invalid_payload"),
        (400, "no_text", "no_text"),
        (403, "action_prohibited", "action_prohibited"),
        (403, "invalid_token", "invalid_token"),
        (404, "channel_not_found", "channel_not_found"),
        (404, "no_service", "no_service"),
        (410, "channel_is_archived", "channel_is_archived"),
        (404, "<html>Not Found</html>", "http_404"),
    ],
)
def test_webhook_permanent_errors_keep_slacks_reason(status: int, body: str, reason: str) -> None:
    outcome = classify_webhook(status, body)
    assert (outcome.kind, outcome.reason, outcome.status) == ("permanent", reason, status)
    assert hint(reason)


def test_webhook_ok_429_and_5xx() -> None:
    assert classify_webhook(200, "ok").kind == "ok"
    assert classify_webhook(200, "<html>proxy login</html>").reason == "unexpected_response"
    limited = classify_webhook(429, "rate_limited", {"Retry-After": "7"})
    assert (limited.kind, limited.reason, limited.retry_after) == ("retry", "rate_limited", 7.0)
    assert classify_webhook(429, "", {}).retry_after is None
    server = classify_webhook(500, "oops")
    assert (server.kind, server.uncertain) == ("retry", True)
    assert classify_webhook(503, "", {"retry-after": "2"}).retry_after == 2.0


def test_api_answers() -> None:
    assert classify_api(200, {"ok": True, "channel": "C0123456"}).channel_id == "C0123456"
    assert classify_api(200, {"ok": False, "error": "channel_not_found"}).reason == "channel_not_found"
    assert classify_api(200, {"ok": False, "error": "not_in_channel"}).kind == "permanent"
    assert classify_api(200, {"ok": False, "error": "internal_error"}).kind == "retry"
    limited = classify_api(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"})
    assert (limited.kind, limited.retry_after) == ("retry", 3.0)
    assert classify_api(502, None).kind == "retry"


def test_exceptions_are_transient_and_marked_uncertain_when_slack_may_have_posted() -> None:
    refused = classify_exception(ConnectionRefusedError(111, "Connection refused"))
    assert (refused.kind, refused.reason, refused.uncertain) == ("retry", "connection_refused", False)
    timeout = classify_exception(TimeoutError())
    assert (timeout.kind, timeout.reason, timeout.uncertain) == ("retry", "timeout", True)
    dropped = classify_exception(aiohttp.ServerDisconnectedError())
    assert (dropped.kind, dropped.uncertain) == ("retry", True)
    leaky = classify_exception(ValueError(f"bad {HOOK}"), scrub=[HOOK])
    assert HOOK not in leaky.detail and "***" in leaky.detail


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 6, 6, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"Retry-After": later}, now=now.timestamp()) == pytest.approx(30.0)
    assert retry_after_seconds({"Retry-After": "soon"}) is None


# --- secrets ----------------------------------------------------------------------------------------


def test_webhook_is_redacted_to_host_and_team_initial() -> None:
    assert redact_webhook(HOOK) == "hooks.slack.com/services/T…/***"
    assert redact_webhook("not a url") == "<webhook>"
    assert "s3cr3t" not in redact_text(f"POST {HOOK} failed", [HOOK])


def test_senders_never_show_their_secret() -> None:
    webhook = WebhookSender(SecretStr(HOOK))
    bot = BotSender(SecretStr("xoxb-1111-2222-s3cr3tT0k3n"), "#desk")
    for text in (repr(webhook), str(webhook), webhook.label, repr(bot), str(bot), bot.label):
        assert "s3cr3t" not in text
        assert "B0456EFGH" not in text
    assert webhook.label == "webhook hooks.slack.com/services/T…/***"


# --- the bot sender against a fake Web API client ---------------------------------------------------------


class _FakeWebClient:
    """Answers chat.postMessage and conversations.history as Slack does: newest first, ``limit`` a page, a cursor."""

    def __init__(self, messages: list[dict]) -> None:
        self.messages = messages  # newest first, as Slack returns them
        self.history_calls: list[dict] = []
        self.posts: list[dict] = []
        self.session = None

    async def conversations_history(self, **kwargs: object) -> dict:
        self.history_calls.append(dict(kwargs))
        oldest = float(str(kwargs.get("oldest", "0")))
        shown = [m for m in self.messages if float(m["ts"]) > oldest]
        start = int(str(kwargs.get("cursor") or "0"))
        limit = int(str(kwargs.get("limit", 100)))
        page = shown[start : start + limit]
        more = start + limit < len(shown)
        meta = {"next_cursor": str(start + limit) if more else ""}
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": meta}

    async def chat_postMessage(self, **kwargs: object) -> object:
        self.posts.append(dict(kwargs))
        return SimpleNamespace(status_code=200, data={"ok": True, "channel": "C0DESK001"}, headers={})


def _history(n_newer: int, outbox_id: str, *, start: float = 5000.0) -> list[dict]:
    """``n_newer`` messages of other apps, newest first, then the one that carries ``outbox_id``."""
    others = [{"ts": f"{start + n_newer - i:.6f}", "text": f"chatter {i}"} for i in range(n_newer)]
    ours = {
        "ts": f"{start:.6f}",
        "text": "ours",
        "metadata": {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": outbox_id}},
    }
    return [*others, ours]


def _bot(client: _FakeWebClient) -> BotSender:
    bot = BotSender(SecretStr("xoxb-1111-2222-s3cr3tT0k3n"), "C0DESK001")
    bot._client = client  # type: ignore[assignment]
    return bot


class _Lease:
    """A lease check that holds for ``held`` calls, then reports the lease lost."""

    def __init__(self, held: int) -> None:
        self.held = held
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        return self.calls <= self.held


async def test_confirm_pages_history_to_the_confirming_message_on_page_two() -> None:
    client = _FakeWebClient(_history(250, "abc123"))
    confirmed = await _bot(client).confirm("abc123", 5000.0 - 1, channel_id="C0DESK001")
    assert confirmed is True
    assert len(client.history_calls) == 2
    first, second = client.history_calls
    assert "cursor" not in first and second["cursor"] == "200"
    assert first["oldest"] == second["oldest"]  # every page is bounded by the same time window
    assert float(str(first["oldest"])) <= 5000.0 - 1


async def test_confirm_reads_every_page_of_the_window_before_saying_no() -> None:
    client = _FakeWebClient(_history(450, "abc123"))
    assert await _bot(client).confirm("other", 5000.0 - 1, channel_id="C0DESK001") is False
    assert len(client.history_calls) == 3


async def test_confirm_stops_paging_once_the_lease_is_lost() -> None:
    client = _FakeWebClient(_history(450, "abc123"))
    lease = _Lease(held=0)
    assert await _bot(client).confirm("abc123", 5000.0 - 1, channel_id="C0DESK001", lease=lease) is None
    assert len(client.history_calls) == 1  # the first page, then the lease was found lost: no second page


async def test_a_bot_whose_lease_is_lost_before_sending_posts_nothing() -> None:
    client = _FakeWebClient([])
    outcome = await _bot(client).send([make_alert()], outbox_id="abc123", lease=_Lease(held=0))
    assert client.posts == []
    assert outcome.kind != "ok" and outcome.reason == LEASE_LOST


async def test_a_bot_holding_its_lease_posts() -> None:
    client = _FakeWebClient([])
    lease = _Lease(held=1)
    outcome = await _bot(client).send([make_alert()], outbox_id="abc123", lease=lease)
    assert outcome.kind == "ok" and len(client.posts) == 1 and lease.calls == 1


class _RefusingWebClient(_FakeWebClient):
    """Answers every post with Slack's error, as slack_sdk's Web API client raises it."""

    async def chat_postMessage(self, **kwargs: object) -> object:
        from slack_sdk.errors import SlackApiError

        self.posts.append(dict(kwargs))
        answer = SimpleNamespace(status_code=200, data={"ok": False, "error": "channel_not_found"}, headers={})
        raise SlackApiError("The request to the Slack API failed.", answer)


async def test_a_bot_post_refused_by_slack_is_permanent_with_slacks_error() -> None:
    client = _RefusingWebClient([])
    outcome = await _bot(client).send([make_alert()], outbox_id="abc123")
    assert len(client.posts) == 1
    assert (outcome.kind, outcome.reason, outcome.status) == ("permanent", "channel_not_found", 200)


async def test_the_console_and_a_webhook_cannot_confirm_and_the_slack_senders_close_their_session() -> None:
    from signal_monitor.delivery.console import ConsoleSender

    webhook = WebhookSender(SecretStr(HOOK))
    bot = BotSender(SecretStr("xoxb-1111-2222-s3cr3tT0k3n"), "C0DESK001")
    assert await ConsoleSender().confirm("abc123", 0.0) is None
    assert await webhook.confirm("abc123", 0.0, channel_id="C0DESK001") is None
    sessions = []
    for sender in (webhook, bot):
        sender._client.session = aiohttp.ClientSession()
        sessions.append(sender._client.session)
        await sender.close()
    assert all(session.closed for session in sessions)
