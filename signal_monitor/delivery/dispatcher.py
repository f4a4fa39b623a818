"""The dispatcher: routes alerts, filters the noise, writes them to the outbox, and drains it to the receivers.

``submit`` decides and stores (it returns once every alert is in Redis) and wakes ``run``, the background
loop that flushes due groups and sends each destination's queue in order, one message at a time, paced,
retrying transient failures and parking permanent ones; between wake-ups ``run`` looks every ``poll_s`` for
work that other workers queued. ``drain`` delivers everything pending now (replay, demo, tests). Several
workers may run dispatchers on one Redis: claims keep an alert from being queued twice and a lease per
destination lets one worker at a time send to it.

Every delivery key shares one Redis Cluster hash tag (``keys.py``), so all of this runs on a single Redis or
a Redis Cluster alike. Before its first submit or send, a dispatcher moves delivery state left under the key
names of the layout before the tag (``migrate_legacy_keys``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from pydantic import SecretStr, ValidationError
from redis.exceptions import RedisError
from rich.console import Console

from signal_monitor.config.settings import Settings
from signal_monitor.delivery.console import ConsoleSender
from signal_monitor.delivery.inhibition import Inhibitor
from signal_monitor.delivery.keys import migrate_legacy_keys
from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.realert import realert_key
from signal_monitor.delivery.routing import Receiver, Route, RouteFileError, Routes, format_duration, load_routes
from signal_monitor.delivery.silences import SilenceStore, silenced_by
from signal_monitor.delivery.slack import LEASE_LOST, BotSender, LeaseCheck, Outcome, Sender, WebhookSender, hint
from signal_monitor.rules.alert import Alert

log = logging.getLogger("signal_monitor.delivery")

MAX_RETRY_AFTER_S = 3600.0
STOP_CHECK_S = 0.1
STOP_GRACE_S = 5.0
T = TypeVar("T")


async def _guarded(step: Coroutine[Any, Any, T]) -> T:
    """Run a step that talks to Redis to its end even when the caller is cancelled, then re-raise the cancel.

    redis-py (8.x, on Python 3.11) can swallow a cancellation that lands inside a command, or hang on it;
    so cancellation reaches this code only between Redis steps.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE_S)
        raise


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
        )


def build_sender(
    receiver: Receiver, *, settings: Settings, options: DeliveryOptions, path: str, console: Console | None = None
) -> Sender:
    """Return the sender of ``receiver``: the console, a bot-token channel or a webhook (RouteFileError when unset)."""
    where = f"receiver {receiver.name!r}"
    pace = receiver.pace if receiver.pace is not None else options.slack_pace_s
    if receiver.type == "console":
        return ConsoleSender(console, pace=receiver.pace or 0.0)
    token = settings.slack_bot_token
    if receiver.webhook_url_env:
        url = os.environ.get(receiver.webhook_url_env, "")
        if not url:
            raise RouteFileError(
                path, where, "webhook_url_env", f"the environment variable {receiver.webhook_url_env} is not set"
            )
        return WebhookSender(SecretStr(url), timeout=options.slack_timeout_s, pace=pace)
    if receiver.channel:
        if token is None or not token.get_secret_value():
            raise RouteFileError(path, where, "channel", "posting to a channel needs a bot token: set SLACK_BOT_TOKEN")
        return BotSender(
            token, receiver.channel, timeout=options.slack_timeout_s, pace=pace, base_url=options.slack_api_url
        )
    if token is not None and token.get_secret_value() and settings.slack_channel:
        return BotSender(
            token, settings.slack_channel, timeout=options.slack_timeout_s, pace=pace, base_url=options.slack_api_url
        )
    if settings.slack_webhook_url is not None and settings.slack_webhook_url.get_secret_value():
        return WebhookSender(settings.slack_webhook_url, timeout=options.slack_timeout_s, pace=pace)
    if receiver.type == "auto":
        return ConsoleSender(console)
    raise RouteFileError(
        path,
        where,
        "type",
        "Slack is not configured: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL "
        "(or give the receiver a channel or webhook_url_env)",
    )


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Return the wait before retry ``attempt``: ``base * 2**(attempt-1)`` capped at ``cap``, times 0.5 + jitter/2."""
    raw: float = base * 2.0 ** (max(1, attempt) - 1)
    return min(cap, raw) * (0.5 + 0.5 * jitter)


def claim_key(alert: Alert) -> str:
    """Return the key an alert is claimed under: its dedup key, with ``:v<revision>`` for a correction."""
    suffix = f":v{alert.revision}"
    if alert.revision > 1 and not alert.dedup_key.endswith(suffix):
        return alert.dedup_key + suffix
    return alert.dedup_key


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """Split ``items`` into lists of at most ``size``, in order (a group's digests of ``group_max`` alerts)."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _summary(message: Mapping[str, Any]) -> str:
    alerts = message.get("alerts") or []
    if len(alerts) == 1:
        return f"{alerts[0].get('rule')} ({alerts[0].get('dedup_key')})"
    return f"a digest of {len(alerts)} alerts"


class Dispatcher:
    """Routes, filters and queues alerts durably; drains the queues to Slack or the console."""

    def __init__(
        self,
        redis_client: aioredis.Redis | aioredis.RedisCluster,
        *,
        settings: Settings,
        routes: Routes | None = None,
        clock: Callable[[], float] = time.time,
        options: DeliveryOptions | None = None,
        senders: Mapping[str, Sender] | None = None,
        console: Console | None = None,
        worker_id: str | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.routes = routes if routes is not None else load_routes(settings.routes_path)
        self.options = options or DeliveryOptions.from_settings(settings)
        self.clock = clock
        self.rng = rng
        self.prefix = settings.key_prefix
        self.outbox = Outbox(redis_client, prefix=self.prefix)
        self.silences = SilenceStore(redis_client, prefix=self.prefix, clock=clock)
        self.inhibitor = Inhibitor(redis_client, prefix=self.prefix, rules=self.routes.inhibit, clock=clock)
        self.senders: dict[str, Sender] = dict(senders or {})
        for name, receiver in self.routes.receivers.items():
            if name not in self.senders:
                self.senders[name] = build_sender(
                    receiver, settings=settings, options=self.options, path=self.routes.path, console=console
                )
        who = worker_id or settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.token = f"{who}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._wake: asyncio.Event | None = None  # set to make run() look at the outbox now (while it runs)
        self._submits = 0  # submit calls so far
        self._snapshot: dict[str, Any] = {}
        self._layout_checked = False  # whether keys of the layout before the hash tag were looked for

    def __repr__(self) -> str:
        """Name the prefix and the receivers (redacted)."""
        receivers = ", ".join(f"{n}={s.label}" for n, s in sorted(self.senders.items()))
        return f"Dispatcher(prefix={self.prefix!r}, receivers=[{receivers}])"

    __str__ = __repr__

    def _wall(self) -> float:
        return time.time()

    # --- submit -------------------------------------------------------------------------------

    async def submit(self, alerts: Sequence[Alert]) -> None:
        """Route and filter ``alerts`` and store what is to be sent (queued or buffered in a group) in Redis.

        A caller cancelled meanwhile gets its CancelledError once the batch is stored (see ``_guarded``).
        """
        if alerts:
            try:
                await _guarded(self._submit(list(alerts)))
            finally:
                self._submits += 1
                self._nudge()

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

    async def _submit(self, alerts: list[Alert]) -> None:
        await self._check_layout()
        silences = await self.silences.active()
        # inhibition sources first, so a critical mutes the warnings of the same batch
        ordered = sorted(alerts, key=lambda a: 0 if self.inhibitor.is_source(a) else 1)
        for alert in ordered:
            now = self.clock()
            if alert.provisional:
                await self.outbox.count("provisional_skipped")
                continue
            await self.inhibitor.record(alert)
            silence = silenced_by(alert, silences, now)
            if silence is not None:
                await self.outbox.count("silenced")
                log.info("silenced: %s %s (silence %s: %s)", alert.rule, alert.dedup_key, silence.id, silence.reason)
                continue
            source = await self.inhibitor.muted_by(alert)
            if source is not None:
                await self.outbox.count("inhibited")
                log.info("inhibited: %s %s (by a %s alert of the same scope)", alert.rule, alert.dedup_key, source)
                continue
            for route in self.routes.match(alert):
                await self._admit(alert, route, now)

    async def _admit(self, alert: Alert, route: Route, now: float) -> None:
        receiver = route.receiver
        noise = self.routes.noise(route, alert)
        key = claim_key(alert)
        if not alert.fired:
            base = key.split(":v", 1)[0]
            if not noise.resolved or not await self.outbox.claimed(receiver, base):
                await self.outbox.count("resolved_skipped")
                return
        realert = 0.0 if (alert.correction or not alert.fired) else noise.realert
        record = alert.model_dump(mode="json")
        common: dict[str, Any] = {
            "receiver": receiver,
            "dedup": key,
            "claim_ttl_s": self.options.claim_ttl_s,
            "realert_key": realert_key(self.prefix, receiver, alert),
            "realert_s": realert,
            "now": now,
        }
        if noise.group_wait > 0:
            entry = {"alert": record, "receiver": receiver, "route": route.name, "group_max": noise.group_max}
            result = await self.outbox.admit(**common, group=route.name, entry=entry, due=now + noise.group_wait)
        else:
            result = await self.outbox.admit(**common, message=self._message(receiver, route.name, [record], now))
        if result == "realert":
            log.info(
                "realert: %s for %s went to %s less than %s ago; dropped",
                alert.rule,
                alert.scope,
                receiver,
                format_duration(realert),
            )
        elif result == "duplicate":
            log.debug("duplicate: %s for %s was queued before", key, receiver)

    def _message(self, receiver: str, route: str, alerts: list[dict[str, Any]], now: float) -> dict[str, Any]:
        title = f"{len(alerts)} alerts" if len(alerts) > 1 else None
        return {
            "id": uuid.uuid4().hex,
            "dest": receiver,
            "receiver": receiver,
            "route": route,
            "title": title,
            "alerts": alerts,
            "created_at": now,
        }

    # --- groups -------------------------------------------------------------------------------

    async def flush_groups(self, *, force: bool = False) -> int:
        """Turn group buffers that are due (all when ``force``) into digest messages; return the messages queued."""
        groups = await self.outbox.due_groups(None if force else self.clock())
        if not groups:
            return 0
        silences = await self.silences.active()
        queued = 0
        for group in groups:
            raw = await self.outbox.group_entries(group)
            now = self.clock()
            kept: dict[str, list[dict[str, Any]]] = {}
            for text in raw:
                entry = _load_entry(text)
                if entry is None:
                    await self.outbox.count("dropped")
                    continue
                alert = Alert.model_validate(entry["alert"])
                if silenced_by(alert, silences, now) is not None:
                    await self.outbox.count("silenced")
                    continue
                if await self.inhibitor.muted_by(alert) is not None:
                    await self.outbox.count("inhibited")
                    continue
                kept.setdefault(entry["receiver"], []).append(entry)
            messages = []
            for receiver, entries in kept.items():
                for part in chunks(entries, int(entries[0].get("group_max", 20))):
                    messages.append(self._message(receiver, group, [e["alert"] for e in part], now))
            if await self.outbox.flush_group(group, raw, messages, now):
                queued += len(messages)
        return queued

    # --- sending ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Flush due groups and send every destination's queue until cancelled.

        It looks again as soon as ``submit`` stored alerts (also when a destination's loop that was running
        then ends, since it may have seen its queue empty just before) and otherwise every ``poll_s``.
        """
        failures = 0
        self._stopping = False
        wake = self._wake = asyncio.Event()
        try:
            while True:
                wake.clear()  # a submit from here on makes the next tick
                try:
                    await _guarded(self._tick(force_groups=False))
                    failures = 0
                except (RedisError, OSError) as exc:
                    failures += 1
                    pause = min(30.0, self.options.poll_s * 2**failures)
                    log.warning("delivery: Redis does not answer (%s); retrying in %.1fs", type(exc).__name__, pause)
                    await asyncio.sleep(pause)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.options.poll_s)
        finally:
            if self._wake is wake:
                self._wake = None
            await self._stop_tasks()

    async def drain(self, timeout: float) -> bool:
        """Deliver (or park) everything pending, flushing groups now; return False when ``timeout`` ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._stopping = False
        try:
            while True:
                await _guarded(self._tick(force_groups=True))
                if await _guarded(self._idle()):
                    await self._join_tasks(max(0.0, deadline - loop.time()))
                    return True
                if loop.time() >= deadline:
                    await self._stop_tasks()
                    await _guarded(self.refresh_stats())
                    return False
                await asyncio.sleep(min(self.options.poll_s, 0.05))
        except asyncio.CancelledError:
            await self._stop_tasks()
            raise

    async def close(self) -> None:
        """Stop sending and release the senders' connections."""
        await self._stop_tasks()
        for sender in self.senders.values():
            await sender.close()

    async def _idle(self) -> bool:
        return not await self.outbox.depths() and not await self.outbox.due_groups(None)

    async def _tick(self, *, force_groups: bool) -> None:
        await self._check_layout()
        await self.flush_groups(force=force_groups)
        for dest in await self.outbox.destinations():
            task = self._tasks.get(dest)
            if task is not None and not task.done():
                continue
            if task is not None and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.error("delivery to %s stopped: %s: %s", dest, type(exc).__name__, exc)
            task = asyncio.create_task(self._drain_dest(dest), name=f"deliver:{dest}")
            task.add_done_callback(functools.partial(self._dest_done, self._submits))
            self._tasks[dest] = task
        await self.refresh_stats()

    def _dest_done(self, submits: int, _task: asyncio.Task[None]) -> None:
        """Wake ``run`` when alerts were submitted while a destination's loop ran (and so was not restarted)."""
        if self._submits != submits:
            self._nudge()

    async def _join_tasks(self, timeout: float) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        await _guarded(self.refresh_stats())

    async def _stop_tasks(self) -> None:
        """Ask the destination loops to stop at their next safe point (a pause or an HTTP request) and wait."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        self._stopping = True
        try:
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
                for task in pending:  # a Redis call that does not return: the last resort
                    log.warning("%s did not stop within %.0fs; cancelling it", task.get_name(), STOP_GRACE_S)
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=STOP_GRACE_S)
        finally:
            self._tasks.clear()
            self._stopping = False

    async def _hold(self, dest: str, wait: float) -> bool:
        """Wait ``wait`` seconds holding the lease of ``dest``; False when the lease was lost or the loop stops."""
        end = self._wall() + wait
        renew = self._wall() + self.options.lease_s / 3
        while not self._stopping:
            left = end - self._wall()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, STOP_CHECK_S))
            if self._wall() >= renew:
                renew = self._wall() + self.options.lease_s / 3
                if not await self.outbox.lease(dest, self.token, self.options.lease_s):
                    return False
        return False

    async def _send(
        self, dest: str, sender: Sender, alerts: list[Alert], ident: str, message: Mapping[str, Any]
    ) -> Outcome | None:
        """Send, renewing the lease meanwhile; when told to stop first, abandon the request (None: outcome unknown)."""
        sending = asyncio.ensure_future(
            sender.send(alerts, outbox_id=ident, title=message.get("title"), lease=self._lease_check(dest))
        )
        renew = self._wall() + self.options.lease_s / 3
        while not sending.done():
            await asyncio.wait({sending}, timeout=STOP_CHECK_S)
            if not sending.done() and self._wall() >= renew:
                renew = self._wall() + self.options.lease_s / 3
                await self.outbox.lease(dest, self.token, self.options.lease_s)
            if self._stopping and not sending.done():
                sending.cancel()
                await asyncio.wait({sending}, timeout=STOP_GRACE_S)
                log.info(
                    "%s: stopped while posting %s; the next start checks or resends it", sender.label, _summary(message)
                )
                return None
        try:
            outcome = sending.result()
        except asyncio.CancelledError:
            return None
        except Exception as exc:  # a bug in building or sending: retried, then parked, never a loop
            log.exception("%s: sending %s failed unexpectedly", sender.label, _summary(message))
            return Outcome("retry", "unexpected_error", uncertain=True, detail=type(exc).__name__)
        return None if outcome.reason == LEASE_LOST else outcome  # nothing was posted: the lease holder sends it

    async def _drain_dest(self, dest: str) -> None:
        """Send the queue of ``dest`` in order while this worker holds its lease."""
        token, lease = self.token, self.options.lease_s
        if not await self.outbox.lease(dest, token, lease):
            return
        try:
            while not self._stopping:
                if not await self.outbox.lease(dest, token, lease):
                    log.warning("%s: another worker took over its delivery", dest)
                    return
                head = await self.outbox.head(dest)
                if head is None:
                    return
                ident, message = head
                sender = self.senders.get(dest)
                now = self._wall()
                if message is None:
                    log.error("%s: queued id %s has no message; dropped", dest, ident)
                    await self.outbox.drop(dest, ident, token, now=now)
                    continue
                if sender is None:
                    await self._park(dest, ident, Outcome("permanent", "receiver_removed"), f"receiver {dest}")
                    continue
                next_at, paced_at = await self.outbox.gates(dest)
                wait = max(next_at, paced_at + sender.pace) - now
                if wait > 0:
                    if not await self._hold(dest, wait):
                        return
                    continue
                try:
                    alerts = [Alert.model_validate(a) for a in message["alerts"]]
                except (ValidationError, KeyError, TypeError) as exc:
                    detail = f"{type(exc).__name__}: not an alert message"
                    await self._park(dest, ident, Outcome("permanent", "invalid_message", detail=detail), sender.label)
                    continue
                previous = await self.outbox.inflight(ident)
                if previous is not None and await self._recover(dest, ident, message, sender, previous):
                    continue
                attempt = await self.outbox.attempts(ident) + 1
                if not await self.outbox.begin(dest, ident, token, now=self._wall(), attempt=attempt):
                    continue
                outcome = await self._send(dest, sender, alerts, ident, message)
                if outcome is None:
                    return
                await self._settle(dest, ident, message, sender, outcome)
        finally:
            await self.outbox.release(dest, token)

    def _lease_check(self, dest: str) -> LeaseCheck:
        """Return the senders' hook that renews this worker's lease on ``dest``: False once another worker holds it."""

        async def check() -> bool:
            return await _guarded(self.outbox.lease(dest, self.token, self.options.lease_s))

        return check

    async def _recover(
        self, dest: str, ident: str, message: Mapping[str, Any], sender: Sender, previous: Mapping[str, Any]
    ) -> bool:
        """Handle a message whose last attempt got no answer; True when it is known delivered (and acked)."""
        channel_id = await self.outbox.channel_id(dest) if sender.kind == "bot" else None
        started = float(previous.get("started", 0.0))
        confirmed = await sender.confirm(ident, started, channel_id=channel_id, lease=self._lease_check(dest))
        if confirmed:
            await self.outbox.ack(dest, ident, self.token, now=self._wall(), rule=_rule(message), confirmed=True)
            log.info(
                "%s: %s was posted by an interrupted attempt (found in the channel); not sending it again",
                sender.label,
                _summary(message),
            )
            return True
        if confirmed is None and sender.kind != "console":
            log.warning(
                "%s: the last attempt to post %s got no answer; sending it again (if Slack had posted it, "
                "the channel shows it twice)",
                sender.label,
                _summary(message),
            )
        return False

    async def _settle(
        self, dest: str, ident: str, message: Mapping[str, Any], sender: Sender, outcome: Outcome
    ) -> None:
        """Ack, park or defer the head message of ``dest`` after an attempt."""
        now = self._wall()
        if outcome.kind == "ok":
            done = await self.outbox.ack(dest, ident, self.token, now=now, rule=_rule(message))
            if outcome.channel_id and sender.kind == "bot":
                await self.outbox.set_channel_id(dest, outcome.channel_id)
            if done == 1:
                log.info("%s: sent %s", sender.label, _summary(message))
            else:
                log.warning("%s: sent %s, but another worker had taken over the destination", sender.label, ident)
            return
        if outcome.kind == "permanent":
            await self._park(dest, ident, outcome, sender.label)
            return
        limited = outcome.reason == "rate_limited"
        attempts = await self.outbox.attempts(ident) + (0 if limited else 1)
        detail = f": {outcome.detail}" if outcome.detail else ""
        if not limited and attempts >= self.options.max_attempts:
            last = f"last: {outcome.reason}{detail}"
            await self._park(
                dest, ident, Outcome("permanent", "retries_exhausted", outcome.status, detail=last), sender.label
            )
            return
        if outcome.retry_after is not None:
            delay = min(outcome.retry_after, MAX_RETRY_AFTER_S)
        else:
            delay = self.backoff(max(1, attempts))
        await self.outbox.defer(dest, ident, until=now + delay, count=not limited, keep_inflight=outcome.uncertain)
        if limited:
            log.warning(
                "%s: Slack rate-limits this channel; waiting %.1fs before the next message", sender.label, delay
            )
        else:
            status = f", HTTP {outcome.status}" if outcome.status else ""
            log.warning(
                "%s: attempt %d of %d for %s failed (%s%s%s); retrying in %.1fs (%d left)",
                sender.label,
                attempts,
                self.options.max_attempts,
                _summary(message),
                outcome.reason,
                status,
                detail,
                delay,
                self.options.max_attempts - attempts,
            )

    async def _park(self, dest: str, ident: str, outcome: Outcome, label: str) -> None:
        await self.outbox.park(
            dest,
            ident,
            self.token,
            now=self._wall(),
            reason=outcome.reason,
            detail=outcome.detail,
            status=outcome.status,
        )
        status = f", HTTP {outcome.status}" if outcome.status else ""
        detail = f"; {outcome.detail}" if outcome.detail else ""
        log.error(
            "%s: message %s parked (%s%s%s). To fix: %s. Then requeue it with `signal-monitor outbox requeue %s`.",
            label,
            ident,
            outcome.reason,
            status,
            detail,
            hint(outcome.reason),
            ident,
        )

    def backoff(self, attempt: int) -> float:
        """Return the wait before retry ``attempt`` (see ``backoff_delay``)."""
        return backoff_delay(attempt, base=self.options.retry_base_s, cap=self.options.retry_max_s, jitter=self.rng())

    # --- status -------------------------------------------------------------------------------

    async def refresh_stats(self) -> dict[str, Any]:
        """Read the outbox, the counters and the silences from Redis; return (and keep) the snapshot."""
        depths = await self.outbox.depths()
        counts = await self.outbox.counts()
        parked_now = int(await self.outbox.client.hlen(self.outbox.key("parked")))
        grouped = await self.outbox.group_depth()
        silences = await self.silences.active()
        last = await self.outbox.last_sent()
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
        """Return the last snapshot (refreshed by ``run`` every tick and by ``drain``; call refresh_stats to force)."""
        return dict(self._snapshot)


def _rule(message: Mapping[str, Any]) -> str:
    alerts = message.get("alerts") or []
    return str(alerts[0].get("rule", "")) if len(alerts) == 1 else f"digest of {len(alerts)}"


def _load_entry(text: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "alert" in entry and "receiver" in entry else None
