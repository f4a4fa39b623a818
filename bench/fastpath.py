"""Drop-in variants of the hot path's functions, measured against the originals (proposals, not in use).

Each has the signature and the result of the function it replaces, so
:mod:`bench.micro` can check equality and time both, and :mod:`bench.variant` can
patch it into a real worker subprocess to measure the end-to-end gain:

* :func:`decode`: pydantic-core parses and validates the JSON bytes in one step
  (``Model.model_validate_json``, ``TypeAdapter(list[Model]).validate_json`` for an
  envelope) instead of ``json.loads`` then ``model_validate`` of each dict; when
  anything in the message is invalid it falls back to
  :func:`signal_monitor.streams.codec.decode`, which names each bad item, so dead
  letters are unchanged.
* :func:`fold`: :func:`signal_monitor.state.fold.fold` with the week and the day
  of an event looked up per hour of event time (every period boundary in
  US/Eastern, DST included, falls on a whole hour) instead of two ``astimezone``
  calls per event, and the epoch time computed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pydantic import TypeAdapter, ValidationError

from signal_monitor.periods import trading_day, week_end
from signal_monitor.state.base import Batch
from signal_monitor.state.fold import _scopes, _snapshot_json
from signal_monitor.state.memory import quote_wins
from signal_monitor.streams import codec
from signal_monitor.streams.codec import Rejected
from signal_monitor.streams.events import (
    EVENT_TYPES,
    Event,
    Exposure,
    Observation,
    Quote,
    Trade,
)

_LISTS = {kind: TypeAdapter(list[model]) for kind, model in EVENT_TYPES.items()}  # type: ignore[valid-type]


def decode(value: bytes | None, kind: str, *, max_bytes: int) -> tuple[list[tuple[int | None, Event]], list[Rejected]]:
    """:func:`signal_monitor.streams.codec.decode`, validating the JSON bytes in pydantic-core when all is valid."""
    raw = value or b""
    if 0 < len(raw) <= max_bytes:
        head = raw[:1]
        try:
            if head == b"[":
                return list(enumerate(_LISTS[kind].validate_json(raw))), []
            if head == b"{":
                return [(None, EVENT_TYPES[kind].model_validate_json(raw))], []  # type: ignore[list-item]
        except (ValidationError, ValueError):
            pass  # the original path names every bad item and its reason
    return codec.decode(value, kind, max_bytes=max_bytes)


_HOUR_CACHE: dict[int, tuple[str, str]] = {}


def _periods(ts: float, event_ts: object) -> tuple[str, str]:
    """Return (week Friday, trading day) as ISO text for an event time, cached per hour of epoch time."""
    hour = int(ts // 3600)
    hit = _HOUR_CACHE.get(hour)
    if hit is None:
        if len(_HOUR_CACHE) > 100_000:
            _HOUR_CACHE.clear()
        hit = _HOUR_CACHE[hour] = (week_end(event_ts).isoformat(), trading_day(event_ts).isoformat())  # type: ignore[arg-type]
    return hit


def fold(
    topic: str,
    partition: int,
    events: Iterable[tuple[int, Event]],
    *,
    skip_trades: frozenset[str] = frozenset(),
) -> tuple[Batch, int]:
    """:func:`signal_monitor.state.fold.fold` with periods looked up per hour and fewer lookups per scope."""
    first = last = -1
    watermark = 0.0
    earliest = 0.0
    flows: dict[str, dict[str, dict[str, float]]] = {}
    trade_ids: dict[str, float] = {}
    exposures: dict[str, dict[str, tuple[float, str]]] = {}
    quotes: dict[str, dict[str, tuple[float, float, bool]]] = {}
    observations: dict[str, dict[str, tuple[float, float]]] = {}
    duplicates = 0
    for offset, event in events:
        if first < 0:
            first = offset
        last = offset
        ts = event.ts.timestamp()
        if ts > watermark:
            watermark = ts
        if not earliest or ts < earliest:
            earliest = ts
        if type(event) is Trade:
            tid = event.trade_id
            if tid in trade_ids or tid in skip_trades:
                duplicates += 1
                continue
            trade_ids[tid] = ts
            week_key = _periods(ts, event.ts)[0]
            week = flows.get(week_key)
            if week is None:
                week = flows[week_key] = {}
            action = event.action
            notional = event.notional
            for scope in _scopes(event.fund_type, event.instrument_type, event.sector, event.sub_industry, event.strategy):
                fields = week.get(scope)
                if fields is None:
                    week[scope] = {action: notional, "n": 1.0}
                else:
                    fields[action] = fields.get(action, 0.0) + notional
                    fields["n"] += 1.0
        elif isinstance(event, Quote):
            day = quotes.setdefault(_periods(ts, event.ts)[1], {})
            quote = (ts, event.price, event.kind == "close")
            if quote_wins(quote, day.get(event.symbol)):
                day[event.symbol] = quote
        elif isinstance(event, Exposure):
            day_e = exposures.setdefault(_periods(ts, event.ts)[1], {})
            old = day_e.get(event.fund_id)
            if old is None or ts >= old[0]:
                day_e[event.fund_id] = (ts, _snapshot_json(event))
        elif isinstance(event, Observation):
            day_o = observations.setdefault(_periods(ts, event.ts)[1], {})
            old_o = day_o.get(event.series)
            if old_o is None or ts >= old_o[0]:
                day_o[event.series] = (ts, event.value)
        elif isinstance(event, Trade):  # a subclass of Trade: the general path
            return _original_fold(topic, partition, events, skip_trades=skip_trades)
    batch = Batch(
        topic=topic,
        partition=partition,
        first_offset=first,
        last_offset=last,
        watermark=watermark,
        earliest=earliest,
        flows=flows,
        trade_ids=trade_ids,
        known_seen=skip_trades,
        exposures=exposures,
        quotes=quotes,
        observations=observations,
    )
    return batch, duplicates


def fold_cells(
    topic: str,
    partition: int,
    events: Iterable[tuple[int, Event]],
    *,
    skip_trades: frozenset[str] = frozenset(),
) -> tuple[Batch, int]:
    """:func:`fold`, summing trades per cell (week, fund type, instrument, sector, sub-industry, strategy, action)
    first and spreading each cell over its scopes once per batch, instead of every trade over its ~10 scopes.

    Same sums as the original up to float rounding (the additions happen in another order).
    """
    trades: list[tuple[int, Event]] = []
    others: list[tuple[int, Event]] = []
    for item in events:
        (trades if type(item[1]) is Trade else others).append(item)
    if others:  # quotes, exposures, observations are few: the general path
        return fold(topic, partition, trades + others if not trades else sorted(trades + others, key=lambda x: x[0]),
                    skip_trades=skip_trades)
    first = last = -1
    watermark = 0.0
    earliest = 0.0
    trade_ids: dict[str, float] = {}
    cells: dict[tuple[str, str, str, str, str | None, str, str], list[float]] = {}
    duplicates = 0
    for offset, event in trades:
        if first < 0:
            first = offset
        last = offset
        ts = event.ts.timestamp()
        if ts > watermark:
            watermark = ts
        if not earliest or ts < earliest:
            earliest = ts
        tid = event.trade_id  # type: ignore[union-attr]
        if tid in trade_ids or tid in skip_trades:
            duplicates += 1
            continue
        trade_ids[tid] = ts
        key = (_periods(ts, event.ts)[0], event.fund_type, event.instrument_type, event.sector,  # type: ignore[union-attr]
               event.sub_industry, event.strategy, event.action)  # type: ignore[union-attr]
        cell = cells.get(key)
        if cell is None:
            cells[key] = [event.notional, 1.0]  # type: ignore[union-attr]
        else:
            cell[0] += event.notional  # type: ignore[union-attr]
            cell[1] += 1.0
    flows: dict[str, dict[str, dict[str, float]]] = {}
    for (week_key, fund_type, instrument, sector, sub, strategy, action), (notional, n) in cells.items():
        week = flows.get(week_key)
        if week is None:
            week = flows[week_key] = {}
        for scope in _scopes(fund_type, instrument, sector, sub, strategy):
            fields = week.get(scope)
            if fields is None:
                week[scope] = {action: notional, "n": n}
            else:
                fields[action] = fields.get(action, 0.0) + notional
                fields["n"] += n
    batch = Batch(topic=topic, partition=partition, first_offset=first, last_offset=last, watermark=watermark,
                  earliest=earliest, flows=flows, trade_ids=trade_ids, known_seen=skip_trades)
    return batch, duplicates


def _original_fold(*args: object, **kwargs: object) -> tuple[Batch, int]:
    from signal_monitor.state.fold import fold as original

    return original(*args, **kwargs)  # type: ignore[arg-type]


def hour_boundaries_hold(start: date, end: date) -> bool:
    """Check that week and day are constant within every UTC hour between ``start`` and ``end`` (used by bench.micro)."""
    from datetime import datetime, timedelta, timezone

    t = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    stop = datetime(end.year, end.month, end.day, tzinfo=timezone.utc)
    while t < stop:
        a = (week_end(t), trading_day(t))
        b = (week_end(t + timedelta(minutes=59, seconds=59, microseconds=999999)),
             trading_day(t + timedelta(minutes=59, seconds=59, microseconds=999999)))
        if a != b:
            return False
        t += timedelta(hours=1)
    return True
