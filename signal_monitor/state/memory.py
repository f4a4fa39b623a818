"""An in-memory ``State``: the same semantics as the Redis backend, for replay and unit tests."""

from __future__ import annotations

import bisect
import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from signal_monitor.series import FundSnapshot
from signal_monitor.state.base import (
    FENCE,
    LEASE_HOME,
    ApplyResult,
    Batch,
    FenceRefused,
    PartitionMark,
    Point,
    State,
    reopen_candidates,
)


def snapshot_from_json(text: str) -> FundSnapshot:
    """Return the FundSnapshot stored as JSON by the fold."""
    raw = json.loads(text)
    return FundSnapshot(
        fund_type=raw["fund_type"],
        strategy=raw["strategy"],
        nav=raw["nav"],
        long_mv=raw["long_mv"],
        short_mv=raw["short_mv"],
        sectors={k: tuple(v) for k, v in raw.get("sectors", {}).items()},  # type: ignore[misc]
        sub_industries={k: tuple(v) for k, v in raw.get("sub_industries", {}).items()},  # type: ignore[misc]
        instrument_types={k: tuple(v) for k, v in raw.get("instrument_types", {}).items()},  # type: ignore[misc]
    )


def quote_wins(new: tuple[float, float, bool], old: tuple[float, float, bool] | None) -> bool:
    """Return True when quote ``new`` (ts, price, is_close) replaces ``old`` for the day."""
    if old is None:
        return True
    if new[2] != old[2]:
        return new[2]
    return new[0] >= old[0]


class MemoryState(State):
    """Everything in dicts; one process only.

    Trade ids are remembered for good and across partitions and days, so every
    resend is refused: stricter than ``RedisState``, which remembers an id for
    ``dedup_ttl`` under its partition and the UTC day of its event time. For
    resends that keep their event time and partition, within that window, both agree.
    """

    def __init__(self) -> None:
        self._marks: dict[tuple[str, int], PartitionMark] = {}
        self._seen: dict[str, float] = {}
        self._flows: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
        self._exposures: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
        self._quotes: dict[str, dict[str, tuple[float, float, bool]]] = defaultdict(dict)
        self._observations: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
        self._series: dict[str, dict[date, float]] = defaultdict(dict)
        self._order: dict[str, list[date]] = defaultdict(list)  # each series' periods, sorted
        self._units: dict[str, str] = {}  # observation series -> the unit its events give
        self._rule_state: dict[tuple[str, str], dict[str, Any]] = {}
        self._claims: dict[str, float] = {}
        self._reopen: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        #: the clock of claims and leases (monotonic seconds); a test may replace it
        self.clock: Any = time.monotonic
        self._leases: dict[str, tuple[int, float]] = {}  # name -> (token, until)
        self._lease_seq = 0
        self._fences: dict[str, dict[str, int]] = defaultdict(dict)  # written key -> lease name -> highest token
        self._emits: dict[str, tuple[str, float]] = {}  # alert key -> ("sent" | "pending:<token>", until)
        self._note_alerts: dict[date, dict[str, tuple[int, str]]] = defaultdict(dict)  # week -> key -> (rev, JSON)
        self._notes: dict[date, str] = {}

    async def apply(self, batch: Batch) -> ApplyResult:
        """Apply a batch unless its offsets are applied already."""
        mark = self._marks.setdefault((batch.topic, batch.partition), PartitionMark())
        if batch.base_offset is not None and mark.offset < batch.base_offset:
            return ApplyResult(applied=False, gap=True, stored_offset=mark.offset)
        if batch.first_offset <= mark.offset or (batch.base_offset is not None and mark.offset > batch.base_offset):
            return ApplyResult(applied=False, stale=True, stored_offset=mark.offset)
        seen = tuple(t for t in batch.trade_ids if t in self._seen and t not in batch.known_seen)
        if seen:
            return ApplyResult(applied=False, stored_offset=mark.offset, seen=seen)
        for trade_id, ts in batch.trade_ids.items():
            self._seen.setdefault(trade_id, ts)
        for week, scopes in batch.flows.items():
            for scope, fields in scopes.items():
                target = self._flows[week][scope]
                for name, inc in fields.items():
                    target[name] += inc
        for day, funds in batch.exposures.items():
            for fund, snap in funds.items():
                old = self._exposures[day].get(fund)
                if old is None or snap[0] >= old[0]:
                    self._exposures[day][fund] = snap
        for day, symbols in batch.quotes.items():
            for symbol, quote in symbols.items():
                if quote_wins(quote, self._quotes[day].get(symbol)):
                    self._quotes[day][symbol] = quote
        for day, series in batch.observations.items():
            for name, obs in series.items():
                old_obs = self._observations[day].get(name)
                if old_obs is None or obs[0] >= old_obs[0]:
                    self._observations[day][name] = obs
        mark.offset = batch.last_offset
        mark.watermark = max(mark.watermark, batch.watermark)
        mark.updated = time.time()
        mark.worker = batch.worker
        if batch.highwater >= 0:
            mark.highwater = batch.highwater
        reopened = tuple(pk for pk, day in reopen_candidates(batch) if mark.closing and day <= mark.closing)
        for pk in reopened:
            self._reopen[(batch.topic, batch.partition)][pk] = batch.last_offset
        await self.set_series_units(batch.units)
        return ApplyResult(applied=True, stored_offset=mark.offset, reopened=reopened)

    async def mark_closing(self, topics: Sequence[str], day: str) -> None:
        """Record in every partition's mark that the close of ``day`` started."""
        for (topic, _), mark in self._marks.items():
            if topic in topics and day > mark.closing:
                mark.closing = day

    async def reopened(self, topic: str) -> dict[int, dict[str, int]]:
        """Return partition -> period key -> offset of the newest batch that reopened it."""
        return {p: dict(e) for (t, p), e in self._reopen.items() if t == topic and e}

    async def drop_reopened(self, topic: str, partition: int, entries: Mapping[str, int]) -> None:
        """Drop the entries recomputed up to the given offsets."""
        listed = self._reopen.get((topic, partition), {})
        for pk, offset in entries.items():
            if pk in listed and listed[pk] <= offset:
                del listed[pk]

    async def marks(self, topic: str) -> dict[int, PartitionMark]:
        """Return the mark of every partition of ``topic`` that has one."""
        return {p: m for (t, p), m in self._marks.items() if t == topic}

    async def register(self, topic: str, partition: int, *, highwater: int) -> None:
        """Record a partition's end offset."""
        self._marks.setdefault((topic, partition), PartitionMark()).highwater = highwater

    async def flow_sums(self, week: date) -> dict[str, dict[str, float]]:
        """Return the week's flow sums: scope key -> field -> value."""
        return {k: dict(v) for k, v in self._flows.get(week.isoformat(), {}).items()}

    async def exposure_snapshots(self, day: date) -> list[FundSnapshot]:
        """Return the latest snapshot of every fund that reported on ``day``."""
        return [snapshot_from_json(s) for _, s in self._exposures.get(day.isoformat(), {}).values()]

    async def quotes(self, day: date) -> dict[str, tuple[float, bool]]:
        """Return symbol -> (price, is official close) for ``day``."""
        return {s: (q[1], q[2]) for s, q in self._quotes.get(day.isoformat(), {}).items()}

    async def observations(self, day: date) -> dict[str, float]:
        """Return series -> value observed on ``day``."""
        return {s: o[1] for s, o in self._observations.get(day.isoformat(), {}).items()}

    def _set(self, sid: str, period: date, value: float) -> None:
        target = self._series[sid]
        if period not in target:
            order = self._order[sid]
            if not order or period > order[-1]:
                order.append(period)
            else:
                bisect.insort(order, period)
        target[period] = float(value)

    async def put_points(self, period: date, points: Mapping[str, float]) -> None:
        """Set the point of ``period`` in each series (fenced: see ``State.lease``)."""
        self._fence_keys([f"series:{sid}" for sid in points], "series points")
        for sid, value in points.items():
            self._set(sid, period, value)

    async def put_series(self, sid: str, points: Sequence[Point]) -> None:
        """Set many points of one series."""
        for period, value in points:
            self._set(sid, period, value)

    async def history(self, sid: str, *, since: date | None = None, until: date | None = None) -> list[Point]:
        """Return the points of a series with since <= period <= until, oldest first."""
        points = self._series.get(sid)
        if not points:
            return []
        keys = self._order[sid]
        lo = bisect.bisect_left(keys, since) if since else 0
        hi = bisect.bisect_right(keys, until) if until else len(keys)
        return [(k, points[k]) for k in keys[lo:hi]]

    async def series_ids(self, prefix: str) -> list[str]:
        """Return the ids of the stored series that start with ``prefix``, sorted."""
        return sorted(s for s, pts in self._series.items() if pts and s.startswith(prefix))

    async def set_series_units(self, units: Mapping[str, str]) -> None:
        """Record the unit of each observation series (an empty unit is ignored)."""
        self._units.update({name: unit for name, unit in units.items() if unit})

    async def series_units(self, names: Sequence[str]) -> dict[str, str]:
        """Return the recorded unit of each named observation series that has one."""
        return {name: self._units[name] for name in names if name in self._units}

    async def get_rule_state(self, rule_id: str, scope: str) -> dict[str, Any]:
        """Return the saved state of a rule for a scope."""
        return dict(self._rule_state.get((rule_id, scope), {}))

    async def set_rule_state(self, rule_id: str, scope: str, value: Mapping[str, Any]) -> None:
        """Save the state of a rule for a scope (fenced: see ``State.lease``)."""
        if rule_id == LEASE_HOME:
            self._check_lease(f"rule state {rule_id} {scope}")
        else:
            self._fence_keys([f"rule:{rule_id}"], f"rule state {rule_id} {scope}")
        self._rule_state[(rule_id, scope)] = dict(value)

    async def claim(self, key: str, *, ttl_s: float) -> bool:
        """Claim ``key`` for ``ttl_s`` seconds; False when already claimed."""
        now = self.clock()
        if self._claims.get(key, float("-inf")) > now:
            return False
        self._claims[key] = now + ttl_s
        return True

    # --- leases and fencing -----------------------------------------------------------
    async def lease(self, name: str, *, ttl_s: float) -> int | None:
        """Take lease ``name``; return its fencing token, None when held."""
        now = self.clock()
        held = self._leases.get(name)
        if held is not None and held[1] > now:
            return None
        self._lease_seq += 1
        self._leases[name] = (self._lease_seq, now + ttl_s)
        return self._lease_seq

    async def renew(self, name: str, token: int, *, ttl_s: float) -> bool:
        """Extend lease ``name`` if still held with ``token``."""
        now = self.clock()
        held = self._leases.get(name)
        if held is None or held[0] != token or held[1] <= now:
            return False
        self._leases[name] = (token, now + ttl_s)
        return True

    def _check_lease(self, what: str) -> None:
        """Refuse a write under a fence whose lease is not held with its token."""
        fence = FENCE.get()
        if fence is None:
            return
        held = self._leases.get(fence.name)
        if held is None or held[0] != fence.token or held[1] <= self.clock():
            raise FenceRefused(fence, what)

    def _fence_keys(self, keys: Sequence[str], what: str) -> None:
        """Refuse a write under a fence when a later holder of its lease wrote one of ``keys``; else stamp them."""
        fence = FENCE.get()
        if fence is None:
            return
        for key in keys:
            if self._fences[key].get(fence.name, -1) > fence.token:
                raise FenceRefused(fence, what)
        for key in keys:
            self._fences[key][fence.name] = fence.token

    async def claim_emit(self, key: str, *, ttl_s: float) -> str:
        """Claim the hand-on of an alert under the fence: "new", "again" or "sent"."""
        self._check_lease(f"emit claim {key}")
        fence = FENCE.get()
        now = self.clock()
        old = self._emits.get(key)
        if old is not None and old[1] > now:
            if old[0] == "sent":
                return "sent"
            status = "again"
        else:
            status = "new"
        self._emits[key] = (f"pending:{fence.token if fence else 0}", now + ttl_s)
        return status

    async def mark_emitted(self, key: str, *, ttl_s: float) -> None:
        """Record that an alert was handed on (a fact, so never refused: a later holder skips it)."""
        self._emits[key] = ("sent", self.clock() + ttl_s)

    # --- the week's note ---------------------------------------------------------------
    async def record_note_alert(self, week: date, key: str, alert_json: str, *, revision: int) -> bool:
        """Keep the alert under ``key`` of ``week`` unless a higher revision is kept."""
        kept = self._note_alerts[week].get(key)
        if kept is not None and kept[0] > revision:
            return False
        self._note_alerts[week][key] = (revision, alert_json)
        return True

    async def note_alerts(self, week: date) -> list[str]:
        """Return the alerts kept for ``week``."""
        return [text for _, text in self._note_alerts.get(week, {}).values()]

    async def put_note(self, week: date, note_json: str) -> None:
        """Store the note of ``week``."""
        self._notes[week] = note_json

    async def get_note(self, week: date) -> str | None:
        """Return the stored note of ``week``."""
        return self._notes.get(week)

    async def note_weeks(self) -> list[date]:
        """Return the weeks with a stored note, oldest first."""
        return sorted(self._notes)
