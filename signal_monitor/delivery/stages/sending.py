"""Sending: each destination's queue is sent in order, one message at a time, by the worker holding its lease.

A destination's loop waits out its pacing and retry gates holding the lease, checks with the receiver
whether an interrupted attempt got through before sending again, acks what was delivered, defers a
transient failure with a backoff (or Slack's Retry-After) and parks a permanent one, or one out of attempts.
A bot-token post's ``ts`` is remembered per alert, and the alert's withdrawal is sent as a reply under it.
Asked to stop, a loop stops at its next pause or abandons its request (the next start checks or resends it).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from signal_monitor.delivery.note import is_note, send_note
from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.slack import LEASE_LOST, LeaseCheck, Outcome, Sender, hint, original_key
from signal_monitor.delivery.stages.guard import STOP_GRACE_S, guarded
from signal_monitor.delivery.stages.message import rule_of, summary
from signal_monitor.rules.alert import Alert

log = logging.getLogger("signal_monitor.delivery")

MAX_RETRY_AFTER_S = 3600.0
STOP_CHECK_S = 0.1
#: How long a stop lets a request in flight finish: its answer settles the message, where an abandoned
#: webhook post is sent again by the next start (and may show twice).
POST_FINISH_S = 2.0
POST_TTL_S = 14 * 86400.0  #: how long the ts of a post is kept for its withdrawal to reply under


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Return the wait before retry ``attempt``: ``base * 2**(attempt-1)`` capped at ``cap``, times 0.5 + jitter/2."""
    raw: float = base * 2.0 ** (max(1, attempt) - 1)
    return min(cap, raw) * (0.5 + 0.5 * jitter)


class Sending:
    """Runs one loop per destination that sends its queue while this worker holds the destination's lease."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        senders: Mapping[str, Sender],
        token: str,
        lease_s: float,
        max_attempts: int,
        retry_base_s: float,
        retry_max_s: float,
        rng: Callable[[], float] = random.random,
        post_ttl_s: float = POST_TTL_S,
    ) -> None:
        self.outbox = outbox
        self.post_ttl_s = post_ttl_s
        self.senders = senders
        self.token = token
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.rng = rng
        self.stopping = False  # set while stop() waits for the loops: they end at their next safe point
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # dest -> monotonic time a ``begin`` that renewed this worker's lease was sent (see ``_lease_check``)
        self._renewed: dict[str, float] = {}

    def _wall(self) -> float:
        return time.time()

    def backoff(self, attempt: int) -> float:
        """Return the wait before retry ``attempt`` (see ``backoff_delay``)."""
        return backoff_delay(attempt, base=self.retry_base_s, cap=self.retry_max_s, jitter=self.rng())

    # --- the loops --------------------------------------------------------------------------------

    def start(self, dest: str, *, on_done: Callable[[asyncio.Task[None]], None]) -> None:
        """Start the loop of ``dest`` unless it runs; log how the previous one ended if it failed."""
        task = self._tasks.get(dest)
        if task is not None and not task.done():
            return
        if task is not None and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("delivery to %s stopped: %s: %s", dest, type(exc).__name__, exc)
        task = asyncio.create_task(self.drain_dest(dest), name=f"deliver:{dest}")
        task.add_done_callback(on_done)
        self._tasks[dest] = task

    async def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the running loops to end by themselves."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def stop(self) -> None:
        """Ask the destination loops to stop at their next safe point (a pause or an HTTP request) and wait."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        self.stopping = True
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
            self.stopping = False

    async def drain_dest(self, dest: str) -> None:
        """Send the queue of ``dest`` in order while this worker holds its lease."""
        token, lease = self.token, self.lease_s
        first = True
        try:
            while not self.stopping:
                turn = await self.outbox.turn(dest, token, lease)
                if not turn.held:
                    if not first:
                        log.warning("%s: another worker took over its delivery", dest)
                    return
                first = False
                if turn.ident is None:
                    return
                ident, message = turn.ident, turn.message
                sender = self.senders.get(dest)
                now = self._wall()
                if message is None:
                    log.error("%s: queued id %s has no message; dropped", dest, ident)
                    await self.outbox.drop(dest, ident, token, now=now)
                    continue
                if sender is None:
                    await self._park(dest, ident, Outcome("permanent", "receiver_removed"), f"receiver {dest}")
                    continue
                wait = max(turn.next_at, turn.paced_at + sender.pace) - now
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
                thread_ts = await self._thread_of(dest, sender, alerts)
                previous = turn.inflight
                if previous is not None and await self._recover(dest, ident, message, sender, previous, thread_ts):
                    continue
                attempt = turn.attempts + 1
                sent_at = time.monotonic()
                if not await self.outbox.begin(dest, ident, token, now=self._wall(), attempt=attempt, ttl_s=lease):
                    continue
                self._renewed[dest] = sent_at
                outcome = await self._send(dest, sender, alerts, ident, message, thread_ts)
                if outcome is None:
                    return
                await self._settle(dest, ident, message, sender, outcome, alerts)
        finally:
            await self.outbox.release(dest, token)

    # --- one message ------------------------------------------------------------------------------

    async def _hold(self, dest: str, wait: float) -> bool:
        """Wait ``wait`` seconds holding the lease of ``dest``; False when the lease was lost or the loop stops."""
        end = self._wall() + wait
        renew = self._wall() + self.lease_s / 3
        while not self.stopping:
            left = end - self._wall()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, STOP_CHECK_S))
            if self._wall() >= renew:
                renew = self._wall() + self.lease_s / 3
                if not await self.outbox.lease(dest, self.token, self.lease_s):
                    return False
        return False

    async def _thread_of(self, dest: str, sender: Sender, alerts: list[Alert]) -> str | None:
        """Return the ts of the post a message replies under: a lone withdrawal's alert's first post, if known."""
        if sender.kind != "bot" or len(alerts) != 1 or alerts[0].fired:
            return None
        return await self.outbox.post_ts(dest, original_key(alerts[0]))

    async def _send(
        self,
        dest: str,
        sender: Sender,
        alerts: list[Alert],
        ident: str,
        message: Mapping[str, Any],
        thread_ts: str | None = None,
    ) -> Outcome | None:
        """Send, renewing the lease meanwhile; when told to stop, let the request finish for ``POST_FINISH_S``,
        then abandon it (None: outcome unknown)."""
        if is_note(message):  # the week's note: its own message, changed in place on a revision
            job = send_note(self.outbox, sender, dest, ident, message, lease=self._lease_check(dest))
        else:
            job = sender.send(
                alerts, outbox_id=ident, title=message.get("title"), lease=self._lease_check(dest), thread_ts=thread_ts
            )
        sending = asyncio.ensure_future(job)
        renew = self._wall() + self.lease_s / 3
        while not sending.done():
            await asyncio.wait({sending}, timeout=STOP_CHECK_S)
            if not sending.done() and self._wall() >= renew:
                renew = self._wall() + self.lease_s / 3
                await self.outbox.lease(dest, self.token, self.lease_s)
            if self.stopping and not sending.done():
                await asyncio.wait({sending}, timeout=POST_FINISH_S)
                if sending.done():
                    break
                sending.cancel()
                await asyncio.wait({sending}, timeout=STOP_GRACE_S)
                log.info(
                    "%s: stopped while posting %s; the next start checks or resends it", sender.label, summary(message)
                )
                return None
        try:
            outcome = sending.result()
        except asyncio.CancelledError:
            return None
        except Exception as exc:  # a bug in building or sending: retried, then parked, never a loop
            log.exception("%s: sending %s failed unexpectedly", sender.label, summary(message))
            return Outcome("retry", "unexpected_error", uncertain=True, detail=type(exc).__name__)
        return None if outcome.reason == LEASE_LOST else outcome  # nothing was posted: the lease holder sends it

    def _lease_check(self, dest: str) -> LeaseCheck:
        """Return the senders' hook that renews this worker's lease on ``dest``: False once another worker holds it.

        The first check after ``begin`` renewed the lease answers without a round trip while less than a
        third of the lease has passed since (the lease then has two thirds of its time left: no other
        worker can hold it); later ones, and one after a longer pause, ask Redis.
        """

        async def check() -> bool:
            renewed = self._renewed.pop(dest, None)
            if renewed is not None and time.monotonic() - renewed < self.lease_s / 3:
                return True
            return await guarded(self.outbox.lease(dest, self.token, self.lease_s))

        return check

    async def _recover(
        self,
        dest: str,
        ident: str,
        message: Mapping[str, Any],
        sender: Sender,
        previous: Mapping[str, Any],
        thread_ts: str | None = None,
    ) -> bool:
        """Handle a message whose last attempt got no answer; True when it is known delivered (and acked).

        A reply (``thread_ts``) is looked for in its thread. A post found this way has no ``ts`` remembered,
        so a later withdrawal of its alerts is a message of its own.
        """
        channel_id = await self.outbox.channel_id(dest) if sender.kind == "bot" else None
        started = float(previous.get("started", 0.0))
        confirmed = await sender.confirm(
            ident, started, channel_id=channel_id, lease=self._lease_check(dest), thread_ts=thread_ts
        )
        if confirmed:
            await self.outbox.ack(dest, ident, self.token, now=self._wall(), rule=rule_of(message), confirmed=True)
            log.info(
                "%s: %s was posted by an interrupted attempt (found in the channel); not sending it again",
                sender.label,
                summary(message),
            )
            return True
        if confirmed is None and sender.kind != "console":
            log.warning(
                "%s: the last attempt to post %s got no answer; sending it again (if Slack had posted it, "
                "the channel shows it twice)",
                sender.label,
                summary(message),
            )
        return False

    async def _settle(
        self,
        dest: str,
        ident: str,
        message: Mapping[str, Any],
        sender: Sender,
        outcome: Outcome,
        alerts: Sequence[Alert] = (),
    ) -> None:
        """Ack, park or defer the head message of ``dest`` after an attempt."""
        now = self._wall()
        if outcome.kind == "ok":
            if outcome.ts and sender.kind == "bot":  # before the ack: a withdrawal queued next finds it
                firing = [original_key(a) for a in alerts if a.fired]
                await self.outbox.remember_post(dest, firing, outcome.ts, ttl_s=self.post_ttl_s)
            done = await self.outbox.ack(dest, ident, self.token, now=now, rule=rule_of(message))
            if outcome.channel_id and sender.kind == "bot":
                await self.outbox.set_channel_id(dest, outcome.channel_id)
            if done == 1:
                log.info("%s: sent %s", sender.label, summary(message))
            else:
                log.warning("%s: sent %s, but another worker had taken over the destination", sender.label, ident)
            return
        if outcome.kind == "permanent":
            await self._park(dest, ident, outcome, sender.label)
            return
        limited = outcome.reason == "rate_limited"
        attempts = await self.outbox.attempts(ident) + (0 if limited else 1)
        detail = f": {outcome.detail}" if outcome.detail else ""
        if not limited and attempts >= self.max_attempts:
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
                self.max_attempts,
                summary(message),
                outcome.reason,
                status,
                detail,
                delay,
                self.max_attempts - attempts,
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
