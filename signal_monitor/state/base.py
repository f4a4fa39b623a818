"""The abstract state interface, implemented by ``memory.MemoryState`` and ``redis.RedisState``.

Two layers live behind it:

* **ingest** state, written by the agents one batch at a time, exactly once per
  source offset: weekly flow sums per scope, the day's latest exposure snapshot per
  fund, the day's quotes per symbol, the day's observations per series, and per
  input partition the last applied offset and the newest event time (watermark);
* **series**: one point per closed period per metric and scope (see
  :mod:`signal_monitor.series`), written when a period closes or by backfill, read
  by the rules; the unit each observation series' events carry, kept once per
  series (not per point) for the alerts' texts; plus small per-rule state (hysteresis arming, streaks) and claims
  that make an evaluation or an alert happen once across workers.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from signal_monitor.periods import week_close_day, week_of
from signal_monitor.series import FundSnapshot

Point = tuple[date, float]

#: The rule-state id whose record shares the leases' slot (Redis Cluster): its writes under a fence
#: are checked against the lease itself. The period closer keeps its progress there.
LEASE_HOME = "__closer__"


@dataclass(frozen=True)
class Fence:
    """A lease held: its name and the fencing token its claim returned (higher for every later claim)."""

    name: str
    token: int


class FenceRefused(Exception):
    """A write under a fence was refused: the lease was lost, or a later holder of it wrote the key."""

    def __init__(self, fence: Fence, what: str) -> None:
        super().__init__(f"lease {fence.name} (token {fence.token}) no longer held: {what} refused")
        self.fence = fence


#: The fence the current task writes under (see :func:`fenced`); None: writes are not fenced.
FENCE: ContextVar[Fence | None] = ContextVar("signal_monitor_fence", default=None)


@contextmanager
def fenced(fence: Fence) -> Iterator[None]:
    """Fence every state write of the current task (and of the tasks it starts) with ``fence``.

    Series points, rule state and emit claims written inside check the token and raise
    :class:`FenceRefused` instead of writing when a later holder of the lease exists
    (see :meth:`State.lease`). The rule engine's writes are fenced without knowing it.
    """
    reset = FENCE.set(fence)
    try:
        yield
    finally:
        FENCE.reset(reset)


@dataclass
class PartitionMark:
    """What the store knows of one input partition."""

    offset: int = -1  #: last applied offset, -1 when none
    watermark: float = 0.0  #: newest event time applied (epoch seconds), 0 when none
    updated: float = 0.0  #: wall-clock time of the last applied batch (epoch seconds)
    worker: str = ""  #: the worker that applied the last batch
    highwater: int = -1  #: the partition's end offset when last seen by its consumer, -1 unknown
    closing: str = ""  #: the newest calendar day (ISO) whose close has started, "" none (see ``State.mark_closing``)

    @property
    def pending(self) -> bool:
        """Return True when the partition holds messages not applied yet (as far as known)."""
        return self.highwater > self.offset + 1


@dataclass
class Batch:
    """The folded effect of one batch of one input partition, applied atomically.

    ``flows`` maps week (ISO Friday) -> scope key -> field -> increment, where a
    field is an action name (notional) or ``n`` (count). ``exposures`` maps day ->
    fund_id -> (event time, snapshot JSON): the later snapshot of a fund wins.
    ``quotes`` maps day -> symbol -> (event time, price, is_close): a close wins over
    a trade, otherwise the later event. ``observations`` maps day -> series ->
    (event time, value): the later wins. ``units`` maps an observation series to
    the unit its events give (the later event's; an event without one adds nothing).

    ``trade_ids`` maps each trade id folded into ``flows`` to its event time. The
    store refuses the batch (``ApplyResult.seen``) when one of them was applied
    before and is not in ``known_seen``; the caller then folds again without those
    trades and names them in ``known_seen``. A batch whose ``first_offset`` is not
    past the partition's stored offset is refused (``ApplyResult.applied`` False).

    ``base_offset`` is the offset the batch's records follow in what the consumer
    fetched: the partition's stored offset as the worker knows it. When set, the
    store applies the batch only if its stored offset is exactly that: a store
    behind it lost batches it had acknowledged (``ApplyResult.gap``), one past it
    was moved by another writer (``stale``). Offsets between ``base_offset`` and
    ``first_offset`` that the consumer did not fetch (compaction, transaction
    markers, a head deleted by retention) are no gap.
    """

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    watermark: float
    earliest: float = 0.0  #: oldest event time in the batch (epoch seconds)
    worker: str = ""  #: the worker applying it, recorded in the partition's mark
    highwater: int = -1  #: the partition's end offset as the consumer knows it, -1 unknown
    base_offset: int | None = None  #: the offset the records follow (the stored offset expected), None: not checked
    flows: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    trade_ids: dict[str, float] = field(default_factory=dict)
    known_seen: frozenset[str] = frozenset()
    exposures: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)
    quotes: dict[str, dict[str, tuple[float, float, bool]]] = field(default_factory=dict)
    observations: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    #: set by the ingestor once applied: the closed periods (``<granularity>:<ISO date>``) the batch reopened
    reopened: tuple[str, ...] = ()


def reopen_candidates(batch: Batch) -> list[tuple[str, str]]:
    """Return the periods a batch changes, as (period key, the calendar day whose close closes it).

    A week's flows close with its last session (:func:`signal_monitor.periods.week_close_day`);
    a day's exposures, quotes and observations close the day, and the week it belongs
    to with that week's last session. The store lists those whose day's close has
    started (``PartitionMark.closing``) as reopened, in the same step as it applies the batch.
    """
    out: dict[str, str] = {}
    for week in batch.flows:
        out[f"week:{week}"] = week_close_day(date.fromisoformat(week)).isoformat()
    for touched in (batch.exposures, batch.quotes, batch.observations):
        for day in touched:
            out[f"day:{day}"] = day
            when = date.fromisoformat(day)
            friday, last = week_of(when), week_close_day(week_of(when))
            if when <= last:  # a holiday Friday after the week's last session is no day of its week's
                out[f"week:{friday.isoformat()}"] = last.isoformat()
    return sorted(out.items())


@dataclass
class ApplyResult:
    """What applying a batch did."""

    applied: bool  #: False when nothing was written
    stale: bool = False  #: the partition's stored offset is at or past ``first_offset`` (or past ``base_offset``)
    gap: bool = False  #: the partition's stored offset is behind ``base_offset``: the store lost applied batches
    stored_offset: int = -1  #: the partition's offset in the store after the call
    seen: tuple[str, ...] = ()  #: trade ids applied before and not in ``known_seen``
    reopened: tuple[str, ...] = ()  #: periods closed (or being closed) that the applied batch changed


class State(abc.ABC):
    """The state of the monitor; every method is a coroutine."""

    #: input topics are ``<topic_prefix>.<kind>``; the readers of ingest state use it
    topic_prefix: str = "signals"

    # --- ingest ---------------------------------------------------------------------
    @abc.abstractmethod
    async def apply(self, batch: Batch) -> ApplyResult:
        """Apply a batch atomically unless its offsets are applied already; an applied batch records its units.

        The units (``Batch.units``) are series metadata, written after the batch's data (through
        :meth:`set_series_units`, outside its atomic step): a unit is a fact of the series, so
        writing it again is harmless.
        """

    @abc.abstractmethod
    async def marks(self, topic: str) -> dict[int, PartitionMark]:
        """Return the mark of every partition of ``topic`` that has one."""

    async def marks_of(self, topics: Sequence[str]) -> dict[tuple[str, int], PartitionMark]:
        """Return the mark of every partition of ``topics`` that has one, by (topic, partition)."""
        return {(topic, p): mark for topic in topics for p, mark in (await self.marks(topic)).items()}

    @abc.abstractmethod
    async def register(self, topic: str, partition: int, *, highwater: int) -> None:
        """Record that a consumer owns ``partition`` and its end offset, before any batch of it is applied."""

    @abc.abstractmethod
    async def mark_closing(self, topics: Sequence[str], day: str) -> None:
        """Record in the mark of every listed partition of ``topics`` that the close of ``day`` (ISO) started.

        Called before the close reads the day's aggregates. A batch applied after it that
        changes a period closed by that day (or before) lists the period as reopened in the
        same atomic step (``ApplyResult.reopened``, :meth:`reopened`); one applied before it
        is in what the close reads. Never moves a partition's day back.
        """

    @abc.abstractmethod
    async def reopened(self, topic: str) -> dict[int, dict[str, int]]:
        """Return partition -> period key -> offset of the newest batch that reopened the period."""

    @abc.abstractmethod
    async def drop_reopened(self, topic: str, partition: int, entries: Mapping[str, int]) -> None:
        """Drop the reopen entries of a partition recomputed up to the given offsets (a newer entry stays)."""

    @abc.abstractmethod
    async def flow_sums(self, week: date) -> dict[str, dict[str, float]]:
        """Return the week's flow sums: scope key -> field -> value."""

    @abc.abstractmethod
    async def exposure_snapshots(self, day: date) -> list[FundSnapshot]:
        """Return the latest snapshot of every fund that reported on ``day``."""

    @abc.abstractmethod
    async def quotes(self, day: date) -> dict[str, tuple[float, bool]]:
        """Return symbol -> (price, is official close) for ``day``."""

    @abc.abstractmethod
    async def observations(self, day: date) -> dict[str, float]:
        """Return series -> value observed on ``day``."""

    # --- series ---------------------------------------------------------------------
    @abc.abstractmethod
    async def put_points(self, period: date, points: Mapping[str, float]) -> None:
        """Set the point of ``period`` in each series (replacing one already there)."""

    @abc.abstractmethod
    async def put_series(self, sid: str, points: Sequence[Point]) -> None:
        """Set many points of one series (backfill); idempotent."""

    @abc.abstractmethod
    async def history(self, sid: str, *, since: date | None = None, until: date | None = None) -> list[Point]:
        """Return the points of a series with since <= period <= until, oldest first."""

    @abc.abstractmethod
    async def series_ids(self, prefix: str) -> list[str]:
        """Return the ids of the stored series that start with ``prefix``, sorted."""

    @abc.abstractmethod
    async def set_series_units(self, units: Mapping[str, str]) -> None:
        """Record the unit of each observation series (series name -> unit); a unit given later replaces one.

        Kept once per series, for the daily and the weekly series of that name alike; an empty unit is ignored.
        """

    @abc.abstractmethod
    async def series_units(self, names: Sequence[str]) -> dict[str, str]:
        """Return the recorded unit of each of the observation series ``names`` that has one."""

    # --- rules ------------------------------------------------------------------------
    @abc.abstractmethod
    async def get_rule_state(self, rule_id: str, scope: str) -> dict[str, Any]:
        """Return the saved state of a rule for a scope ({} when none)."""

    @abc.abstractmethod
    async def set_rule_state(self, rule_id: str, scope: str, value: Mapping[str, Any]) -> None:
        """Save the state of a rule for a scope."""

    @abc.abstractmethod
    async def claim(self, key: str, *, ttl_s: float) -> bool:
        """Atomically claim ``key`` for ``ttl_s`` seconds; False when already claimed."""

    # --- leases and fencing -----------------------------------------------------------
    #
    # A lease is held by one worker at a time, for ``ttl_s`` unless renewed. Its claim returns a
    # fencing token, higher than every token returned before (by any lease). Writes done under
    # ``fenced(Fence(name, token))`` are checked:
    #
    # * rule state of ``LEASE_HOME`` and emit claims, which live in the leases' slot: against the
    #   lease itself; refused unless the lease is held with this token;
    # * series points and other rule state (other slots on a cluster): each key keeps, per lease
    #   name, the highest token that wrote it; refused when a higher one did (a later holder).
    @abc.abstractmethod
    async def lease(self, name: str, *, ttl_s: float) -> int | None:
        """Take lease ``name`` for ``ttl_s`` seconds; return its fencing token, None when it is held."""

    @abc.abstractmethod
    async def renew(self, name: str, token: int, *, ttl_s: float) -> bool:
        """Extend lease ``name`` to ``ttl_s`` from now if it is still held with ``token``; False when lost."""

    @abc.abstractmethod
    async def claim_emit(self, key: str, *, ttl_s: float) -> str:
        """Claim the hand-on of the alert ``key`` (its dedup key, which carries its revision) under the fence.

        Returns ``"new"`` (claimed now), ``"again"`` (claimed before and not recorded as handed on:
        by this holder, or by a holder that lost its lease) or ``"sent"`` (handed on: skip it).
        Raises :class:`FenceRefused` when the current fence's lease is not held.
        """

    @abc.abstractmethod
    async def mark_emitted(self, key: str, *, ttl_s: float) -> None:
        """Record that the alert ``key`` was handed on (on the topic); never refused, since it is a fact."""

    # --- the week's note ---------------------------------------------------------------
    #
    # Per week (its Friday): the final alerts handed on whose period ends in it, one entry per rule,
    # scope and period holding its highest revision, and the note composed from them (JSON).
    @abc.abstractmethod
    async def record_note_alert(self, week: date, key: str, alert_json: str, *, revision: int) -> bool:
        """Keep ``alert_json`` under ``key`` of ``week`` unless a higher revision is kept; True when kept."""

    @abc.abstractmethod
    async def note_alerts(self, week: date) -> list[str]:
        """Return the alerts kept for ``week`` (JSON), in no particular order."""

    @abc.abstractmethod
    async def put_note(self, week: date, note_json: str) -> None:
        """Store the note of ``week`` (replacing the one stored)."""

    @abc.abstractmethod
    async def get_note(self, week: date) -> str | None:
        """Return the stored note of ``week`` (JSON), None when there is none."""

    @abc.abstractmethod
    async def note_weeks(self) -> list[date]:
        """Return the weeks that have a stored note, oldest first."""

    # --- lifecycle --------------------------------------------------------------------
    async def ping(self) -> float:
        """Return the round-trip time to the store in seconds."""
        return 0.0

    async def close(self) -> None:
        """Release connections."""
