"""Ingestion: decode, validate, fold and apply a batch of one partition exactly once."""

from __future__ import annotations

import asyncio

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from signal_monitor.errors import InvalidEvent
from signal_monitor.state.base import Batch, PartitionMark, State
from signal_monitor.state.fold import fold
from signal_monitor.state.retry import retry_transient
from signal_monitor.streams.codec import Rejected, decode, event_json, original_text
from signal_monitor.streams.events import DeadLetter, Event

#: how many partitions of a batch are handled at once (one decoded while the other is applied)
SIDE_BY_SIDE = 2

log = logging.getLogger(__name__)

#: The dead-letter record keeps at most this many bytes of the original (the input topic keeps all of it).
DLQ_ORIGINAL_MAX = 64 * 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Record:
    """One input message: where it came from and its bytes."""

    partition: int
    offset: int
    value: bytes | None
    #: the offset before this one in what the consumer fetched of the partition (after a seek to N: N - 1),
    #: None when the consumer does not know where it started (a position reset to the earliest offset)
    prev: int | None = None


DeadLetterSink = Callable[[Sequence[DeadLetter]], Awaitable[None]]
AppliedHook = Callable[[Batch], Awaitable[None]]
#: Seek the consumer of a partition of this topic to an offset (the next record it delivers is the first at or after it).
ReseekHook = Callable[[int, int], Awaitable[None]]


@dataclass
class IngestStats:
    """Counters of one worker's ingestion, per input topic."""

    events: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    redelivered: Counter[str] = field(default_factory=Counter)
    #: records dropped because they do not follow the stored offset (read again after a seek)
    unconnected: Counter[str] = field(default_factory=Counter)
    #: batches refused because the store was behind the offset they follow (it lost applied batches)
    gaps: int = 0
    duplicates: Counter[str] = field(default_factory=Counter)
    dlq: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    newest_event: dict[str, float] = field(default_factory=dict)
    store_retries: int = 0


class Ingestor:
    """Turns batches of raw messages of one input topic into exactly-once state changes.

    The store's offset of a partition is the truth. A record is applied only when it
    follows that offset in what the consumer fetched: its ``prev`` (the offset before it
    in the consumer's fetch, see :mod:`signal_monitor.streams.consumer`) is at or below
    the stored offset, and its own offset past it. Offsets the consumer never saw in
    between (compaction, transaction markers, a head deleted by retention) are no gap.
    Records that do not follow (fetched from past what the store holds, or before a seek
    back) are dropped and the partition is sought to the stored offset + 1 (``reseek``),
    once per stored offset. The apply call checks the same in the store
    (``Batch.base_offset``): a store behind the offset the records follow lost batches it
    had acknowledged (a crash, a fail-over, a restore), so the batch is refused and the
    partition sought back to what the store holds.
    """

    def __init__(
        self,
        state: State,
        *,
        topic: str,
        kind: str,
        dead_letters: DeadLetterSink,
        lateness_s: float,
        max_message_bytes: int,
        worker_id: str = "",
        on_applied: AppliedHook | None = None,
        retry_max_s: float = 30.0,
        stats: IngestStats | None = None,
        highwater: Callable[[int], int] | None = None,
        future_s: float = 300.0,
        reseek: ReseekHook | None = None,
    ) -> None:
        self.state = state
        self.topic = topic
        self.kind = kind
        self.dead_letters = dead_letters
        self.lateness_s = lateness_s
        self.max_message_bytes = max_message_bytes
        self.worker_id = worker_id
        self.on_applied = on_applied
        self.retry_max_s = retry_max_s
        self.stats = stats or IngestStats()
        self.highwater = highwater
        self.future_s = future_s
        self.reseek = reseek
        self._marks: dict[int, PartitionMark] = {}
        # partition -> the stored offset it was last sought back to follow, while records that do not follow come
        self._sought: dict[int, int] = {}

    def forget(self, partitions: Sequence[int]) -> None:
        """Drop cached marks of partitions this worker no longer owns."""
        for p in partitions:
            self._marks.pop(p, None)
            self._sought.pop(p, None)

    async def positions(self, partitions: Sequence[int]) -> dict[int, int]:
        """Reload the stored offsets of ``partitions`` (-1: none) for a consumer about to seek to each + 1.

        Called as the consumer is positioned on an assignment: the cached marks then match
        where the consumer reads from.
        """
        self.forget(partitions)
        marks = await self._retrying(lambda: self.state.marks(self.topic), "read offsets")
        out = {}
        for p in partitions:
            mark = self._marks[p] = marks.get(p, PartitionMark())
            out[p] = mark.offset
        return out

    async def _mark(self, partition: int) -> PartitionMark:
        mark = self._marks.get(partition)
        if mark is None:
            marks = await self._retrying(lambda: self.state.marks(self.topic), "read offsets")
            mark = marks.get(partition, PartitionMark())
            self._marks[partition] = mark
        return mark

    async def stored_offset(self, partition: int) -> int:
        """Return the last offset of ``partition`` applied in the store (-1 when none)."""
        return (await self._mark(partition)).offset

    async def handle(self, records: Sequence[Record]) -> None:
        """Apply a batch of records, which may span partitions: in order within each partition.

        The partitions are handled two at a time: while the store applies one partition's batch,
        the next one is decoded and folded (each partition has its own mark, so their applies
        are independent; two, so that no more than two partitions' events are decoded at once).
        Returns once every partition is handled; the first error raises.
        """
        by_partition: dict[int, list[Record]] = {}
        for rec in records:
            by_partition.setdefault(rec.partition, []).append(rec)
        if len(by_partition) == 1:
            for partition, recs in by_partition.items():
                await self._handle_partition(partition, recs)
            return
        gate = asyncio.Semaphore(SIDE_BY_SIDE)

        async def one(partition: int, recs: list[Record]) -> None:
            async with gate:
                await self._handle_partition(partition, recs)

        tasks = [asyncio.ensure_future(one(p, recs)) for p, recs in by_partition.items()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    def _following(self, partition: int, offset: int, records: list[Record]) -> tuple[list[Record], bool]:
        """Return the records that follow stored ``offset`` one after the other, and whether the last ones do not."""
        cursor = offset
        fresh: list[Record] = []
        dangling = False
        redelivered = unconnected = 0
        for rec in records:
            if rec.offset <= cursor:
                redelivered += 1
            elif rec.prev is None or rec.prev <= cursor:
                fresh.append(rec)
                cursor = rec.offset
                dangling = False
            else:  # the consumer fetched it past an offset the store does not hold
                unconnected += 1
                dangling = True
        self.stats.redelivered[self.topic] += redelivered
        if unconnected:
            self.stats.unconnected[self.topic] += unconnected
        return fresh, dangling

    async def _seek_back(self, partition: int, stored: int, why: str) -> None:
        """Seek the partition to ``stored`` + 1, unless it was sought there already and nothing followed since."""
        if self._sought.get(partition) == stored:
            return
        self._sought[partition] = stored
        log.warning("%s[%d]: %s; reading the partition again after stored offset %d", self.topic, partition, why, stored)
        if self.reseek is not None:
            await self.reseek(partition, stored + 1)

    async def _handle_partition(self, partition: int, records: list[Record]) -> None:
        mark = await self._mark(partition)
        fresh, dangling = self._following(partition, mark.offset, records)
        if not fresh:
            if dangling:
                await self._seek_back(partition, mark.offset, f"records from offset {records[0].offset} do not follow the stored offset")
            return
        good: list[tuple[int, Event]] = []
        rejected: list[tuple[Record, Rejected]] = []
        watermark = mark.watermark
        horizon = time.time() + self.future_s
        for rec in fresh:
            events, bad = decode(rec.value, self.kind, max_bytes=self.max_message_bytes)
            rejected.extend((rec, b) for b in bad)
            for index, event in events:
                ts = event.ts.timestamp()
                if ts > horizon:
                    ahead = InvalidEvent(
                        "in_future", f"event time {event.ts.isoformat()} is ahead of the wall clock by more than {self.future_s:g} s"
                    )
                    rejected.append((rec, Rejected(index, ahead, (rec.value or b"") if index is None else event_json(event))))
                    continue
                if watermark and ts < watermark - self.lateness_s:
                    late = InvalidEvent(
                        "too_late",
                        f"event time {event.ts.isoformat()} is more than {self.lateness_s / 86400:g} days "
                        f"before the partition's newest event",
                    )
                    raw = (rec.value or b"") if index is None else event_json(event)
                    rejected.append((rec, Rejected(index, late, raw)))
                    continue
                if ts > watermark:
                    watermark = ts
                good.append((rec.offset, event))
        if rejected:
            await self._send_dead_letters(partition, rejected)
        if await self._apply(partition, fresh, good) and dangling:
            mark = await self._mark(partition)
            await self._seek_back(partition, mark.offset, "records past the batch do not follow it")

    async def _send_dead_letters(self, partition: int, rejected: list[tuple[Record, Rejected]]) -> None:
        now = datetime.now(timezone.utc)
        letters = []
        for rec, rej in rejected:
            self.stats.dlq[rej.error.reason] += 1
            log.warning(
                "%s[%d]@%d%s rejected: %s",
                self.topic, partition, rec.offset, "" if rej.index is None else f"#{rej.index}", rej.error,
            )
            letters.append(
                DeadLetter(
                    reason=rej.error.reason,
                    detail=rej.error.detail,
                    topic=self.topic,
                    partition=partition,
                    offset=rec.offset,
                    index=rej.index,
                    worker=self.worker_id,
                    at=now,
                    original=original_text(rej.raw[:DLQ_ORIGINAL_MAX]),
                    original_size=len(rej.raw),
                    original_sha256=hashlib.sha256(rej.raw).hexdigest(),
                )
            )
        await self.dead_letters(letters)

    async def _apply(self, partition: int, records: list[Record], good: list[tuple[int, Event]]) -> bool:
        """Apply the records (which follow the cached stored offset); False when the store refused them as a gap."""
        skip: frozenset[str] = frozenset()
        base = (await self._mark(partition)).offset
        while True:
            batch, duplicates = fold(self.topic, partition, good, skip_trades=skip)
            batch.first_offset = records[0].offset
            batch.last_offset = records[-1].offset
            batch.base_offset = base
            batch.worker = self.worker_id
            if self.highwater is not None:
                batch.highwater = self.highwater(partition)
            result = await self._retrying(lambda: self.state.apply(batch), "apply a batch")
            if result.applied:
                batch.reopened = result.reopened
                break
            if result.seen:
                skip = skip | frozenset(result.seen)
                continue
            self._marks.pop(partition, None)
            mark = await self._mark(partition)
            if result.gap or mark.offset < base:
                # the store lost batches it had acknowledged: what is in hand follows them, read them again
                self.stats.gaps += 1
                await self._seek_back(
                    partition, mark.offset,
                    f"the store is at offset {mark.offset}, behind offset {base} that these records follow: "
                    "it lost batches it had acknowledged",
                )
                return False
            # stale: another writer (or an earlier life of this worker) applied part of it; the records in hand
            # follow one another from ``base``, so those past the store's offset follow it
            log.info("%s[%d]: store is at offset %d, skipping what it holds", self.topic, partition, result.stored_offset)
            base = mark.offset
            records = [r for r in records if r.offset > mark.offset]
            good = [(o, e) for o, e in good if o > mark.offset]
            if not records:
                return True
        mark = self._marks.get(partition)
        if mark is not None:  # a rebalance may have dropped it meanwhile: the next batch reads the store
            mark.offset = batch.last_offset
            mark.watermark = max(mark.watermark, batch.watermark)
            mark.updated = time.time()
        self._sought.pop(partition, None)
        self.stats.batches += 1
        self.stats.messages[self.topic] += len(records)
        self.stats.events[self.topic] += len(good) - duplicates
        self.stats.duplicates[self.topic] += duplicates
        if batch.watermark:
            self.stats.newest_event[self.topic] = max(self.stats.newest_event.get(self.topic, 0.0), batch.watermark)
        if self.on_applied is not None:
            await self.on_applied(batch)
        return True

    async def _retrying(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        return await retry_transient(call, what, max_s=self.retry_max_s, on_retry=self._count_retry, logger=log)

    def _count_retry(self) -> None:
        self.stats.store_retries += 1
