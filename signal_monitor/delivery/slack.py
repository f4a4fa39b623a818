"""Slack messages and senders: Block Kit built within Slack's limits, and each answer classified.

A message is built with ``slack_sdk.models.blocks`` (a header with the
severity, the text, link buttons to the rule's dashboard and runbook and to how
to silence it, a fields section with the numbers, a context line with the rule
id, scope and period) plus a plain ``text`` fallback. Text longer than a limit
is cut and ends with ``TRUNCATED``; nothing is refused for its size. A withdrawn
alert says so; posted with a bot token it is a reply in the thread of the
alert's first post (``thread_ts``), and with a webhook it names the alert it
withdraws (summary, scope, period).

Two senders post it: ``WebhookSender`` (an incoming webhook, slack_sdk's
``AsyncWebhookClient``) and ``BotSender`` (``chat.postMessage`` with a bot token,
``AsyncWebClient``). A single alert's chart goes with it, best effort: the bot sender uploads its PNG
into the posted message's thread (``files_upload_v2``, in the background: a failed upload is logged
and counted, the message stays delivered), the webhook sender, which cannot upload, links the chart's
page on the dashboard (SM_DASHBOARD_URL). Each answer becomes an ``Outcome``: ``ok``, ``retry`` (with
the wait Slack asked for, if any) or ``permanent`` (with Slack's reason). The
dispatcher hands each call a ``lease`` check (it renews the worker's lease on the
destination, False once another worker holds it): the Slack senders post nothing
without it, and ``BotSender.confirm`` reads the channel's history page by page
(``response_metadata.next_cursor``) within its time window, asking again before
each further page and stopping once the lease is lost. The
webhook URL and the token are secrets: they appear in no log line, exception
text or ``repr``; a webhook is shown as ``hooks.slack.com/services/T…/***``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import shlex
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from signal_monitor.format import fmt_figure
from signal_monitor.rules.alert import Alert

log = logging.getLogger("signal_monitor.delivery")

# slack_sdk logs request URLs (a webhook's is a secret) at DEBUG when its logger's own level allows it:
# its clients get this logger, whose explicit level keeps those lines from ever being built.
_SDK_LOG = logging.getLogger("signal_monitor.delivery.slack_sdk")
_SDK_LOG.setLevel(logging.WARNING)

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2000
MAX_FALLBACK_TEXT = 3000
MAX_FIGURE_TEXT = 300
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
TRUNCATED = "… [truncated]"
METADATA_EVENT = "signal_monitor_alert"
HISTORY_PAGE = 200  #: messages a conversations.history page asks for (Slack's recommended most)
HISTORY_MAX_PAGES = 50  #: pages read to confirm one post (10,000 messages) before saying "cannot tell"
HISTORY_MARGIN_S = 60.0  #: how far before the attempt started the search begins (clock skew with Slack)
LEASE_LOST = "lease_lost"  #: the reason of an attempt given up before posting because the lease was lost

#: Renews this worker's lease on the destination; False when it is lost (another worker sends to it now).
LeaseCheck = Callable[[], Awaitable[bool]]
#: Draws the PNG chart of an alert (None when it has none): ``signal_monitor.charts.render.alert_png``.
ChartSource = Callable[[Alert], Awaitable[bytes | None]]

SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
#: The colour bar of a message's figures, by severity (a withdrawn alert is green, a correction grey).
SEVERITY_COLOURS = {"critical": "#d0021b", "warning": "#f5a623", "info": "#2f80ed"}
RESOLVED_COLOUR = "#2eb886"
CORRECTION_COLOUR = "#9b9b9b"


# --- building -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackMessage:
    """A message ready to post: the fallback ``text`` and the Block Kit ``blocks`` as dicts."""

    text: str
    blocks: list[dict[str, Any]]
    #: one attachment with the severity's colour bar and the figures' blocks (empty for a digest)
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MessageLinks:
    """Where a message's "How to silence" button leads: the desk's silence page, else the published docs' section.

    With neither, the message's context gives the ``signal-monitor silence add`` command that silences the alert.
    """

    silence_url: str = ""  #: SM_SLACK_SILENCE_URL
    docs_url: str = ""  #: SM_DOCS_URL: where docs/ is published (the button opens slack.md#silences)

    @property
    def silence(self) -> str:
        """Return the URL of the silence button, "" when none is known."""
        if self.silence_url:
            return self.silence_url
        return f"{self.docs_url.rstrip('/')}/slack.md#silences" if self.docs_url else ""


NO_LINKS = MessageLinks()


def truncate(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` characters, ending with the truncation marker when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))].rstrip() + TRUNCATED


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_number(value: float) -> str:
    """Return a number whose unit is not known as desk text (see :func:`signal_monitor.format.fmt_figure`)."""
    return fmt_figure(value)


def format_figure(value: Any) -> str:
    """Return a context figure (number, date, list of pairs, mapping) as short text."""
    return fmt_figure(value)


def alert_figures(alert: Alert) -> list[tuple[str, str]]:
    """Return (name, text) of an alert's value, threshold and context, formatted by the one formatter.

    An alert carries its figures formatted in their units (``figures``); an alert written before
    they were (an old outbox entry) falls back to a unit-less spelling of each number.
    """
    if alert.figures:
        return [(k.replace("_", " "), v) for k, v in alert.figures.items()]
    figures = [("value", fmt_figure(alert.value)), ("threshold", fmt_figure(alert.threshold))]
    for key, value in alert.context.items():
        figures.append((key.replace("_", " "), fmt_figure(value)))
    return figures


def _scope_text(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(scope.items())) or "all"


def _period_text(alert: Alert) -> str:
    if alert.period_start == alert.period_end:
        return f"{alert.granularity} {alert.period_end.isoformat()}"
    return f"{alert.granularity} {alert.period_start.isoformat()} – {alert.period_end.isoformat()}"


def _label(alert: Alert) -> str:
    if alert.provisional:
        return "PROVISIONAL" if alert.fired else "PROVISIONAL WITHDRAWN"
    if not alert.fired:
        return "WITHDRAWN"
    if alert.correction:
        return f"CORRECTION ({alert.severity.upper()})"
    return alert.severity.upper()


def _emoji(alert: Alert) -> str:
    if not alert.fired:
        return ":white_check_mark:"
    if alert.correction:
        return ":pencil2:"
    return SEVERITY_EMOJI[alert.severity]


def colour(alert: Alert) -> str:
    """Return the colour bar of an alert: its severity's, green when withdrawn, grey for a correction."""
    if not alert.fired:
        return RESOLVED_COLOUR
    if alert.correction:
        return CORRECTION_COLOUR
    return SEVERITY_COLOURS[alert.severity]


def _title(alert: Alert) -> str:
    """Return what the alert is about in a few words: the rule's summary (its id for an alert without one)."""
    return alert.summary or alert.rule


def _body(alert: Alert) -> str:
    if not alert.fired and alert.provisional and alert.text:
        return alert.text  # "No longer on track: ..."
    if not alert.fired:
        return alert.text or f"`{alert.rule}` no longer fires for {_scope_text(alert.scope)} ({_period_text(alert)})."
    return alert.text or f"`{alert.rule}` fired for {_scope_text(alert.scope)}."


def original_key(alert: Alert) -> str:
    """Return the dedup key of the alert's first revision (a correction's key without ``:v<revision>``)."""
    return alert.dedup_key.split(":v", 1)[0]


def _withdraws(alert: Alert) -> str:
    """Name the alert a withdrawal withdraws, for a message outside its thread: its summary, scope and period.

    Not its key: the grey line shows the withdrawal's own, and readers of a message (the fake Slacks, a desk's
    search) take each ``key <hex>`` for an alert the message carries.
    """
    return (
        f"Withdraws the alert *{escape(_title(alert))}* for {escape(_scope_text(alert.scope))}, "
        f"{_period_text(alert)}."
    )


def silence_command(alert: Alert) -> str:
    """Return the command that silences the alert's rule and scope for one of its periods (a week, or a day)."""
    scope = [f"--scope {shlex.quote(f'{k}={v}')}" for k, v in sorted(alert.scope.items()) if v != "*"]
    span = "7d" if alert.granularity == "week" else "1d"
    return " ".join(["signal-monitor silence add --rule", shlex.quote(alert.rule), *scope, f"--for {span}",
                     '--reason "<why>"'])


def _buttons(alert: Alert, links: MessageLinks) -> list[ButtonElement]:
    """Return the link buttons whose URL is known: the rule's dashboard and runbook, how to silence (a firing alert)."""
    targets = [("dashboard", "Dashboard", alert.dashboard_url), ("runbook", "Runbook", alert.runbook_url)]
    if alert.fired:
        targets.append(("silence", "How to silence", links.silence))
    return [
        ButtonElement(text=PlainTextObject(text=truncate(label, MAX_BUTTON_TEXT)), url=url, action_id=f"open_{name}")
        for name, label, url in targets
        if url and len(url) <= MAX_BUTTON_URL
    ]


def _context_elements(alert: Alert, links: MessageLinks, chart_url: str | None = None) -> list[MarkdownTextObject]:
    """Return the context line's elements: the rule, scope, period and key; the chart's link (``chart_url``);
    how to silence when no page says it."""
    elements = [MarkdownTextObject(text=_context_line(alert))]
    if chart_url:
        elements.append(MarkdownTextObject(text=f"<{escape(chart_url)}|chart>"))
    if alert.fired and not links.silence_url:
        text = f"To silence: `{escape(silence_command(alert))}`"
        elements.append(MarkdownTextObject(text=truncate(text, MAX_CONTEXT_TEXT)))
    return elements


def _context_line(alert: Alert) -> str:
    parts = [f"*{_label(alert)}*", f"`{alert.rule}`", escape(_scope_text(alert.scope)), _period_text(alert)]
    if alert.revision > 1:
        parts.append(f"revision {alert.revision}")
    if alert.provisional:
        parts.append("provisional")
    if alert.supersedes and alert.fired:
        parts.append(f"supersedes {alert.supersedes}")
    parts.append(f"key {alert.dedup_key}")
    return truncate(" · ".join(parts), MAX_CONTEXT_TEXT)


def _fields(alert: Alert) -> list[MarkdownTextObject]:
    figures = alert_figures(alert)
    if len(figures) > MAX_FIELDS:
        hidden = len(figures) - (MAX_FIELDS - 1)
        figures = [*figures[: MAX_FIELDS - 1], ("more", f"{hidden} more figures [truncated]")]
    fields = []
    for name, text in figures:
        body = truncate(escape(text), MAX_FIGURE_TEXT)
        fields.append(MarkdownTextObject(text=truncate(f"*{escape(name)}*\n{body}", MAX_FIELD_TEXT)))
    return fields


def _single(
    alert: Alert, links: MessageLinks, threaded: bool, chart_url: str | None = None
) -> tuple[str, list[Block], list[dict[str, Any]]]:
    """Header (the summary), the sentence, the link buttons; then, under the severity's colour bar, the figures
    and the context line.

    The notification text (what a phone shows) starts with the sentence. A withdrawal outside the thread of the
    alert it withdraws (``threaded`` False) names that alert under the sentence. ``chart_url``: a link to the
    alert's chart on the dashboard, in the context line.
    """
    if alert.provisional:
        prefix = "Provisional: " if alert.fired else "No longer on track: "
    else:
        prefix = "Withdrawn: " if not alert.fired else "Correction: " if alert.correction else ""
    header = truncate(f"{_emoji(alert)} {prefix}{_title(alert)}", MAX_HEADER_TEXT)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header, emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=truncate(escape(_body(alert)), MAX_SECTION_TEXT))),
    ]
    if not alert.fired and not threaded:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(_withdraws(alert), MAX_SECTION_TEXT))))
    buttons = _buttons(alert, links)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    detail: list[Block] = [
        SectionBlock(fields=_fields(alert)),
        ContextBlock(elements=_context_elements(alert, links, chart_url)),
    ]
    attachments = [{"color": colour(alert), "blocks": [b.to_dict() for b in detail]}]
    fallback = f"{_body(alert)} ({_label(alert).lower()}: {_title(alert)})"
    return fallback, blocks, attachments


def _digest(alerts: Sequence[Alert], title: str | None) -> tuple[str, list[Block]]:
    counts = Counter(a.severity for a in alerts if a.fired)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("critical", "warning", "info") if counts[s])
    head = title or f"{len(alerts)} alerts"
    header = truncate(f"{head}" + (f" ({summary})" if summary else ""), MAX_HEADER_TEXT)
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=header, emoji=True))]
    room = (MAX_BLOCKS - 2) // 2  # two blocks an alert, one header, one marker block if cut
    shown = alerts if 1 + 2 * len(alerts) <= MAX_BLOCKS else alerts[:room]
    for alert in shown:
        line = f"{_emoji(alert)} *{escape(_title(alert))}* — {escape(_body(alert))}"
        figs = dict(alert_figures(alert))
        numbers = f"value {figs.get('value', '—')} · threshold {figs.get('threshold', '—')}"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(line, MAX_SECTION_TEXT))))
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=truncate(f"{numbers} · {_context_line(alert)}", MAX_CONTEXT_TEXT))]
            )
        )
    if len(shown) < len(alerts):
        more = len(alerts) - len(shown)
        marker = f"…and {more} more alerts (all are on the alerts topic) [truncated]"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=marker)))
    fallback = " ".join(_body(a) for a in alerts) + f" ({header})"
    return fallback, blocks


def build_message(
    alerts: Sequence[Alert], *, title: str | None = None, links: MessageLinks = NO_LINKS, threaded: bool = False,
    chart_url: str | None = None,
) -> SlackMessage:
    """Build the message of one alert, or a digest of several; never exceeds Slack's limits.

    ``links`` says where the "How to silence" button leads; ``threaded`` that the message is a reply in
    the thread of the alert it withdraws (so it need not name that alert again); ``chart_url``: the
    dashboard's page of a single alert's chart, linked from its context line.
    """
    if not alerts:
        raise ValueError("a message needs at least one alert")
    attachments: list[dict[str, Any]] = []
    if len(alerts) == 1:
        fallback, blocks, attachments = _single(alerts[0], links, threaded, chart_url)
    else:
        fallback, blocks = _digest(alerts, title)
    return SlackMessage(
        text=truncate(fallback, MAX_FALLBACK_TEXT), blocks=[b.to_dict() for b in blocks], attachments=attachments
    )


# --- answers --------------------------------------------------------------------------------------

OutcomeKind = Literal["ok", "retry", "permanent"]

# Web API errors worth retrying (the rest of ok:false answers are permanent).
TRANSIENT_API_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

_BUG = "report it with the parked message (a bug in signal-monitor)"

HINTS: dict[str, str] = {
    "invalid_payload": f"Slack refused the message as malformed: {_BUG}",
    "invalid_blocks": f"Slack refused the message's blocks: {_BUG}",
    "invalid_blocks_format": f"Slack refused the message's blocks: {_BUG}",
    "no_text": f"Slack found no text in the message: {_BUG}",
    "msg_too_long": f"Slack found the message too long: {_BUG}",
    "action_prohibited": "an admin restricted what this app may post: ask a workspace admin to allow it here",
    "invalid_token": "the webhook or token is no longer valid: create a new incoming webhook or bot token and set "
    "SLACK_WEBHOOK_URL / SLACK_BOT_TOKEN (or the receiver's webhook_url_env)",
    "invalid_auth": "the bot token is not valid: set SLACK_BOT_TOKEN to the app's current xoxb- token",
    "not_authed": "no bot token was sent: set SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked: reinstall the app and set SLACK_BOT_TOKEN to the new token",
    "token_expired": "the bot token expired: rotate it and set SLACK_BOT_TOKEN",
    "account_inactive": "the app's bot user was deactivated: reinstall the app and set SLACK_BOT_TOKEN",
    "missing_scope": "the bot token lacks the chat:write scope: add it under OAuth & Permissions and reinstall the app",
    "channel_not_found": "the channel does not exist or the bot cannot see it: check SLACK_CHANNEL / the receiver's "
    "channel, and /invite the app to a private channel",
    "not_in_channel": "the bot is not a member of the channel: /invite the app in the channel",
    "channel_is_archived": "the channel is archived: unarchive it, or point the receiver at another channel",
    "is_archived": "the channel is archived: unarchive it, or point the receiver at another channel",
    "no_service": "the incoming webhook was removed or disabled: create a new one and set SLACK_WEBHOOK_URL",
    "no_service_id": "the webhook URL is incomplete: copy the whole URL into SLACK_WEBHOOK_URL",
    "no_team": "the webhook URL names no workspace: copy the whole URL into SLACK_WEBHOOK_URL",
    "team_disabled": "the Slack workspace is disabled: use a webhook of an active workspace",
    "posting_to_general_channel_denied": "only admins may post in this channel: pick another channel for the receiver",
    "restricted_action": "a workspace setting forbids this post: ask a workspace admin",
    "unexpected_response": "something other than Slack answered 200 (a proxy or a login page?): check the URL and "
    "any HTTP proxy between the worker and Slack",
    "invalid_url": "the webhook URL is not a valid URL: copy the whole URL into SLACK_WEBHOOK_URL",
    "retries_exhausted": "Slack did not accept the message after every retry: check the network path to Slack "
    "and https://slack-status.com, then requeue the parked messages",
    "receiver_removed": "the receiver of these messages is no longer in the routes file: add it back or drop them",
}


def hint(reason: str) -> str:
    """Return what to fix for a permanent ``reason``."""
    return HINTS.get(
        reason, f"Slack refused the message with {reason!r}: see https://api.slack.com/methods/chat.postMessage#errors"
    )


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: ok, retry (after ``retry_after`` s when Slack said so) or permanent (with the reason).

    ``uncertain`` marks a failure after which Slack may still have posted (a timeout, a dropped connection).
    """

    kind: OutcomeKind
    reason: str = ""
    status: int | None = None
    retry_after: float | None = None
    uncertain: bool = False
    detail: str = ""
    channel_id: str | None = None
    ts: str | None = None  #: the ``ts`` Slack gave the posted message (Web API only): what chat.update changes, a reply threads under

    @classmethod
    def ok(cls, status: int = 200, channel_id: str | None = None, ts: str | None = None) -> Outcome:
        """Return a success."""
        return cls("ok", "ok", status, channel_id=channel_id, ts=ts)


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Return the wait a ``Retry-After`` header asks for (seconds, or an HTTP date), None when absent or unreadable."""
    if not headers:
        return None
    raw = None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value
            break
    if raw is None:
        return None
    raw = str(raw).strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _reason_code(body: str, status: int) -> str:
    first = body.strip().split(None, 1)[0] if body.strip() else ""
    return first if re.fullmatch(r"[a-z][a-z0-9_]{1,63}", first) else f"http_{status}"


def classify_webhook(status: int, body: str, headers: Mapping[str, str] | None = None) -> Outcome:
    """Classify an incoming webhook's answer: only 200 ``ok`` is a success."""
    if status == 200:
        if body.strip() == "ok":
            return Outcome.ok(200)
        return Outcome("permanent", "unexpected_response", status, detail="200 without 'ok'")
    if status == 429:
        return Outcome("retry", "rate_limited", status, retry_after_seconds(headers))
    if status >= 500 or status == 408:
        return Outcome("retry", f"http_{status}", status, retry_after_seconds(headers), uncertain=status != 503)
    return Outcome("permanent", _reason_code(body, status), status, detail=truncate(body.strip(), 200))


def classify_api(status: int, data: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None) -> Outcome:
    """Classify a Web API (chat.postMessage, chat.update) answer: ok, retry or permanent with Slack's ``error``."""
    if status == 429 or (data and data.get("error") == "ratelimited"):
        return Outcome("retry", "rate_limited", status, retry_after_seconds(headers))
    if status >= 500 or status == 408:
        return Outcome("retry", f"http_{status}", status, retry_after_seconds(headers), uncertain=status != 503)
    if data and data.get("ok") is True and status == 200:
        channel, ts = data.get("channel"), data.get("ts")
        return Outcome.ok(200, channel if isinstance(channel, str) else None, ts if isinstance(ts, str) else None)
    error = str(data.get("error")) if data and data.get("error") else f"http_{status}"
    if error in TRANSIENT_API_ERRORS:
        return Outcome("retry", error, status, retry_after_seconds(headers), uncertain=True)
    return Outcome("permanent", error, status)


def classify_exception(exc: BaseException, *, scrub: Sequence[str] = ()) -> Outcome:
    """Classify a failure to get an answer: a refused connection (never sent), a timeout or drop (maybe sent)."""
    detail = redact_text(f"{type(exc).__name__}: {exc}", scrub)
    if isinstance(exc, aiohttp.InvalidURL):
        return Outcome("permanent", "invalid_url", detail=type(exc).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return Outcome("retry", "connection_refused", detail=detail)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Outcome("retry", "timeout", uncertain=True, detail=detail)
    if isinstance(exc, aiohttp.ClientError | OSError | SlackClientError):
        return Outcome("retry", "connection_error", uncertain=True, detail=detail)
    return Outcome("retry", "unexpected_error", uncertain=True, detail=detail)


# --- secrets --------------------------------------------------------------------------------------


def redact_webhook(url: str) -> str:
    """Return a webhook URL safe to log: ``hooks.slack.com/services/T…/***`` (the host and the first segment)."""
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#@]*@)?([^/?#]*)(/[^?#]*)?", url.strip())
    if not match:
        return "<webhook>"
    host = match.group(2)
    segments = [s for s in (match.group(3) or "").split("/") if s]
    shown = host
    if segments:
        shown += f"/{segments[0]}"
    if len(segments) > 1:
        shown += f"/{segments[1][:1]}…"
    return shown + "/***"


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """Return ``text`` with every secret of ``secrets`` (and a webhook's path) replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _webhook_secrets(url: str) -> list[str]:
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)?", url)
    path = match.group(1) if match and match.group(1) else ""
    return [url, path] if len(path) > 1 else [url]


# --- senders --------------------------------------------------------------------------------------


def _older_than(message: Mapping[str, Any], oldest: float) -> bool:
    """Whether a history message is from before ``oldest`` (the search window is behind it)."""
    try:
        return float(message.get("ts") or 0.0) < oldest
    except (TypeError, ValueError):
        return False


class Sender(Protocol):
    """Posts messages to one destination; the console and the two Slack senders subclass it.

    ``confirm`` has a default (None: a destination that cannot be read back cannot tell); the other methods are
    each sender's own.
    """

    kind: str
    label: str
    pace: float

    async def send(
        self,
        alerts: Sequence[Alert],
        *,
        outbox_id: str,
        title: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> Outcome:
        """Deliver one alert, or a digest of several; return how it ended (never raises for a network failure).

        With ``lease``, nothing is posted once it says the lease is lost (the outcome's reason is ``LEASE_LOST``).
        ``thread_ts`` (a withdrawal's first post, when the sender posted it) makes the message a reply in its thread.
        """
        ...

    async def post_note(
        self, message: SlackMessage, *, outbox_id: str, replace: tuple[str, str] | None = None,
        lease: LeaseCheck | None = None,
    ) -> Outcome:
        """Deliver the week's note (built by ``signal_monitor.delivery.note``); ``replace``: the (channel id, ts)
        of the note posted before, changed in place where the destination can (a bot token)."""
        ...

    async def confirm(
        self,
        outbox_id: str,
        since: float,
        *,
        channel_id: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> bool | None:
        """Return whether a message with ``outbox_id`` was posted since ``since`` (as a reply under ``thread_ts``
        when given); None when it cannot tell.

        With ``lease``, a search of several requests stops (None) once it says the lease is lost.
        """
        return None

    async def close(self) -> None:
        """Release connections."""
        ...


def _keep_alive(client: AsyncWebhookClient | AsyncWebClient) -> None:
    """Give a slack_sdk client one HTTP session for all its requests: one TLS handshake, not one per post."""
    if client.session is None or client.session.closed:
        client.session = aiohttp.ClientSession()


async def _lease_lost(lease: LeaseCheck | None, label: str, what: str) -> bool:
    """Ask ``lease`` (when given) whether this worker still holds the destination; log and say True when not."""
    if lease is None or await lease():
        return False
    log.warning("%s: the lease on this destination was lost before %s; leaving it to the worker that holds it",
                label, what)
    return True


def _lost() -> Outcome:
    return Outcome("retry", LEASE_LOST, detail="the lease was lost before posting; nothing was sent")


_Client = TypeVar("_Client", AsyncWebhookClient, AsyncWebClient)
_Answer = TypeVar("_Answer")


class _SlackClientSender(Generic[_Client]):
    """What the two Slack senders share: a name without the secret, one guarded request, the session's close."""

    label: str
    pace: float
    timeout: float
    _client: _Client
    _secrets: list[str]

    def __repr__(self) -> str:
        """Show the sender's label (a redacted webhook, a channel), never a secret."""
        return f"{type(self).__name__}({self.label!r}, pace={self.pace})"

    __str__ = __repr__

    async def _request(
        self,
        lease: LeaseCheck | None,
        call: Callable[[], Awaitable[_Answer]],
        classify: Callable[[_Answer], Outcome],
    ) -> Outcome:
        """Make one posting request (nothing once ``lease`` is lost) within the timeout; classify how it ended.

        ``classify`` reads the client's answer. An error answer that slack_sdk raises (``SlackApiError``, from
        the Web API client) is classified by its status and Slack's ``error``; any other failure to get an
        answer by ``classify_exception``, with the secrets scrubbed from its text.
        """
        if await _lease_lost(lease, self.label, "posting"):
            return _lost()
        _keep_alive(self._client)
        try:
            async with asyncio.timeout(self.timeout):
                response = await call()
        except asyncio.CancelledError:
            raise
        except SlackApiError as exc:
            res = exc.response
            status = getattr(res, "status_code", None) or getattr(res, "status", 0) or 0
            data = getattr(res, "data", None)
            headers = getattr(res, "headers", None)
            return classify_api(int(status), data if isinstance(data, Mapping) else None, dict(headers or {}))
        except Exception as exc:  # aiohttp and slack_sdk raise many types; classify_exception sorts them
            return classify_exception(exc, scrub=self._secrets)
        return classify(response)

    async def close(self) -> None:
        """Close the HTTP session."""
        session = self._client.session
        if session is not None and not session.closed:
            await session.close()


@dataclass(repr=False)
class WebhookSender(_SlackClientSender[AsyncWebhookClient], Sender):
    """Posts to an incoming webhook with slack_sdk's ``AsyncWebhookClient`` (no built-in retries).

    An incoming webhook cannot read the channel: ``confirm`` always says None.
    """

    url: SecretStr
    timeout: float = 10.0
    pace: float = 1.0
    #: the dashboard's public base URL (SM_DASHBOARD_URL): a single alert's message links its chart there
    dashboard_url: str = ""
    links: MessageLinks = NO_LINKS
    kind: str = field(default="webhook", init=False)

    def __post_init__(self) -> None:
        """Create the client."""
        raw = self.url.get_secret_value()
        self.label = f"webhook {redact_webhook(raw)}"
        self._secrets = _webhook_secrets(raw)
        self._client = AsyncWebhookClient(
            url=raw, timeout=max(1, math.ceil(self.timeout)), logger=_SDK_LOG, retry_handlers=[]
        )

    async def send(
        self,
        alerts: Sequence[Alert],
        *,
        outbox_id: str,
        title: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> Outcome:
        """Post the message of ``alerts`` to the webhook and classify the answer (nothing once ``lease`` is lost).

        A webhook cannot reply in a thread: ``thread_ts`` is ignored, and a withdrawal names the alert it withdraws.
        It cannot upload files either: with ``dashboard_url`` set, a single alert's message links its chart on the
        dashboard instead.
        """
        link = None
        if len(alerts) == 1 and alerts[0].fired and self.dashboard_url:
            from signal_monitor.charts.links import chart_url

            link = chart_url(self.dashboard_url, alerts[0])
        return await self.post(build_message(alerts, title=title, links=self.links, chart_url=link), lease=lease)

    async def post_note(
        self, message: SlackMessage, *, outbox_id: str, replace: tuple[str, str] | None = None,
        lease: LeaseCheck | None = None,
    ) -> Outcome:
        """Post a note's message; a webhook cannot change a message, so a revised note is posted anew."""
        return await self.post(message, lease=lease)

    async def post(self, message: SlackMessage, *, lease: LeaseCheck | None = None) -> Outcome:
        """Post a built message to the webhook and classify the answer (nothing once ``lease`` is lost)."""
        client = self._client

        async def call() -> WebhookResponse:
            return await client.send(
                text=message.text, blocks=message.blocks, attachments=message.attachments or None, unfurl_links=False
            )

        def classify(response: WebhookResponse) -> Outcome:
            return classify_webhook(response.status_code, response.body or "", dict(response.headers or {}))

        return await self._request(lease, call, classify)


@dataclass(repr=False)
class BotSender(_SlackClientSender[AsyncWebClient], Sender):
    """Posts with ``chat.postMessage`` and a bot token; each message carries its outbox id in its metadata."""

    token: SecretStr
    channel: str
    timeout: float = 10.0
    pace: float = 1.0
    base_url: str = "https://slack.com/api/"
    #: draws an alert's PNG chart, uploaded into the thread of its message after the post (None: no charts)
    charts: ChartSource | None = None
    links: MessageLinks = NO_LINKS
    kind: str = field(default="bot", init=False)

    def __post_init__(self) -> None:
        """Create the client."""
        self.label = f"chat.postMessage to {self.channel}"
        self._client = AsyncWebClient(
            token=self.token.get_secret_value(),
            base_url=self.base_url,
            timeout=max(1, math.ceil(self.timeout)),
            logger=_SDK_LOG,
            retry_handlers=[],
        )
        self._secrets = [self.token.get_secret_value()]
        self._confirm_warned = False
        self._uploads: set[asyncio.Task[None]] = set()
        #: chart uploads by outcome: ok, failed, none (the alert has no chart)
        self.chart_uploads: Counter[str] = Counter()

    async def send(
        self,
        alerts: Sequence[Alert],
        *,
        outbox_id: str,
        title: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> Outcome:
        """Post the message of ``alerts`` to the channel and classify the answer (nothing once ``lease`` is lost).

        With ``thread_ts`` the message is a reply in that message's thread, not shown in the channel
        (``reply_broadcast`` false). A single fired alert's chart is uploaded into the posted message's
        thread afterwards, in the background.
        """
        message = build_message(alerts, title=title, links=self.links, threaded=thread_ts is not None)
        outcome = await self.post(message, outbox_id=outbox_id, lease=lease, thread_ts=thread_ts)
        if outcome.kind == "ok" and len(alerts) == 1 and alerts[0].fired:
            self._start_upload(alerts[0], outcome.channel_id, outcome.ts)
        return outcome

    async def post_note(
        self, message: SlackMessage, *, outbox_id: str, replace: tuple[str, str] | None = None,
        lease: LeaseCheck | None = None,
    ) -> Outcome:
        """Post a note's message, or with ``replace`` (channel id, ts of the note posted before) change it in place.

        A message Slack no longer has (deleted) is posted anew.
        """
        if replace is None:
            return await self.post(message, outbox_id=outbox_id, lease=lease)
        channel, ts = replace
        outcome = await self.post(message, outbox_id=outbox_id, lease=lease, update=(channel, ts))
        if outcome.kind == "permanent" and outcome.reason in ("message_not_found", "cant_update_message"):
            log.warning("%s: the note posted before (ts %s) cannot be changed (%s); posting it anew",
                        self.label, ts, outcome.reason)
            return await self.post(message, outbox_id=outbox_id, lease=lease)
        return outcome

    async def post(
        self, message: SlackMessage, *, outbox_id: str, lease: LeaseCheck | None = None,
        update: tuple[str, str] | None = None, thread_ts: str | None = None,
    ) -> Outcome:
        """Post a built message with chat.postMessage (a reply under ``thread_ts``; chat.update of (channel, ts)
        with ``update``); classify the answer (nothing once ``lease`` is lost)."""
        client = self._client
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": outbox_id}}
        thread: dict[str, Any] = {"thread_ts": thread_ts, "reply_broadcast": False} if thread_ts else {}

        async def call() -> AsyncSlackResponse:
            if update is not None:
                return await client.chat_update(
                    channel=update[0], ts=update[1], text=message.text, blocks=message.blocks,
                    attachments=message.attachments or None, metadata=metadata,
                )
            return await client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                attachments=message.attachments or None,
                unfurl_links=False,
                metadata=metadata,
                **thread,
            )

        def classify(response: AsyncSlackResponse) -> Outcome:
            data = response.data if isinstance(response.data, Mapping) else None
            return classify_api(response.status_code, data, dict(response.headers or {}))

        return await self._request(lease, call, classify)

    # --- charts -----------------------------------------------------------------------------------

    def _start_upload(self, alert: Alert, channel_id: str | None, ts: Any) -> None:
        """Upload the alert's chart in the background: the post is delivered already, whatever the upload does."""
        if self.charts is None:
            return
        if not channel_id or not isinstance(ts, str):
            self._count_upload("failed")
            log.warning("%s: cannot upload the chart of %s: Slack's answer names no channel id and ts",
                        self.label, alert.dedup_key)
            return
        task = asyncio.create_task(self._upload(alert, channel_id, ts), name=f"chart:{alert.dedup_key}")
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _upload(self, alert: Alert, channel_id: str, ts: str) -> None:
        """Draw the chart and upload it into the message's thread (files_upload_v2); log and count a failure."""
        assert self.charts is not None
        try:
            png = await self.charts(alert)
            if png is None:
                self._count_upload("none")
                return
            _keep_alive(self._client)
            async with asyncio.timeout(self.timeout * 3):  # three requests: upload URL, the bytes, completion
                await self._client.files_upload_v2(
                    channel=channel_id,
                    thread_ts=ts,
                    file=png,
                    filename=f"{alert.rule}-{alert.period_end.isoformat()}.png",
                    title=truncate(f"{_title(alert)} · {_scope_text(alert.scope)} · {_period_text(alert)}", 250),
                    alt_txt=truncate(f"Chart of {_title(alert)}: the series around {_period_text(alert)}", 1000),
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort: the message is the delivery
            if isinstance(exc, SlackApiError) and isinstance(getattr(exc.response, "data", None), Mapping):
                why = str(exc.response.data.get("error") or "an error")
                if why == "missing_scope":
                    why += " (the bot token needs files:write)"
            else:
                why = redact_text(f"{type(exc).__name__}: {exc}", self._secrets)
            self._count_upload("failed")
            log.warning("%s: the chart of %s was not uploaded (the message was posted): %s",
                        self.label, alert.dedup_key, why)
            return
        self._count_upload("ok")

    def _count_upload(self, outcome: str) -> None:
        from signal_monitor.web.prometheus import count_chart_upload

        self.chart_uploads[outcome] += 1
        count_chart_upload(outcome)

    async def wait_uploads(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the chart uploads under way, then cancel what is left."""
        pending = set(self._uploads)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            log.warning("%s: %d chart upload(s) cut short at close", self.label, len(late))
            await asyncio.wait(late, timeout=1.0)

    async def confirm(
        self,
        outbox_id: str,
        since: float,
        *,
        channel_id: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> bool | None:
        """Look for the outbox id in the metadata of the channel's messages since ``since`` (needs channels:history).

        Reads conversations.history newest first, ``HISTORY_PAGE`` messages a page, following
        ``response_metadata.next_cursor`` while the pages hold messages of the window (from ``since`` less
        ``HISTORY_MARGIN_S``). A reply (``thread_ts``) is not in the channel's history: conversations.replies
        of that thread is read instead, oldest first, every page. Before each further page it asks ``lease``
        and stops (None) once the lease is lost; None too after ``HISTORY_MAX_PAGES`` pages without the id,
        or when Slack cannot be asked.
        """
        channel = channel_id or (self.channel if re.fullmatch(r"[CGD][A-Z0-9]{6,}", self.channel) else None)
        if channel is None:
            self._warn_confirm("the channel's id is not known yet (configure it as C0123… to check after a restart)")
            return None
        oldest = since - HISTORY_MARGIN_S
        cursor = ""
        for page in range(HISTORY_MAX_PAGES):
            if page and await _lease_lost(lease, self.label, "it finished reading the channel's history"):
                return None
            data = await self._history_page(channel, oldest, cursor, thread_ts)
            if data is None:
                return None
            messages = data.get("messages") or []
            for item in messages:
                meta = item.get("metadata") or {}
                if (
                    meta.get("event_type") == METADATA_EVENT
                    and (meta.get("event_payload") or {}).get("outbox_id") == outbox_id
                ):
                    return True
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor or not messages or not data.get("has_more", True):
                return False
            if thread_ts is None and _older_than(messages[-1], oldest):
                return False
        self._warn_confirm(
            f"more than {HISTORY_MAX_PAGES * HISTORY_PAGE} messages in the channel since the attempt started"
        )
        return None

    async def _history_page(
        self, channel: str, oldest: float, cursor: str, thread_ts: str | None = None
    ) -> Mapping[str, Any] | None:
        """Return one conversations.history page (newest first) of the window, or with ``thread_ts`` one
        conversations.replies page of that thread; None when Slack cannot be asked."""
        _keep_alive(self._client)
        args: dict[str, Any] = {
            "channel": channel,
            "oldest": f"{oldest:.6f}",
            "limit": HISTORY_PAGE,
            "include_all_metadata": True,
        }
        if cursor:
            args["cursor"] = cursor
        try:
            async with asyncio.timeout(self.timeout):
                if thread_ts:
                    response = await self._client.conversations_replies(ts=thread_ts, **args)
                else:
                    response = await self._client.conversations_history(**args)
        except asyncio.CancelledError:
            raise
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            error = data.get("error") if isinstance(data, Mapping) else None
            self._warn_confirm(f"conversations.history answered {error or 'an error'} (the app needs channels:history)")
            return None
        except Exception as exc:  # network failures: cannot tell
            self._warn_confirm(redact_text(type(exc).__name__, self._secrets))
            return None
        data = getattr(response, "data", response)
        return data if isinstance(data, Mapping) else None

    def _warn_confirm(self, why: str) -> None:
        if not self._confirm_warned:
            log.warning("%s: cannot check whether an interrupted post went out: %s; resending", self.label, why)
            self._confirm_warned = True

    async def close(self) -> None:
        """Let the chart uploads under way finish (within the timeout), then close the HTTP session."""
        await self.wait_uploads(self.timeout)
        await super().close()
