"""The Ingestor over MemoryState: dead letters, redelivery, duplicates, lateness and store retries."""

from __future__ import annotations

import asyncio

import hashlib
import json
import logging
import time
import types
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

import pytest
from redis.exceptions import BusyLoadingError, OutOfMemoryError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError

from signal_monitor.agents.ingest import SIDE_BY_SIDE, Ingestor, Record
from signal_monitor.state import retry as retry_mod
from signal_monitor.state.base import ApplyResult, Batch
from signal_monitor.state.memory import MemoryState
from signal_monitor.streams.events import DeadLetter
from tests.factories import trade_fields as trade

DAY_S = 86400.0
WEEK = date(2025, 6, 6)


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Sink:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.calls = 0

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        self.calls += 1
        self.letters.extend(letters)


def make(state: MemoryState | None = None, *, lateness_s: float = 7 * DAY_S, **kw: Any) -> tuple[Ingestor, MemoryState, Sink]:
    state = state or MemoryState()
    sink = Sink()
    ing = Ingestor(state, topic="trades", kind="trades", dead_letters=sink, lateness_s=lateness_s,
                   max_message_bytes=64 * 1024, worker_id="w1", **kw)
    return ing, state, sink


async def test_good_records_apply_and_bad_ones_go_to_the_dead_letter_sink() -> None:
    ing, state, sink = make()
    bad_item = compact({k: v for k, v in trade("b").items() if k != "fund_id"})
    envelope = b"[" + compact(trade("a2", quantity=2, notional=200.0)) + b"," + bad_item + b"]"
    malformed = b'{"trade_id": "oops"'
    mismatch = compact(trade("m", notional=1100.0))
    records = [
        Record(0, 10, compact(trade("a1"))),
        Record(0, 11, envelope),
        Record(0, 12, malformed),
        Record(0, 13, mismatch),
        Record(0, 14, compact(trade("a3", action="sell_short", quantity=1, notional=100.0))),
    ]
    await ing.handle(records)

    sums = await state.flow_sums(WEEK)
    assert sums[""] == {"buy_long": 1200.0, "sell_short": 100.0, "n": 3.0}
    assert (await state.marks("trades"))[0].offset == 14
    assert (await state.marks("trades"))[0].worker == "w1"

    assert sink.calls == 1
    got = [(dl.reason, dl.topic, dl.partition, dl.offset, dl.index) for dl in sink.letters]
    assert got == [
        ("missing_field", "trades", 0, 11, 1),
        ("malformed_json", "trades", 0, 12, None),
        ("notional_mismatch", "trades", 0, 13, None),
    ]
    by_offset = {dl.offset: dl for dl in sink.letters}
    assert by_offset[12].original == malformed.decode()
    assert by_offset[12].original_size == len(malformed)
    assert by_offset[12].original_sha256 == hashlib.sha256(malformed).hexdigest()
    assert by_offset[13].original_sha256 == hashlib.sha256(mismatch).hexdigest()
    # an envelope item keeps its own bytes
    assert by_offset[11].original_sha256 == hashlib.sha256(bad_item).hexdigest()
    assert json.loads(by_offset[11].original) == json.loads(bad_item)
    assert all(dl.worker == "w1" and dl.at.tzinfo is not None for dl in sink.letters)
    assert "fund_id" in by_offset[11].detail

    assert ing.stats.batches == 1
    assert ing.stats.messages["trades"] == 5
    assert ing.stats.events["trades"] == 3
    assert ing.stats.dlq == {"missing_field": 1, "malformed_json": 1, "notional_mismatch": 1}


async def test_non_utf8_original_is_base64_in_the_dead_letter() -> None:
    ing, _, sink = make()
    raw = b"\xff\xfe{not json"
    await ing.handle([Record(2, 0, raw)])
    (dl,) = sink.letters
    assert dl.reason == "malformed_json"
    assert dl.original.startswith("base64:")
    assert dl.original_sha256 == hashlib.sha256(raw).hexdigest()


async def test_records_at_or_below_the_stored_offset_are_skipped() -> None:
    ing, state, sink = make()
    await ing.handle([Record(0, 0, compact(trade("a"))), Record(0, 1, compact(trade("b"))),
                      Record(0, 2, b"garbage")])
    assert len(sink.letters) == 1
    # redelivery of the same records: nothing changes, no new dead letters
    await ing.handle([Record(0, 0, compact(trade("a"))), Record(0, 1, compact(trade("b"))),
                      Record(0, 2, b"garbage")])
    assert ing.stats.redelivered["trades"] == 3
    assert len(sink.letters) == 1
    assert (await state.flow_sums(WEEK))[""] == {"buy_long": 2000.0, "n": 2.0}
    # a batch overlapping the stored offset applies only the new record
    await ing.handle([Record(0, 1, compact(trade("b"))), Record(0, 2, b"garbage"), Record(0, 3, compact(trade("c")))])
    assert ing.stats.redelivered["trades"] == 5
    assert (await state.flow_sums(WEEK))[""] == {"buy_long": 3000.0, "n": 3.0}
    assert (await state.marks("trades"))[0].offset == 3
    assert len(sink.letters) == 1
    assert ing.stats.batches == 2


async def test_a_fresh_ingestor_resumes_from_the_store() -> None:
    first, state, _ = make()
    await first.handle([Record(1, 0, compact(trade("a"))), Record(1, 1, compact(trade("b")))])
    second, _, sink = make(state)
    assert await second.stored_offset(1) == 1
    assert await second.stored_offset(0) == -1
    await second.handle([Record(1, 1, compact(trade("b"))), Record(1, 2, compact(trade("c")))])
    assert second.stats.redelivered["trades"] == 1
    assert (await state.flow_sums(WEEK))[""] == {"buy_long": 3000.0, "n": 3.0}


async def test_a_resent_trade_id_is_applied_once() -> None:
    ing, state, sink = make()
    await ing.handle([Record(0, 0, compact(trade("t1"))), Record(0, 1, compact(trade("t2")))])
    # t1 comes again in a later record (a producer retry), next to a new trade
    await ing.handle([Record(0, 2, compact(trade("t1"))), Record(0, 3, compact(trade("t3", quantity=5, notional=500.0)))])
    assert (await state.flow_sums(WEEK))[""] == {"buy_long": 2500.0, "n": 3.0}
    assert ing.stats.duplicates["trades"] == 1
    assert ing.stats.events["trades"] == 3
    assert (await state.marks("trades"))[0].offset == 3
    assert sink.letters == []
    # within one batch too
    await ing.handle([Record(0, 4, compact(trade("t4"))), Record(0, 5, b"[" + compact(trade("t4")) + b"]")])
    assert ing.stats.duplicates["trades"] == 2
    assert (await state.flow_sums(WEEK))[""]["n"] == 4.0


async def test_too_late_events_go_to_the_dead_letter_sink() -> None:
    ing, state, sink = make(lateness_s=7 * DAY_S)
    # the partition's newest event: Monday 2025-06-09 15:00Z
    await ing.handle([Record(0, 0, compact(trade("new", "2025-06-09T15:00:00Z")))])
    late_ok = compact(trade("wed", "2025-06-04T15:00:00Z", quantity=3, notional=300.0))  # 5 days older
    too_late = compact(trade("old", "2025-05-30T15:00:00Z"))  # 10 days older
    await ing.handle([Record(0, 1, late_ok), Record(0, 2, too_late)])
    assert [(dl.reason, dl.offset, dl.index) for dl in sink.letters] == [("too_late", 2, None)]
    assert "7 days" in sink.letters[0].detail
    assert ing.stats.dlq["too_late"] == 1
    # the late-but-allowed event lands in its own week, the newest in the next
    assert (await state.flow_sums(date(2025, 6, 6)))[""] == {"buy_long": 300.0, "n": 1.0}
    assert (await state.flow_sums(date(2025, 6, 13)))[""] == {"buy_long": 1000.0, "n": 1.0}
    assert await state.flow_sums(date(2025, 5, 30)) == {}
    assert (await state.marks("trades"))[0].offset == 2
    # the boundary: exactly lateness older is still accepted
    edge = compact(trade("edge", "2025-06-02T15:00:00Z", quantity=1, notional=100.0))
    await ing.handle([Record(0, 3, edge)])
    assert len(sink.letters) == 1
    assert (await state.flow_sums(date(2025, 6, 6)))[""] == {"buy_long": 400.0, "n": 2.0}


async def test_lateness_is_measured_against_events_earlier_in_the_same_batch() -> None:
    ing, _, sink = make(lateness_s=1 * DAY_S)
    await ing.handle([
        Record(0, 0, compact(trade("a", "2025-06-05T15:00:00Z"))),
        Record(0, 1, compact(trade("b", "2025-06-03T15:00:00Z"))),  # 2 days older than a
    ])
    assert [(dl.reason, dl.offset) for dl in sink.letters] == [("too_late", 1)]


async def test_lateness_is_per_partition() -> None:
    ing, state, sink = make(lateness_s=1 * DAY_S)
    await ing.handle([Record(0, 0, compact(trade("a", "2025-06-05T15:00:00Z")))])
    await ing.handle([Record(1, 0, compact(trade("b", "2025-06-02T15:00:00Z")))])
    assert sink.letters == []
    assert (await state.flow_sums(WEEK))[""]["n"] == 2.0


async def test_too_late_dead_letter_keeps_the_original_bytes() -> None:
    ing, _, sink = make(lateness_s=1 * DAY_S)
    await ing.handle([Record(0, 0, compact(trade("a", "2025-06-05T15:00:00Z")))])
    raw = compact(trade("b", "2025-06-02T15:00:00Z"))
    await ing.handle([Record(0, 1, raw)])
    (dl,) = sink.letters
    assert dl.reason == "too_late"
    assert dl.original_sha256 == hashlib.sha256(raw).hexdigest()


async def test_an_event_time_out_of_calendar_range_is_dead_lettered_not_fatal() -> None:
    ing, state, sink = make()
    await ing.handle([
        Record(0, 0, compact(trade("ok"))),
        Record(0, 1, compact(trade("far", "9999-12-31T23:59:59-05:00"))),
    ])
    assert (await state.flow_sums(WEEK))[""]["n"] == 1.0
    assert [dl.offset for dl in sink.letters] == [1]


class FlakyState(MemoryState):
    """Fails ``apply`` with a Redis connection error ``failures`` times, then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    async def apply(self, batch: Batch) -> ApplyResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise RedisConnectionError("Connection refused")
        return await super().apply(batch)


async def test_transient_store_error_is_retried_and_applied_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry_mod, "asyncio", types.SimpleNamespace(sleep=no_wait))
    state = FlakyState(failures=2)
    applied: list[Batch] = []

    async def on_applied(batch: Batch) -> None:
        applied.append(batch)

    ing, _, sink = make(state, on_applied=on_applied, retry_max_s=30.0)
    with caplog.at_level(logging.WARNING, logger="signal_monitor.agents.ingest"):
        await ing.handle([Record(0, 0, compact(trade("a"))), Record(0, 1, compact(trade("b")))])
    assert state.calls == 3
    assert ing.stats.store_retries == 2
    assert ing.stats.batches == 1
    assert len(applied) == 1
    assert (applied[0].first_offset, applied[0].last_offset) == (0, 1)
    assert (await state.flow_sums(WEEK))[""] == {"buy_long": 2000.0, "n": 2.0}
    assert (await state.marks("trades"))[0].offset == 1
    # backoff: about 0.5 s then about 1 s (+-20 % jitter)
    assert len(waits) == 2
    assert 0.4 <= waits[0] <= 0.6 and 0.8 <= waits[1] <= 1.2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 2
    assert "apply a batch" in warnings[0].getMessage()
    assert sink.letters == []


async def test_on_applied_hook_sees_each_applied_batch() -> None:
    seen: list[tuple[int, int, float]] = []

    async def hook(batch: Batch) -> None:
        seen.append((batch.first_offset, batch.last_offset, batch.watermark))

    ing, _, _ = make(on_applied=hook)
    await ing.handle([Record(0, 0, compact(trade("a", "2025-06-04T14:00:00Z"))),
                      Record(0, 1, compact(trade("b", "2025-06-05T14:00:00Z")))])
    await ing.handle([Record(0, 1, compact(trade("b")))])  # redelivery only: no batch
    assert seen == [(0, 1, datetime(2025, 6, 5, 14, tzinfo=timezone.utc).timestamp())]


class OverlapState(MemoryState):
    """A store whose applies take a while (a Redis round trip): records which partitions' applies overlapped."""

    def __init__(self) -> None:
        super().__init__()
        self.applying: set[int] = set()
        self.most = 0  # the most partitions applied at once
        self.fail: int | None = None

    async def apply(self, batch: Batch) -> ApplyResult:
        self.applying.add(batch.partition)
        self.most = max(self.most, len(self.applying))
        try:
            await asyncio.sleep(0.01)
            if batch.partition == self.fail:
                raise RuntimeError("the store broke")
            return await super().apply(batch)
        finally:
            self.applying.discard(batch.partition)


async def test_the_partitions_of_a_batch_are_applied_two_at_a_time_each_in_order() -> None:
    state = OverlapState()
    ing, _, _ = make(state)
    records = [Record(p, o, compact(trade(f"t{p}-{o}", f"2025-06-0{2 + o}T14:00:00Z"))) for o in range(3) for p in range(3)]
    await ing.handle(records)
    assert state.most == SIDE_BY_SIDE == 2
    marks = await state.marks("trades")
    assert {p: m.offset for p, m in marks.items()} == {0: 2, 1: 2, 2: 2}
    assert (await state.flow_sums(WEEK))[""]["n"] == 9.0
    # one partition failing fails the batch, and the others' work stops with it
    state.fail = 1
    more = [Record(p, 3, compact(trade(f"u{p}", "2025-06-05T15:00:00Z"))) for p in range(3)]
    with pytest.raises(RuntimeError, match="the store broke"):
        await ing.handle(more)
    await asyncio.sleep(0.05)
    assert (await state.marks("trades"))[1].offset == 2


async def test_highwater_of_the_consumer_is_recorded_in_the_mark() -> None:
    ing, state, _ = make(highwater=lambda partition: 10 + partition)
    await ing.handle([Record(2, 0, compact(trade("a"))), Record(2, 1, compact(trade("b")))])
    mark = (await state.marks("trades"))[2]
    assert (mark.offset, mark.highwater) == (1, 12)
    assert mark.pending  # offsets 2..11 are still to come


async def test_an_event_stamped_minutes_ahead_of_the_wall_clock_is_dead_lettered_by_default() -> None:
    ing, state, sink = make()
    now = time.time()
    stamp = lambda s: datetime.fromtimestamp(now + s, timezone.utc).isoformat()  # noqa: E731
    await ing.handle([Record(0, 0, compact(trade("soon", stamp(120)))), Record(0, 1, compact(trade("ahead", stamp(600))))])
    (dl,) = sink.letters
    assert (dl.reason, dl.offset) == ("in_future", 1)
    assert "more than 300 s" in dl.detail
    assert (await state.marks(ing.topic))[0].watermark < now + 600


async def test_an_event_from_the_future_is_dead_lettered_and_does_not_move_the_watermark() -> None:
    ing, state, sink = make()
    raw = compact(trade("ahead", "2199-06-02T15:00:00Z"))
    await ing.handle([Record(0, 0, compact(trade("ok"))), Record(0, 1, raw)])
    (dl,) = sink.letters
    assert dl.reason == "in_future" and dl.offset == 1
    assert dl.original_sha256 == hashlib.sha256(raw).hexdigest()
    mark = (await state.marks(ing.topic))[0]
    assert mark.offset == 1
    assert mark.watermark < datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


async def test_a_rebalance_that_forgets_the_partition_during_an_apply_does_not_fail_the_batch() -> None:
    ing, state, _ = make()

    class ForgettingState(MemoryState):
        async def apply(self, batch: Batch) -> ApplyResult:
            ing.forget([batch.partition])  # what on_partitions_assigned does while a batch is in flight
            return await super().apply(batch)

    ing.state = ForgettingState()
    await ing.handle([Record(0, 0, compact(trade("a")))])
    await ing.handle([Record(0, 0, compact(trade("a"))), Record(0, 1, compact(trade("b")))])
    assert (await ing.state.flow_sums(WEEK))[""]["n"] == 2.0


@pytest.mark.parametrize(
    "error",
    [OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), BusyLoadingError("loading"),
     ReadOnlyError("You can't write against a read only replica.")],
)
async def test_redis_refusing_writes_for_a_while_is_waited_out_not_fatal(error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(retry_mod.asyncio, "sleep", no_wait)
    calls = {"n": 0}

    class FullState(MemoryState):
        async def apply(self, batch: Batch) -> ApplyResult:
            calls["n"] += 1
            if calls["n"] == 1:
                raise error
            return await super().apply(batch)

    ing, _, _ = make()
    ing.state = FullState()
    await ing.handle([Record(0, 0, compact(trade("a")))])
    assert (await ing.state.flow_sums(WEEK))[""]["n"] == 1.0 and calls["n"] == 2


# --- the store's offset is the truth: records must follow it -------------------------------------------


def chained(partition: int, offsets: Sequence[int], *, prev: int | None, tag: str = "c") -> list[Record]:
    """Records as the consumer delivers them: each names the offset before it in what the consumer fetched."""
    out = []
    for o in offsets:
        out.append(Record(partition, o, compact(trade(f"{tag}{o}")), prev=prev))
        prev = o
    return out


class Reseeks:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, partition: int, offset: int) -> None:
        self.calls.append((partition, offset))


async def test_a_store_that_lost_its_last_batches_is_refilled_from_the_stored_offset() -> None:
    """Redis came back with less than it acknowledged: the next batch is refused, the partition sought back."""
    reseek = Reseeks()
    ing, state, _ = make(reseek=reseek)
    await ing.handle(chained(0, range(0, 10), prev=-1))
    assert (await state.marks("trades"))[0].offset == 9
    # the store as a restore from an older backup brings it back: offsets 0..4 applied
    older = MemoryState()
    ing2, _, _ = make(older)
    await ing2.handle(chained(0, range(0, 5), prev=-1))
    ing.state = older
    # the worker runs on: its next records follow 9, the store is at 4
    await ing.handle(chained(0, range(10, 13), prev=9))
    assert reseek.calls == [(0, 5)]
    assert (await older.marks("trades"))[0].offset == 4
    # records fetched before the seek still come: they do not follow 4, and are dropped without seeking again
    await ing.handle(chained(0, range(13, 15), prev=12))
    assert reseek.calls == [(0, 5)]
    assert (await older.marks("trades"))[0].offset == 4
    # what the seek fetches follows 4: applied, each record once
    await ing.handle(chained(0, range(5, 16), prev=4))
    assert (await older.marks("trades"))[0].offset == 15
    assert (await older.flow_sums(WEEK))[""]["n"] == 16.0
    assert reseek.calls == [(0, 5)]


async def test_records_that_do_not_follow_the_stored_offset_are_not_applied() -> None:
    """The consumer resumed past the stored offset (the committed offset of batches the store lost)."""
    reseek = Reseeks()
    ing, state, _ = make(reseek=reseek)
    await ing.handle(chained(0, range(0, 5), prev=-1))
    await ing.handle(chained(0, range(20, 22), prev=19))  # 5..19 never reached this store
    assert reseek.calls == [(0, 5)]
    assert (await state.marks("trades"))[0].offset == 4
    # within one batch: the part that follows the stored offset lands, the rest is sought again
    mixed = chained(0, range(22, 24), prev=21) + chained(0, range(5, 8), prev=4) + chained(0, range(30, 31), prev=29)
    await ing.handle(mixed)
    assert (await state.marks("trades"))[0].offset == 7
    assert reseek.calls == [(0, 5), (0, 8)]


async def test_offsets_missing_from_what_the_consumer_fetched_are_no_gap() -> None:
    """Compaction, transaction markers, a head deleted by retention: the next record follows the stored offset."""
    reseek = Reseeks()
    ing, state, _ = make(reseek=reseek)
    await ing.handle(chained(0, [3, 4], prev=-1))  # offsets 0..2 gone before the first fetch
    await ing.handle(chained(0, [9, 12, 13], prev=4))  # 5..8, 10, 11 are not in the log
    assert reseek.calls == []
    assert (await state.marks("trades"))[0].offset == 13
    assert (await state.flow_sums(WEEK))[""]["n"] == 5.0
    # a position the consumer does not know (reset to the earliest offset): the records are taken as they come
    await ing.handle([Record(1, 7, compact(trade("x7")), prev=None)])
    assert (await state.marks("trades"))[1].offset == 7
