"""The hot path's functions as they were before the fast path, to measure the gain against (:mod:`bench.lab.micro`).

* :func:`reference_decode`: ``json.loads`` then each item through its pydantic
  model — :func:`signal_monitor.streams.codec.decode_models`, which the fast
  decode (msgspec structs) falls back to for any message it does not accept whole;
* :func:`reference_fold`: the fold adding each trade to each of its scopes, with
  two ``astimezone`` per trade for its week.

``python -m bench.lab.variant --reference-decode --reference-fold`` runs a worker
with them, and ``python -m bench.lab.compare --variants base,reference`` measures
the difference end to end.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from signal_monitor.periods import trading_day, week_end
from signal_monitor.state.base import Batch
from signal_monitor.state.fold import _scopes, _snapshot_json
from signal_monitor.state.memory import quote_wins
from signal_monitor.streams.codec import decode_models as reference_decode
from signal_monitor.streams.events import Event, Exposure, Observation, Quote, Trade

__all__ = ["hour_boundaries_hold", "reference_decode", "reference_fold"]


def reference_fold(
    topic: str,
    partition: int,
    events: Iterable[tuple[int, Event]],
    *,
    skip_trades: frozenset[str] = frozenset(),
) -> tuple[Batch, int]:
    """:func:`signal_monitor.state.fold.fold` before cells and the hourly period cache (models only)."""
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
        if isinstance(event, Trade):
            if event.trade_id in trade_ids or event.trade_id in skip_trades:
                duplicates += 1
                continue
            trade_ids[event.trade_id] = ts
            week = flows.setdefault(week_end(event.ts).isoformat(), {})
            for scope in _scopes(event.fund_type, event.instrument_type, event.sector, event.sub_industry, event.strategy):
                fields = week.get(scope)
                if fields is None:
                    fields = week[scope] = {}
                fields[event.action] = fields.get(event.action, 0.0) + event.notional
                fields["n"] = fields.get("n", 0.0) + 1.0
        elif isinstance(event, Quote):
            day = quotes.setdefault(trading_day(event.ts).isoformat(), {})
            quote = (ts, event.price, event.kind == "close")
            if quote_wins(quote, day.get(event.symbol)):
                day[event.symbol] = quote
        elif isinstance(event, Exposure):
            day_e = exposures.setdefault(trading_day(event.ts).isoformat(), {})
            old = day_e.get(event.fund_id)
            if old is None or ts >= old[0]:
                day_e[event.fund_id] = (ts, _snapshot_json(event))
        elif isinstance(event, Observation):
            day_o = observations.setdefault(trading_day(event.ts).isoformat(), {})
            old_o = day_o.get(event.series)
            if old_o is None or ts >= old_o[0]:
                day_o[event.series] = (ts, event.value)
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


def hour_boundaries_hold(start: date, end: date) -> bool:
    """Check that week and day are constant within every UTC hour between ``start`` and ``end`` (used by bench.lab.micro)."""
    t = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    stop = datetime(end.year, end.month, end.day, tzinfo=timezone.utc)
    last = timedelta(minutes=59, seconds=59, microseconds=999999)
    while t < stop:
        if (week_end(t), trading_day(t)) != (week_end(t + last), trading_day(t + last)):
            return False
        t += timedelta(hours=1)
    return True
