"""Collection: build a worker's ``StatusRecord`` from its context (``signal_monitor.worker.WorkerContext``).

The context names the worker and holds its store, its ingest counters and its input topics; the Faust
consumer tells the assignment and the end offsets. Alert delivery and the rule engine report through
optional callables, so the record names them before they exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from faust.types import TP

from signal_monitor.agents.ingest import IngestStats
from signal_monitor.state.base import PartitionMark, State
from signal_monitor.status.recent_alerts import recent_alerts_key
from signal_monitor.status.record import (
    AssignedPartition,
    CloserCounts,
    Delivery,
    LastAlert,
    PartitionLag,
    Reason,
    RedisHealth,
    RuleCounts,
    StatusRecord,
    TopicFigures,
)

if TYPE_CHECKING:
    from signal_monitor.worker import WorkerContext

log = logging.getLogger(__name__)

#: Returns ``{"outbox": {channel: depth}, "parked": n}`` (the Slack outbox reports through it).
DeliveryStats = Callable[[], Mapping[str, Any]]
#: Returns any of ``loaded``, ``armed``, ``firing``, ``silenced`` (counts of rules).
RuleStats = Callable[[], Mapping[str, int | None]]
#: Returns the newest alert produced, as its JSON object, or None.
LastAlertSource = Callable[[], Awaitable[Mapping[str, Any] | None]]
#: Wall clock in epoch seconds.
Clock = Callable[[], float]


class Consumer(Protocol):
    """What the collector reads of the Faust consumer."""

    def assignment(self) -> set[TP]:
        """Return the assigned partitions."""

    def highwater(self, tp: TP) -> int:
        """Return the partition's end offset as last fetched (None when unknown)."""


class RateTracker:
    """Per-key rates of monotonic counters over a sliding window of samples."""

    def __init__(self, *, window_s: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def observe(self, counts: Mapping[str, int]) -> dict[str, float]:
        """Record the counters now; return each key's rate per second since the oldest sample in the window."""
        now = self.clock()
        self._samples.append((now, dict(counts)))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()
        first_t, first = self._samples[0]
        span = now - first_t
        if span <= 0:
            return {k: 0.0 for k in counts}
        return {k: max(0.0, (v - first.get(k, 0)) / span) for k, v in counts.items()}


def _utc(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=timezone.utc) if epoch else None


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:200]


def partition_lags(
    assigned: Iterable[TP], marks: Mapping[str, Mapping[int, PartitionMark] | None], highwater: Callable[[TP], int | None]
) -> list[PartitionLag]:
    """Return the lag of each assigned partition of the topics in ``marks`` (None marks: the store did not answer)."""
    out = []
    for tp in sorted(assigned, key=lambda t: (t.topic, t.partition)):
        if tp.topic not in marks:
            continue
        known = marks[tp.topic]
        mark = known.get(tp.partition) if known is not None else None
        applied: int | None = mark.offset if mark is not None else (-1 if known is not None else None)
        try:
            end = highwater(tp)
        except Exception:  # the consumer has not fetched this partition yet
            end = None
        if end is None or end < 0:
            end = mark.highwater if mark is not None and mark.highwater >= 0 else None
        lag = max(0, end - (applied + 1)) if end is not None and applied is not None else None
        out.append(PartitionLag(topic=tp.topic, partition=tp.partition, applied_offset=applied, end_offset=end, lag=lag))
    return out


def topic_figures(stats: IngestStats, topics: Sequence[str], rates: Mapping[str, float]) -> dict[str, TopicFigures]:
    """Return the ingestion figures of each input topic."""
    return {
        t: TopicFigures(
            events=stats.events.get(t, 0),
            events_per_s=round(rates.get(t, 0.0), 3),
            messages=stats.messages.get(t, 0),
            duplicates=stats.duplicates.get(t, 0),
            redelivered=stats.redelivered.get(t, 0),
            newest_event=_utc(stats.newest_event.get(t)),
        )
        for t in topics
    }


def last_alert_of(raw: Mapping[str, Any] | None) -> LastAlert | None:
    """Return the ``LastAlert`` of an alert's JSON object (None when absent or unreadable)."""
    if not raw or not raw.get("rule"):
        return None
    text = raw.get("text")
    try:
        return LastAlert(
            rule=str(raw["rule"]),
            severity=raw.get("severity"),
            dedup_key=raw.get("dedup_key"),
            fired_at=raw.get("fired_at"),
            text=str(text)[:200] if text is not None else None,
            provisional=bool(raw.get("provisional")),
        )
    except ValueError:
        log.warning("the newest alert in the recent-alerts list does not read as an alert")
        return None


class Collector:
    """Builds status records of one worker; keeps the rate tracker between calls."""

    def __init__(
        self,
        *,
        interval_s: float,
        delivery_stats: DeliveryStats | None = None,
        rules_stats: RuleStats | None = None,
        last_alert: LastAlertSource | None = None,
        rates: RateTracker | None = None,
        clock: Clock = time.time,
        redis_timeout_s: float = 2.0,
        host: str | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.delivery_stats = delivery_stats
        self.rules_stats = rules_stats
        self.last_alert = last_alert
        self.rates = rates or RateTracker()
        self.clock = clock
        self.redis_timeout_s = redis_timeout_s
        self.host = host or socket.gethostname()
        self.started = datetime.fromtimestamp(clock(), tz=timezone.utc)

    async def collect(
        self,
        context: WorkerContext,
        consumer: Consumer | None,
        *,
        reason: Reason = "interval",
        assigned: Iterable[TP] | None = None,
    ) -> StatusRecord:
        """Return the record of the worker now (``assigned`` overrides the consumer's assignment, as in a rebalance)."""
        stats, state, inputs = context.stats, context.state, list(context.inputs)
        parts = set(assigned) if assigned is not None else self._assignment(consumer)
        redis = await self._ping(state)
        marks: dict[str, Mapping[int, PartitionMark] | None] = {}
        for topic in sorted({tp.topic for tp in parts if tp.topic in inputs}):
            marks[topic] = await self._marks(state, topic) if redis.ok else None
        highwater = consumer.highwater if consumer is not None else (lambda tp: None)
        rates = self.rates.observe({t: stats.events.get(t, 0) for t in inputs})
        return StatusRecord(
            worker_id=context.worker_id,
            host=self.host,
            version=context.version,
            app_id=context.app_id,
            started=self.started,
            published=datetime.fromtimestamp(self.clock(), tz=timezone.utc),
            reason=reason,
            interval_s=self.interval_s,
            partitions=[AssignedPartition(topic=tp.topic, partition=tp.partition) for tp in sorted(parts)],
            lag=partition_lags(parts, marks, highwater),
            topics=topic_figures(stats, inputs, rates),
            dlq=dict(sorted(stats.dlq.items())),
            batches=stats.batches,
            store_retries=stats.store_retries,
            redis=redis,
            delivery=self._delivery(),
            rules=self._rules(),
            closer=self._closer(context.closer),
            last_alert=await self._last_alert() if redis.ok else None,
        )

    @staticmethod
    def _assignment(consumer: Consumer | None) -> set[TP]:
        if consumer is None:
            return set()
        try:
            return set(consumer.assignment())
        except Exception:  # not started yet, or stopping: nothing is assigned
            return set()

    async def _ping(self, state: State) -> RedisHealth:
        try:
            rtt = await asyncio.wait_for(state.ping(), self.redis_timeout_s)
        except Exception as exc:  # any failure is the figure: Redis is not healthy
            return RedisHealth(ok=False, rtt_ms=None, error=_short_error(exc))
        return RedisHealth(ok=True, rtt_ms=round(rtt * 1000.0, 3))

    async def _marks(self, state: State, topic: str) -> Mapping[int, PartitionMark] | None:
        try:
            return await asyncio.wait_for(state.marks(topic), self.redis_timeout_s)
        except Exception as exc:  # lag stays unknown for this topic
            log.warning("status: cannot read the offsets of %s: %s", topic, _short_error(exc))
            return None

    def _delivery(self) -> Delivery:
        if self.delivery_stats is None:
            return Delivery()
        try:
            return Delivery.model_validate(dict(self.delivery_stats()))
        except Exception as exc:  # a broken reporter must not stop the status
            log.warning("status: delivery stats unavailable: %s", _short_error(exc))
            return Delivery()

    @staticmethod
    def _closer(closer: Any) -> CloserCounts:
        if closer is None:
            return CloserCounts()
        return CloserCounts.model_validate({name: getattr(closer, name, 0) for name in CloserCounts.model_fields})

    def _rules(self) -> RuleCounts:
        if self.rules_stats is None:
            return RuleCounts()
        try:
            return RuleCounts.model_validate(dict(self.rules_stats()))
        except Exception as exc:  # a broken reporter must not stop the status
            log.warning("status: rule stats unavailable: %s", _short_error(exc))
            return RuleCounts()

    async def _last_alert(self) -> LastAlert | None:
        if self.last_alert is None:
            return None
        try:
            raw = await asyncio.wait_for(self.last_alert(), self.redis_timeout_s)
        except Exception as exc:  # the record goes out without it
            log.warning("status: cannot read the newest alert: %s", _short_error(exc))
            return None
        return last_alert_of(raw)


def redis_last_alert(client: Any, prefix: str) -> LastAlertSource:
    """Return a source of the newest alert in the capped ``<prefix>:recent_alerts`` list."""

    async def newest() -> Mapping[str, Any] | None:
        raw = await client.lindex(recent_alerts_key(prefix), 0)
        if not raw:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    return newest

