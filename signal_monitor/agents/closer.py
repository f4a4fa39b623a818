"""Period closing: an event-time watermark over the input partitions decides when a day or a week is
complete; a closed period's aggregates become series points, then the rules run once.

The watermark is the minimum over the input partitions of the newest event time
each has applied. A partition with messages not applied yet (its end offset, as
its consumer last saw it, is past its applied offset) always counts, and holds
everything back until its first batch is applied; a caught-up partition silent
(wall clock) for longer than ``idle_s`` stops counting. When every partition is silent, nothing more is on its way: the
watermark is the newest event time of all plus the grace, so the period of the
last event (the Friday close quote, say) closes on its own. A replay sets the
watermark itself (``clock``), since its events arrive in time order. Live, the
watermark is never ahead of the wall clock: events stamped ahead of it (up to
``SM_FUTURE_S``) cannot close a period before its close has happened. A day closes
once the watermark passes its session's close (:mod:`signal_monitor.exchange_calendar`:
16:00 US/Eastern, 13:00 on an early close) plus the grace; a week closes with its last
session (Thursday when Good Friday is a holiday). Each calendar day is closed under a lease in the
store, so one worker does it, and the shared progress moves only once it is
done: a worker that dies mid-close is taken over when its lease runs out.

Before a day's periods are closed, a marker ``closing:<day>`` (in the closer's
rule state) records that the close started, and then which of its granularities
were closed, alerts handed on included. Whoever finds the marker of a day it is
about to close takes over an unfinished close: it closes the granularities not
recorded as done with the rule engine's ``resume``, so the alerts the previous
holder had evaluated, and perhaps not handed on, are handed on again (the same
alerts; the delivery outbox's claim on their dedup keys keeps Slack to one post).
The markers stay, one small entry per calendar day closed.

Redis being unreachable (``retry_transient``) pauses ``note`` and ``advance``, which
retry with backoff instead of failing the agent; a close retried by the closer
that holds its lease resumes it the same way.

An event that lands in a closed period (inside the lateness allowance) reopens
it: its points are recomputed and the rules re-evaluated, which can emit
corrections. The reopened periods are kept in the store, not in a worker's
memory, so any worker's ``advance`` recomputes them. They are listed by the
apply itself, in the same atomic step as the batch: before a close reads a
day's aggregates, it records in the mark of every input partition that the
close of that day started (``State.mark_closing``); a batch applied from then on
that changes a period closed by that day or earlier (a close in progress counts
as closed) adds it to its partition's reopen entries (under the partition's hash
tag, so one slot on a cluster): period -> the offset of the newest batch that
reopened it. A batch applied before the marker is in what the close reads. So a
worker that dies right after an apply loses no reopen, and a late batch that
lands while its period is being closed reopens it.
Per period a record ``recompute:<granularity>:<period>`` holds, per partition,
the offset up to which the period was recomputed (``done``), and the offsets of a
recompute started and not finished (``started``). A period is due while a
partition lists it at an offset past its ``done``. ``advance`` recomputes a due
period under a lease named after the offsets it covers (a newer batch makes a new
lease, and a recompute of its own), marks it started, recomputes its points,
re-evaluates the rules and hands the corrections on, and only then records it
done. A worker that dies in between is taken over once the lease runs out: the
next recompute finds the period started and re-evaluates with the rule engine's
``resume``, which hands on again the corrections the dead worker had claimed
(same dedup keys). Reading the due periods drops the entries recomputed since
(and still reads the reopen lists that earlier versions kept in the closer's rule
state, ``reopen:<topic>:<partition>``).
A closer reads the reopen entries on every ``advance`` after one of its batches
reopened a period, or while periods are due that it could not take; otherwise at
most every ``reopen_scan_s``, so a period reopened by a worker that died before
recomputing it waits that long for another worker.

With a ``provisional`` watch (:mod:`signal_monitor.agents.provisional`), the running
week (the week of the watermark, not closed yet) is evaluated at the watch's cadence
and after each of its days closes, under the lease on the next day to close (the
cadence) or the lease of the day just closed: the same discipline as a close, so one
worker evaluates, and a close and an evaluation never overlap. The week's close
supersedes the findings handed on before its alerts are handed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from signal_monitor.periods import EASTERN, Granularity, close_at, week_close_day, week_days, week_of
from signal_monitor.series import aggregate_exposures, flow_metrics, points_of, series_id
from signal_monitor.state.base import LEASE_HOME, Batch, Fence, FenceRefused, State, fenced
from signal_monitor.state.retry import is_transient, retry_transient
from signal_monitor.tasks import together

if TYPE_CHECKING:
    from signal_monitor.agents.provisional import ProvisionalWatch

log = logging.getLogger(__name__)

#: rule-state id under which the closer keeps its progress: the leases' home, so its writes check the lease
CLOSER_STATE = LEASE_HOME
#: how long the record that an alert was handed on (or claimed for it) lasts: as the rule engine's claims
EMIT_TTL_S = 30 * 86400.0
#: The longest an ingest agent waits for a close under way before it handles its next batch.
MAKE_WAY_S = 0.5
#: A batch that leaves at most this many messages of its partition unread (as far as its consumer knows)
#: is at the head of it: the worker is live there, not catching up on a backlog (where throughput goes
#: first, see ``make_way``). Messages, not events: 20 envelopes of 500 are a backlog of 10,000 events.
AT_HEAD_LAG = 20


class Evaluator(Protocol):
    """What the closer needs of the rule engine."""

    async def evaluate(self, period: date, granularity: Granularity, *, resume: bool = False) -> list[Any]:
        """Evaluate the rules of a closed period; return the alerts that fire.

        ``resume``: the close was started before and not finished; also return the alerts
        of the rules already evaluated for the period.
        """

    async def reevaluate(self, period: date, granularity: Granularity, *, resume: bool = False) -> list[Any]:
        """Evaluate a period again after late data; return corrections.

        ``resume``: a recompute of the period was started and not finished; also return
        the corrections already claimed for it.
        """


AlertSink = Callable[[Sequence[Any]], Awaitable[None]]


def _pkey(period: date, granularity: Granularity) -> str:
    return f"{granularity}:{period.isoformat()}"


def _day_of(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).astimezone(EASTERN).date()


class PeriodCloser:
    """Closes days and weeks as the watermark passes them and runs the rules on each."""

    def __init__(
        self,
        state: State,
        *,
        topics: Sequence[str],
        evaluator: Evaluator | None,
        emit: AlertSink,
        grace_s: float,
        idle_s: float,
        claim_ttl_s: float = 60.0,
        retry_max_s: float = 30.0,
        reopen_scan_s: float = 5.0,
        clock: Callable[[], float | None] | None = None,
        provisional: ProvisionalWatch | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.topics = list(topics)
        self.evaluator = evaluator
        self.emit = emit
        self.grace_s = grace_s
        self.idle_s = idle_s
        self.claim_ttl_s = claim_ttl_s
        self.retry_max_s = retry_max_s
        self.reopen_scan_s = reopen_scan_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.provisional = provisional if provisional is not None and provisional.rules else None
        self._lock = asyncio.Lock()
        # recompute leases this closer took, and their fencing tokens
        self._held: dict[str, int] = {}
        # when (monotonic) the reopen lists may be read again without cause: every advance reads them
        # while this closer noted a reopen since, or the last read left periods due; otherwise every
        # ``reopen_scan_s``, which is how soon the periods another worker noted and did not recompute are taken
        self._quiet_until = float("-inf")
        # the day whose lease this closer took, and its fencing token
        self._lease: tuple[date, int] | None = None
        self._tally = 0  # periods closed or recomputed by the current advance
        self._calendar = False  # the progress is known to have started (``note`` need not read it)
        self._wake = asyncio.Event()
        # clear while a close may be under way in this worker: the ingest agents wait for it (``make_way``)
        self._way = asyncio.Event()
        self._way.set()
        self._at_head = True  # whether the last batch noted left (almost) nothing of its partition unread
        self.ingest_waits = 0  # batches an ingest agent held back while a close was under way
        # what the last read of the marks found: the lowest watermark of the partitions that count and
        # those at it (None: none counted, or a replay's clock); when the next close is due; the partitions
        # this worker applied batches to since (see ``_unchanged``)
        self._floor: tuple[float, frozenset[tuple[str, int]]] | None = None
        self._next_due = float("-inf")
        self._touched: set[tuple[str, int]] = set()
        self.wakes_skipped = 0  # wake-ups whose batches could not have made a close due (no read of the marks)
        self.store_retries = 0
        self.leases_lost = 0  # closes and recomputes stopped because another worker took their lease over
        self.emits_skipped = 0  # alerts found handed on already by a previous holder of the close
        self.failures = 0  # advances that failed on an unexpected error (logged; the next tick retries)
        self.closed_days = 0
        self.closed_weeks = 0

    async def watermark(self) -> float | None:
        """Return the event-time watermark over the input partitions (None before any data), at most the wall clock."""
        if self.clock is not None:
            return self.clock()
        now = self.wall_clock()
        active: dict[tuple[str, int], float] = {}
        every: list[float] = []
        self._touched.clear()  # what was applied before this read is in it
        for part, mark in (await self.state.marks_of(self.topics)).items():
            if mark.pending:
                active[part] = mark.watermark
                continue
            if not mark.watermark:
                continue
            every.append(mark.watermark)
            if now - mark.updated <= self.idle_s:
                active[part] = mark.watermark
        if active:
            low = min(active.values())
            self._floor = (low, frozenset(part for part, wm in active.items() if wm == low))
            return min(low, now) if low > 0 else None
        self._floor = None
        return min(max(every) + self.grace_s, now) if every else None

    def _unchanged(self) -> bool:
        """Whether the batches applied since the last advance cannot have made a period due.

        The watermark is the lowest of the partitions that count. A batch raises its own
        partition's watermark (or makes a partition count that did not, which can only lower
        the lowest), so batches of partitions that were above the lowest at the last read leave
        it where it was, below the next close: the advance they would wake has nothing to do.
        What moves the watermark otherwise — a batch of a partition at the lowest (this
        worker's or another's: that worker's closer is woken by it), partitions falling silent,
        all of them being silent, the wall clock — is seen by the advance of that worker or
        of the next tick, at most ``interval_s`` later.
        """
        if self.clock is not None or self._floor is None or time.monotonic() >= self._quiet_until:
            return False
        low, lowest = self._floor
        return low < self._next_due and not (self._touched & lowest)

    async def _progress(self) -> dict[str, Any]:
        return await self.state.get_rule_state(CLOSER_STATE, "progress")

    async def note(self, batch: Batch) -> None:
        """Record a batch: start the calendar at its first day; recompute soon the periods it reopened.

        Waits for Redis while it is unreachable.
        """
        await self._retrying(lambda: self._note(batch), "record a batch for closing periods")

    async def _note(self, batch: Batch) -> None:
        if batch.earliest and not self._calendar:
            progress = await self._progress()
            if "day" not in progress:
                first = _day_of(batch.earliest)
                progress = {"day": (first - timedelta(days=1)).isoformat()}
                await self.state.set_rule_state(CLOSER_STATE, "progress", progress)
            self._calendar = True
        self._touched.add((batch.topic, batch.partition))
        self._at_head = batch.highwater < 0 or batch.highwater - batch.last_offset - 1 <= AT_HEAD_LAG
        if self._at_head and self._next_due > float("-inf") and batch.watermark >= self._next_due:
            self._way.clear()  # this batch may have made a close due: the next batches wait for it
        if batch.reopened:
            # listed by the apply itself (see mark_closing); recompute them at the next advance
            self._quiet_until = float("-inf")

    async def advance(self) -> int:
        """Close every period the watermark has passed; return how many closed (or were recomputed).

        Waits for Redis while it is unreachable, then goes on where it stopped.
        """
        async with self._lock:
            self._tally = 0
            try:
                await self._retrying(self._advance, "close periods")
            except FenceRefused as exc:
                # this closer's lease ran out (a stall, a pause) and another worker took the close over:
                # what this one would write next is refused, so it stops; the holder finishes the close
                self.leases_lost += 1
                log.warning("stopping a close: %s (another worker took it over)", exc)
                if self._lease is not None and exc.fence.name == f"close:{self._lease[0].isoformat()}":
                    self._lease = None
                self._held.pop(exc.fence.name, None)
            return self._tally

    async def make_way(self) -> None:
        """Wait while a close may be under way in this worker, at most ``MAKE_WAY_S``.

        An ingest agent calls this before each batch. A close is a chain of Redis round trips
        from the watermark to the Slack post; batches handled meanwhile (their decoding holds
        the event loop, their apply scripts hold Redis) would stretch each of them. Only a
        worker at the head of its partitions waits (``AT_HEAD_LAG``): one catching up on a
        backlog closes a day of history after another and is better off not waiting for each.
        Live, closes come once a day, so the ingest waits seldom; and never longer than
        ``MAKE_WAY_S``, so a close that waits for Redis does not hold the agents back with it.
        """
        if self._way.is_set():
            return
        self.ingest_waits += 1
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._way.wait(), MAKE_WAY_S)

    def wake(self) -> None:
        """Ask :meth:`run` to advance now (the ingest agents call this after a batch, and return at once).

        The advance is skipped when the batches noted since the last one cannot have made a
        period due (:meth:`_unchanged`).
        """
        self._wake.set()

    async def run(self, interval_s: float = 1.0) -> None:
        """Advance whenever woken, and at least every ``interval_s``, until cancelled.

        The one place periods are closed in a worker, off the ingest agents' path (they only make
        way for a close while live, see :meth:`make_way`): a rebalance does not wait for a close,
        and a close that fails is handled the same way whatever woke it (:meth:`tick`).
        """
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval_s)
                woken = True
            except asyncio.TimeoutError:
                woken = False
            self._wake.clear()
            await (self.woken() if woken else self.tick())
            if not self._wake.is_set():  # else a batch applied meanwhile may have made another close due
                self._way.set()
            if self.provisional is not None and self.provisional.due(time.monotonic()):
                self.provisional.schedule(time.monotonic())
                await self.watch_tick()

    async def woken(self) -> int:
        """Advance after a wake-up (:meth:`tick`), unless the batches noted since cannot have made a period due."""
        if self._unchanged():
            self.wakes_skipped += 1
            return 0
        return await self.tick()

    async def tick(self) -> int:
        """Advance once; an unexpected error is logged and counted, and the next tick retries."""
        try:
            return await self.advance()
        except Exception:
            self.failures += 1
            log.exception("closing periods failed; retrying on the next tick")
            return 0

    async def watch_running_week(self) -> int:
        """Evaluate the provisional rules on the running week; return how many findings were handed on.

        Under the lease on the next day to close: none when another worker holds it (it is closing
        the day, or evaluating the week), when the closer is behind, or when the watermark's week
        is due to close. Waits for Redis while it is unreachable.
        """
        if self.provisional is None:
            return 0
        async with self._lock:
            try:
                found: int = await self._retrying(self._watch_running, "evaluate the running week")
                return found
            except FenceRefused as exc:
                self._lost(exc)
                return 0

    async def watch_tick(self) -> int:
        """Evaluate the running week once; an unexpected error is logged and counted (the next cadence retries)."""
        try:
            return await self.watch_running_week()
        except Exception:
            self.failures += 1
            log.exception("evaluating the running week failed; retrying at the next cadence")
            return 0

    def _lost(self, exc: FenceRefused) -> None:
        self.leases_lost += 1
        log.warning("stopping a provisional evaluation: %s (another worker took the lease over)", exc)
        if self._lease is not None and exc.fence.name == f"close:{self._lease[0].isoformat()}":
            self._lease = None

    async def _watch_running(self) -> int:
        wm = await self.watermark()
        progress = await self._progress()
        if wm is None or "day" not in progress:
            return 0
        day = date.fromisoformat(progress["day"]) + timedelta(days=1)  # the next day to close
        week = week_of(day)
        if day.weekday() > 4 or not self._running(week, wm):
            return 0
        fence = await self._take(day)  # kept: this closer closes the day with it when it is due
        if fence is None:
            return 0
        found: int = await self._under(fence, lambda: self._watch(week))
        return found

    def _running(self, week: date, wm: float) -> bool:
        """Whether ``week`` is the running week: it contains the watermark, which has not reached its close."""
        return week_of(_day_of(wm)) == week and wm < close_at(week, "week").timestamp() + self.grace_s

    async def _watch(self, week: date) -> int:
        """Evaluate the provisional rules on ``week`` with its points so far; hand the findings on (under the fence)."""
        assert self.provisional is not None
        points = await self._week_points(week)
        findings = await self.provisional.evaluate(self.state, week, points)
        return await self.provisional.hand_on(self.state, week, findings, self.emit)

    async def _watch_after(self, day: date, wm: float) -> None:
        """After a day of a running week closed (before its last session): evaluate the week, under the day's fence."""
        if self.provisional is None or day.weekday() > 4 or day >= week_close_day(week_of(day)) or not self._running(week_of(day), wm):
            return
        try:
            await self._watch(week_of(day))
        except FenceRefused:
            raise
        except Exception as exc:  # the day is closed: a failed evaluation must not hold the next close back
            if is_transient(exc):
                raise
            self.failures += 1
            log.exception("evaluating the week of %s after its close failed", day.isoformat())

    async def _retrying(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Run ``call`` until it returns, pausing with backoff while Redis is unreachable; other errors raise."""
        return await retry_transient(call, what, max_s=self.retry_max_s, on_retry=self._count_retry, logger=log)

    def _count_retry(self) -> None:
        self.store_retries += 1

    async def _advance(self) -> None:
        self._next_due = float("-inf")  # until this advance ends with nothing left to close
        self._tally += await self._redo_reopened()
        wm, progress = await together(self.watermark(), self._progress())
        if "day" not in progress:
            self._calendar = False
            return
        day = date.fromisoformat(progress["day"]) + timedelta(days=1)
        due = close_at(day, "day").timestamp() + self.grace_s
        while wm is not None and due <= wm:
            if self._at_head:
                self._way.clear()
            # a lease on the calendar day: another worker holds it while it closes the day (and its week),
            # or held it when it died, until the lease runs out; either way, try again on a later tick
            fence = await self._take(day)
            if fence is None:
                return
            await self._under(fence, lambda: self._close_and_record(day, wm))
            self._lease = None
            day += timedelta(days=1)
            due = close_at(day, "day").timestamp() + self.grace_s
        self._next_due = due

    async def _close_and_record(self, day: date, wm: float) -> None:
        await self._close_day(day)
        # progress moves only once the day is closed, so a closer that dies mid-way is taken over;
        # under the fence: a closer whose lease was taken over cannot move it (back) any more
        await self.state.set_rule_state(CLOSER_STATE, "progress", {"day": day.isoformat()})
        await self._watch_after(day, wm)

    async def _take(self, day: date) -> Fence | None:
        """Take the lease on closing ``day``; also the one this closer still holds from an attempt that failed."""
        name = f"close:{day.isoformat()}"
        if self._lease is not None and self._lease[0] == day:
            if await self.state.renew(name, self._lease[1], ttl_s=self.claim_ttl_s):
                return Fence(name, self._lease[1])
            self._lease = None
        token = await self.state.lease(name, ttl_s=self.claim_ttl_s)
        if token is None:
            return None
        self._lease = (day, token)
        return Fence(name, token)

    async def _under(self, fence: Fence, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``work`` with its state writes fenced by ``fence``, renewing the lease meanwhile."""
        renewal = asyncio.create_task(self._renew(fence), name=f"renew {fence.name}")
        try:
            with fenced(fence):
                return await work()
        finally:
            renewal.cancel()

    async def _renew(self, fence: Fence) -> None:
        """Renew a lease every third of its time until cancelled or lost."""
        while True:
            await asyncio.sleep(self.claim_ttl_s / 3)
            try:
                held = await self.state.renew(fence.name, fence.token, ttl_s=self.claim_ttl_s)
            except Exception as exc:  # Redis away: try again; the lease may run out meanwhile
                log.warning("could not renew the lease %s: %s", fence.name, exc)
                continue
            if not held:
                log.warning("lost the lease %s: another worker may take its work over; its writes are refused", fence.name)
                return

    async def _hand_on(self, alerts: Sequence[Any]) -> None:
        """Hand alerts on once each: claim each under the fence, emit those not handed on before, record them.

        A previous holder of the close that was taken over either recorded an alert as handed on
        (skipped here) or not (handed on again: it may have produced it and died before recording
        it). A holder whose lease was taken over is refused at the claim and stops.
        """
        # the claims of a close's alerts at once: one round trip for a week's twenty, not twenty
        keys = [getattr(alert, "dedup_key", None) for alert in alerts]
        named = [k for k in keys if k is not None]
        status = dict(zip(named, await together(*(self.state.claim_emit(k, ttl_s=EMIT_TTL_S) for k in named)), strict=True))
        todo = []
        for alert, key in zip(alerts, keys, strict=True):
            if key is not None and status[key] == "sent":
                self.emits_skipped += 1
                log.info("alert %s was handed on by an earlier holder of the close: not again", key)
                continue
            todo.append(alert)
        if not todo:
            return
        await self.emit(todo)
        done = [key for key in (getattr(alert, "dedup_key", None) for alert in todo) if key is not None]
        await together(*(self.state.mark_emitted(key, ttl_s=EMIT_TTL_S) for key in done))

    async def _close_day(self, day: date) -> None:
        """Close the periods that end on ``day``, resuming a close that was started and not finished."""
        due: list[Granularity] = []
        if day.weekday() < 5:
            due.append("day")
            if day == week_close_day(week_of(day)):
                due.append("week")
        if not due:
            return
        # before anything of the day is read: a batch applied from now on that changes a period this
        # close closes lists the period as reopened, in the same step (a batch applied before is read)
        marker = f"closing:{day.isoformat()}"
        _, started = await together(
            self.state.mark_closing(self.topics, day.isoformat()), self.state.get_rule_state(CLOSER_STATE, marker)
        )
        done: list[str] = list(started.get("done", []))
        resume = bool(started)
        if resume:
            log.warning(
                "taking over the close of %s, started before and not finished (closed: %s); "
                "handing its alerts on again",
                day.isoformat(), ", ".join(done) or "nothing",
            )
        else:
            await self.state.set_rule_state(CLOSER_STATE, marker, {"done": done})
        for granularity in due:
            if granularity in done:
                continue
            period = week_of(day) if granularity == "week" else day  # a week is named by its Friday
            self._tally += await self._close(period, granularity, resume=resume)
            done.append(granularity)
            await self.state.set_rule_state(CLOSER_STATE, marker, {"done": done})

    async def _close(self, period: date, granularity: Granularity, *, resume: bool = False) -> int:
        await self.materialize(period, granularity)
        if granularity == "day":
            self.closed_days += 1
        else:
            self.closed_weeks += 1
        log.log(logging.INFO if granularity == "week" else logging.DEBUG, "closed %s %s", granularity, period.isoformat())
        if self.evaluator is not None:
            alerts = await self.evaluator.evaluate(period, granularity, resume=resume)
            if granularity == "week" and self.provisional is not None:
                alerts = await self.provisional.supersede(self.state, period, alerts)
            if alerts:
                await self._hand_on(alerts)
        return 1

    async def _redo_reopened(self) -> int:
        """Recompute the reopened periods due (any worker's); return how many this closer recomputed."""
        now = time.monotonic()
        if now < self._quiet_until:
            return 0
        due = await self._due()
        redone = 0
        for pk in sorted(due, key=lambda k: (k.split(":", 1)[1], k.startswith("week"))):
            granularity, iso = pk.split(":", 1)
            redone += await self._recompute(date.fromisoformat(iso), granularity, due[pk])  # type: ignore[arg-type]
        if redone == len(due):
            self._quiet_until = now + self.reopen_scan_s
        return redone

    async def _due(self) -> dict[str, dict[str, int]]:
        """Return period key -> partition -> offset, for the periods listed past what was recomputed.

        Entries recomputed since are dropped from the partitions' reopen keys (and from the
        reopen lists in the closer's rule state that earlier versions wrote after the apply).
        """
        listed: dict[str, dict[str, int]] = {}
        legacy: dict[str, dict[str, int]] = {}
        for topic in self.topics:
            for partition, entries in (await self.state.reopened(topic)).items():
                for pk, offset in entries.items():
                    listed.setdefault(pk, {})[f"{topic}:{partition}"] = offset
            for partition in await self.state.marks(topic):
                name = f"reopen:{topic}:{partition}"
                entries = (await self.state.get_rule_state(CLOSER_STATE, name)).get("periods", {})
                if entries:
                    legacy[name] = entries
                    for pk, offset in entries.items():
                        src = listed.setdefault(pk, {})
                        src[f"{topic}:{partition}"] = max(offset, src.get(f"{topic}:{partition}", -1))
        due: dict[str, dict[str, int]] = {}
        stale: dict[str, dict[str, int]] = {}
        for pk, sources in listed.items():
            done = (await self.state.get_rule_state(CLOSER_STATE, f"recompute:{pk}")).get("done", {})
            left = {src: off for src, off in sources.items() if done.get(src, -1) < off}
            if left:
                due[pk] = left
            for src, off in sources.items():
                if src not in left:
                    stale.setdefault(src, {})[pk] = off
        for src, entries in stale.items():
            topic, _, partition = src.rpartition(":")
            await self.state.drop_reopened(topic, int(partition), entries)
            name = f"reopen:{src}"
            if name in legacy:
                kept = {pk: off for pk, off in legacy[name].items() if pk not in entries}
                await self.state.set_rule_state(CLOSER_STATE, name, {"periods": kept})
        return due

    async def _hold(self, lease: str) -> Fence | None:
        """Take a recompute lease; also the one this closer still holds from an attempt that failed."""
        token = self._held.get(lease)
        if token is not None:
            if await self.state.renew(lease, token, ttl_s=self.claim_ttl_s):
                return Fence(lease, token)
            del self._held[lease]
        token = await self.state.lease(lease, ttl_s=self.claim_ttl_s)
        if token is None:
            return None
        self._held[lease] = token
        return Fence(lease, token)

    async def _recompute(self, period: date, granularity: Granularity, sources: dict[str, int]) -> int:
        """Recompute a reopened period and hand its corrections on; 0 when another worker holds it."""
        pk = _pkey(period, granularity)
        digest = hashlib.sha1(json.dumps(sorted(sources.items())).encode()).hexdigest()[:16]
        lease = f"recompute:{pk}:{digest}"
        fence = await self._hold(lease)
        if fence is None:
            return 0  # another worker recomputes it, or did and died: taken over when its lease runs out
        done: int = await self._under(fence, lambda: self._recompute_held(period, granularity, sources))
        self._held.pop(lease, None)
        return done

    async def _recompute_held(self, period: date, granularity: Granularity, sources: dict[str, int]) -> int:
        pk = _pkey(period, granularity)
        name = f"recompute:{pk}"
        record = await self.state.get_rule_state(CLOSER_STATE, name)
        started: dict[str, int] = record.get("started", {})
        resume = bool(started)
        if resume:
            log.warning(
                "taking over the recompute of the %s %s, started before and not finished; "
                "handing its corrections on again", granularity, period.isoformat(),
            )
        merged = {**started, **{src: max(off, started.get(src, -1)) for src, off in sources.items()}}
        await self.state.set_rule_state(CLOSER_STATE, name, {**record, "started": merged})
        log.info("late data changed the closed %s %s: recomputing", granularity, period.isoformat())
        await self.materialize(period, granularity)
        if self.evaluator is not None:
            corrections = await self.evaluator.reevaluate(period, granularity, resume=resume)
            if corrections:
                await self._hand_on(corrections)
        # done only now: a worker that dies before this line is taken over, with resume
        record = await self.state.get_rule_state(CLOSER_STATE, name)
        done = dict(record.get("done", {}))
        for src, off in sources.items():
            done[src] = max(off, done.get(src, -1))
        left = {src: off for src, off in record.get("started", {}).items() if off > done.get(src, -1)}
        await self.state.set_rule_state(CLOSER_STATE, name, {"done": done, **({"started": left} if left else {})})
        return 1

    async def materialize(self, period: date, granularity: Granularity) -> int:
        """Write the series points of a period from its ingest aggregates; return how many."""
        if granularity == "day":
            points = await self._day_points(period)
        else:
            points = await self._week_points(period)
        if points:
            await self.state.put_points(period, points)
        return len(points)

    async def _day_points(self, day: date) -> dict[str, float]:
        points: dict[str, float] = {}
        # three reads at once: a close's time is mostly round trips
        snaps, quotes, observations = await together(
            self.state.exposure_snapshots(day), self.state.quotes(day), self.state.observations(day)
        )
        if snaps:
            points.update(points_of(aggregate_exposures(snaps), "day"))
        for symbol, (price, _) in quotes.items():
            points[series_id("close", "day", {"symbol": symbol})] = price
        for name, value in observations.items():
            points[series_id("obs", "day", {"series": name})] = value
        return points

    async def _week_points(self, friday: date) -> dict[str, float]:
        points: dict[str, float] = {}
        sums = await self.state.flow_sums(friday)
        if sums:
            points.update(points_of({k: flow_metrics(v) for k, v in sums.items()}, "week"))
        # the week's last value of each daily family, from its last day with data
        exposures_done = False
        closes: dict[str, float] = {}
        obs: dict[str, float] = {}
        for day in week_days(friday):
            if not exposures_done:
                snaps = await self.state.exposure_snapshots(day)
                if snaps:
                    points.update(points_of(aggregate_exposures(snaps), "week"))
                    exposures_done = True
            for symbol, (price, _) in (await self.state.quotes(day)).items():
                closes.setdefault(symbol, price)
            for name, value in (await self.state.observations(day)).items():
                obs.setdefault(name, value)
        for symbol, price in closes.items():
            points[series_id("close", "week", {"symbol": symbol})] = price
            prev = await self.state.history(
                series_id("close", "week", {"symbol": symbol}),
                since=friday - timedelta(days=35),
                until=friday - timedelta(days=1),
            )
            if prev and prev[-1][1]:
                points[series_id("return", "week", {"symbol": symbol})] = price / prev[-1][1] - 1.0
        for name, value in obs.items():
            points[series_id("obs", "week", {"series": name})] = value
        return points
