"""The dispatcher: the delivery pipeline that composes its stages (``signal_monitor.delivery.stages``).

``submit`` runs ``admission``: it routes and filters the alerts and stores what is to be sent (it returns
once every alert is in Redis), then wakes ``run``, the background loop whose every look at the outbox runs
``grouping`` (due groups become digests) and ``sending`` (each destination's queue in order, one message at
a time, paced, retrying transient failures and parking permanent ones); between wake-ups ``run`` looks
every ``poll_s`` for work that other workers queued. ``drain`` delivers everything pending now (replay,
demo, tests). Several workers may run dispatchers on one Redis: claims keep an alert from being queued
twice and a lease per destination lets one worker at a time send to it.

Every delivery key shares one Redis Cluster hash tag (``keys.py``), so all of this runs on a single Redis or
a Redis Cluster alike. Before its first submit or send, a dispatcher moves delivery state left under the key
names of the layout before the tag (``migrate_legacy_keys``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import RedisError
from rich.console import Console

from signal_monitor.config.settings import Settings
from signal_monitor.delivery.console import ConsoleSender
from signal_monitor.delivery.inhibition import Inhibitor
from signal_monitor.delivery.keys import migrate_legacy_keys
from signal_monitor.delivery.note import admit_note
from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.routing import Receiver, RouteFileError, Routes
from signal_monitor.delivery.silences import SilenceStore
from signal_monitor.delivery.slack import BotSender, ChartSource, MessageLinks, Sender, WebhookSender
from signal_monitor.delivery.stages.admission import Admission
from signal_monitor.delivery.stages.grouping import Grouping
from signal_monitor.delivery.stages.guard import guarded
from signal_monitor.delivery.stages.sending import Sending
from signal_monitor.notes.compose import Note
from signal_monitor.rules.alert import Alert
from signal_monitor.tasks import together

log = logging.getLogger("signal_monitor.delivery")

#: How long ticks woken by submits may leave the stats snapshot for later (see ``Dispatcher._tick``).
STATS_DEFER_S = 0.1


@dataclass(frozen=True)
class DeliveryOptions:
    """How delivery paces, waits and retries; ``from_settings`` reads them from Settings when it has them."""

    slack_pace_s: float = 1.0
    slack_timeout_s: float = 10.0
    slack_api_url: str = "https://slack.com/api/"
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    max_attempts: int = 12
    lease_s: float = 30.0
    claim_ttl_s: float = 14 * 86400.0
    poll_s: float = 0.2  #: how often ``run`` looks for work it was not woken for (queued by another worker)
    stats_s: float = 1.0  #: how often ``run`` refreshes the stats snapshot (status records, /metrics)
    silence_url: str = ""  #: the page a message's "How to silence" button opens (SM_SLACK_SILENCE_URL)
    docs_url: str = ""  #: where docs/ is published (SM_DOCS_URL): the button's page without a silence page

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryOptions:
        """Return the options of ``settings`` (SM_SLACK_PACE_S, SM_SLACK_TIMEOUT_S, SM_DELIVERY_*)."""
        return cls(
            slack_pace_s=settings.slack_pace_s,
            slack_timeout_s=settings.slack_timeout_s,
            slack_api_url=settings.slack_api_url,
            retry_base_s=settings.delivery_retry_base_s,
            retry_max_s=settings.delivery_retry_max_s,
            max_attempts=settings.delivery_max_attempts,
            lease_s=settings.delivery_lease_s,
            claim_ttl_s=settings.delivery_claim_ttl_days * 86400,
            silence_url=settings.slack_silence_url,
            docs_url=settings.docs_url,
        )

    @property
    def links(self) -> MessageLinks:
        """Return where a message's "How to silence" button leads."""
        return MessageLinks(silence_url=self.silence_url, docs_url=self.docs_url)


@dataclass(frozen=True, kw_only=True)
class SlackDefaults:
    """The desk's Slack settings (SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_WEBHOOK_URL); secrets stay ``SecretStr``.

    The bot token posts to its default channel and to receivers that name their own; the webhook is the
    default of a receiver with neither.
    """

    bot_token: SecretStr | None = None
    channel: str = ""
    webhook_url: SecretStr | None = None
    dashboard_url: str = ""  #: SM_DASHBOARD_URL: a webhook's message links the alert's chart there

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackDefaults:
        """Return the Slack settings of ``settings``."""
        return cls(
            bot_token=settings.slack_bot_token, channel=settings.slack_channel, webhook_url=settings.slack_webhook_url,
            dashboard_url=settings.dashboard_url,
        )


def build_sender(
    receiver: Receiver,
    *,
    slack: SlackDefaults,
    options: DeliveryOptions,
    path: str,
    console: Console | None = None,
    charts: ChartSource | None = None,
) -> Sender:
    """Return the sender of ``receiver``: the console, a bot-token channel or a webhook (RouteFileError when unset).

    ``charts`` draws an alert's PNG for a bot sender to upload; a webhook sender links the dashboard's instead.
    """
    where = f"receiver {receiver.name!r}"
    pace = receiver.pace if receiver.pace is not None else options.slack_pace_s
    if receiver.type == "console":
        return ConsoleSender(console, pace=receiver.pace or 0.0)
    token = slack.bot_token
    if receiver.webhook_url_env:
        url = os.environ.get(receiver.webhook_url_env, "")
        if not url:
            raise RouteFileError(
                path, where, "webhook_url_env", f"the environment variable {receiver.webhook_url_env} is not set"
            )
        return WebhookSender(
            SecretStr(url), timeout=options.slack_timeout_s, pace=pace, dashboard_url=slack.dashboard_url,
            links=options.links,
        )
    if receiver.channel:
        if token is None or not token.get_secret_value():
            raise RouteFileError(path, where, "channel", "posting to a channel needs a bot token: set SLACK_BOT_TOKEN")
        return BotSender(
            token, receiver.channel, timeout=options.slack_timeout_s, pace=pace, base_url=options.slack_api_url,
            charts=charts,
            links=options.links,
        )
    if token is not None and token.get_secret_value() and slack.channel:
        return BotSender(
            token, slack.channel, timeout=options.slack_timeout_s, pace=pace, base_url=options.slack_api_url,
            charts=charts,
            links=options.links,
        )
    if slack.webhook_url is not None and slack.webhook_url.get_secret_value():
        return WebhookSender(slack.webhook_url, timeout=options.slack_timeout_s, pace=pace,
                             dashboard_url=slack.dashboard_url, links=options.links)
    if receiver.type == "auto":
        return ConsoleSender(console)
    raise RouteFileError(
        path,
        where,
        "type",
        "Slack is not configured: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL "
        "(or give the receiver a channel or webhook_url_env)",
    )


class Dispatcher:
    """Routes, filters and queues alerts durably; drains the queues to Slack or the console.

    The pipeline of ``stages``: ``admission`` on ``submit``; ``grouping`` and ``sending`` on each look at
    the outbox (``run``'s ticks, ``drain``). It takes what it needs, not the settings: the parsed
    ``routes``, the key ``prefix`` (SM_KEY_PREFIX), its ``options`` and the ``slack`` defaults
    (``signal_monitor.app.build_dispatcher`` reads all four from Settings). ``worker_id`` names its leases
    (host:pid when not given). ``charts`` draws an alert's PNG chart for the bot senders to upload.
    """

    def __init__(
        self,
        redis_client: aioredis.Redis | aioredis.RedisCluster,
        *,
        routes: Routes,
        prefix: str,
        options: DeliveryOptions | None = None,
        slack: SlackDefaults | None = None,
        clock: Callable[[], float] = time.time,
        senders: Mapping[str, Sender] | None = None,
        console: Console | None = None,
        worker_id: str | None = None,
        rng: Callable[[], float] = random.random,
        charts: ChartSource | None = None,
    ) -> None:
        self.routes = routes
        self.options = options or DeliveryOptions()
        self.clock = clock
        self.prefix = prefix
        self.outbox = Outbox(redis_client, prefix=self.prefix)
        self.silences = SilenceStore(redis_client, prefix=self.prefix, clock=clock)
        self.inhibitor = Inhibitor(redis_client, prefix=self.prefix, rules=self.routes.inhibit, clock=clock)
        self.senders: dict[str, Sender] = dict(senders or {})
        for name, receiver in self.routes.receivers.items():
            if name not in self.senders:
                self.senders[name] = build_sender(
                    receiver, slack=slack or SlackDefaults(), options=self.options, path=self.routes.path,
                    console=console, charts=charts,
                )
        who = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.token = f"{who}:{uuid.uuid4().hex[:8]}"
        self.admission = Admission(
            self.outbox,
            routes=self.routes,
            silences=self.silences,
            inhibitor=self.inhibitor,
            claim_ttl_s=self.options.claim_ttl_s,
            clock=clock,
            on_queued=lambda dest: self._start({dest}),
        )
        self.grouping = Grouping(self.outbox, silences=self.silences, inhibitor=self.inhibitor, clock=clock)
        self.sending = Sending(
            self.outbox,
            senders=self.senders,
            token=self.token,
            lease_s=self.options.lease_s,
            max_attempts=self.options.max_attempts,
            retry_base_s=self.options.retry_base_s,
            retry_max_s=self.options.retry_max_s,
            post_ttl_s=self.options.claim_ttl_s,
            rng=rng,
        )
        self._wake: asyncio.Event | None = None  # set to make run() look at the outbox now (while it runs)
        self._submits = 0  # submit calls so far
        self._deferred_since: float | None = None  # monotonic time a woken tick first left the stats to a later one
        self._refreshed_at = float("-inf")  # monotonic time of the last stats snapshot
        self._snapshot: dict[str, Any] = {}
        self._layout_checked = False  # whether keys of the layout before the hash tag were looked for

    def __repr__(self) -> str:
        """Name the prefix and the receivers (redacted)."""
        receivers = ", ".join(f"{n}={s.label}" for n, s in sorted(self.senders.items()))
        return f"Dispatcher(prefix={self.prefix!r}, receivers=[{receivers}])"

    __str__ = __repr__

    # --- submit -------------------------------------------------------------------------------

    async def submit(self, alerts: Sequence[Alert]) -> None:
        """Route and filter ``alerts`` and store what is to be sent (queued or buffered in a group) in Redis.

        A caller cancelled meanwhile gets its CancelledError once the batch is stored (see ``stages.guard``).
        """
        if alerts:
            queued: set[str] = set()
            try:
                queued = await guarded(self._submit(list(alerts)))
            finally:
                self._submits += 1
                self._start(queued)
                self._nudge()

    async def _submit(self, alerts: list[Alert]) -> set[str]:
        await self._check_layout()
        return await self.admission.admit(alerts)

    def _start(self, dests: set[str]) -> None:
        """Start the loops of ``dests`` now, while ``run`` runs: a message goes out without waiting for a tick,
        the first of a batch while the others are still being admitted."""
        if self._wake is None or self.sending.stopping:
            return
        for dest in sorted(dests):
            self.sending.start(dest, on_done=functools.partial(self._dest_done, self._submits))

    async def submit_note(self, note: Note) -> None:
        """Queue the week's note for its route's receiver (``delivery.note``): once per content of the note."""
        try:
            await guarded(self._submit_note(note))
        finally:
            self._submits += 1
            self._nudge()

    async def _submit_note(self, note: Note) -> None:
        await self._check_layout()
        await admit_note(self.outbox, self.routes, note, claim_ttl_s=self.options.claim_ttl_s, now=self.clock())

    def _nudge(self) -> None:
        """Wake ``run`` now rather than at its next poll."""
        if self._wake is not None:
            self._wake.set()

    async def _check_layout(self) -> None:
        """Move delivery keys of the layout before the hash tag under it, once (see ``keys.py``)."""
        if self._layout_checked:
            return
        moved = await migrate_legacy_keys(self.outbox.client, self.prefix)
        self._layout_checked = True
        if moved:
            log.info("delivery: moved %d keys of the layout before the {delivery} hash tag under it", moved)

    # --- groups and sending -------------------------------------------------------------------

    async def flush_groups(self, *, force: bool = False) -> int:
        """Turn group buffers that are due (all when ``force``) into digest messages; return the messages queued."""
        return await self.grouping.flush(force=force)

    def backoff(self, attempt: int) -> float:
        """Return the wait before retry ``attempt`` (see ``stages.sending.backoff_delay``)."""
        return self.sending.backoff(attempt)

    async def run(self) -> None:
        """Flush due groups and send every destination's queue until cancelled.

        It looks again as soon as ``submit`` stored alerts (also when a destination's loop that was running
        then ends, since it may have seen its queue empty just before) and otherwise every ``poll_s``.
        """
        failures = 0
        self.sending.stopping = False
        wake = self._wake = asyncio.Event()
        woken, refreshed = False, True
        try:
            while True:
                wake.clear()  # a submit from here on makes the next tick
                try:
                    refreshed = await guarded(self._tick(force_groups=False, woken=woken))
                    failures = 0
                except (RedisError, OSError) as exc:
                    failures += 1
                    pause = min(30.0, self.options.poll_s * 2**failures)
                    log.warning("delivery: Redis does not answer (%s); retrying in %.1fs", type(exc).__name__, pause)
                    await asyncio.sleep(pause)
                    continue
                wait_s = self.options.poll_s if refreshed else min(self.options.poll_s, STATS_DEFER_S)
                woken = False
                with contextlib.suppress(TimeoutError):
                    woken = await asyncio.wait_for(wake.wait(), wait_s)
        finally:
            if self._wake is wake:
                self._wake = None
            await self.sending.stop()

    async def drain(self, timeout: float) -> bool:
        """Deliver (or park) everything pending, flushing groups now; return False when ``timeout`` ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.sending.stopping = False
        try:
            while True:
                await guarded(self._tick(force_groups=True))
                if await guarded(self._idle()):
                    await self.sending.join(max(0.0, deadline - loop.time()))
                    await guarded(self.refresh_stats())
                    return True
                if loop.time() >= deadline:
                    await self.sending.stop()
                    await guarded(self.refresh_stats())
                    return False
                await asyncio.sleep(min(self.options.poll_s, 0.05))
        except asyncio.CancelledError:
            await self.sending.stop()
            raise

    async def close(self) -> None:
        """Stop sending and release the senders' connections."""
        await self.sending.stop()
        for sender in self.senders.values():
            await sender.close()

    async def _idle(self) -> bool:
        return not await self.outbox.depths() and not await self.outbox.due_groups(None)

    async def _tick(self, *, force_groups: bool, woken: bool = False) -> bool:
        """Flush due groups, start the loops of the destinations with messages, refresh the stats when due
        (every ``stats_s``); return False when a refresh was due and left to a later tick.

        A tick ``woken`` by a submit comes while that submit's messages are being sent: their round trips
        go first, and the stats snapshot (seven reads) is left to a tick ``STATS_DEFER_S`` later.
        """
        await self._check_layout()
        await self.grouping.flush(force=force_groups)
        for dest in await self.outbox.destinations():
            self.sending.start(dest, on_done=functools.partial(self._dest_done, self._submits))
        now = time.monotonic()
        if self._deferred_since is None and now - self._refreshed_at < self.options.stats_s:
            return True
        if woken:
            if self._deferred_since is None:
                self._deferred_since = now
            if now - self._deferred_since < STATS_DEFER_S:
                return False
        await self.refresh_stats()
        return True

    def _dest_done(self, submits: int, _task: asyncio.Task[None]) -> None:
        """Wake ``run`` when alerts were submitted while a destination's loop ran (and so was not restarted)."""
        if self._submits != submits:
            self._nudge()

    # --- status -------------------------------------------------------------------------------

    async def refresh_stats(self) -> dict[str, Any]:
        """Read the outbox, the counters and the silences from Redis; return (and keep) the snapshot."""
        self._deferred_since = None
        self._refreshed_at = time.monotonic()
        depths, counts, parked_now, grouped, silences, last = await together(
            self.outbox.depths(),
            self.outbox.counts(),
            self.outbox.client.hlen(self.outbox.key("parked")),
            self.outbox.group_depth(),
            self.silences.active(),
            self.outbox.last_sent(),
        )
        parked_now = int(parked_now)
        self._snapshot = {
            "outbox": depths,
            "pending": sum(depths.values()),
            "grouped": grouped,
            "parked": parked_now,
            "parked_by_reason": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("parked:")},
            "sent": counts.get("sent", 0),
            "counts": {k: v for k, v in counts.items() if not k.startswith("parked:")},
            "last_sent": {"at": float(last["at"]), "receiver": last.get("dest", ""), "rule": last.get("rule", "")}
            if last.get("at")
            else None,
            "silences_active": len(silences),
            "receivers": {name: sender.label for name, sender in sorted(self.senders.items())},
        }
        return self._snapshot

    def stats(self) -> dict[str, Any]:
        """Return the last snapshot (refreshed by ``run`` every ``stats_s``, by ``drain``, and on demand by
        ``refresh_stats``)."""
        return dict(self._snapshot)
