"""The hot path: fold a batch of validated events of one partition into one ``Batch`` of increments."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

from signal_monitor.metrics import trade_scopes
from signal_monitor.periods import trading_day, week_end
from signal_monitor.state.base import Batch
from signal_monitor.state.memory import quote_wins
from signal_monitor.streams.events import Event, Exposure, Observation, Quote, Trade


@lru_cache(maxsize=65536)
def _scopes(fund_type: str, instrument_type: str, sector: str, sub_industry: str | None, strategy: str) -> tuple[str, ...]:
    return tuple(
        trade_scopes(
            {
                "fund_type": fund_type,
                "instrument_type": instrument_type,
                "sector": sector,
                "sub_industry": sub_industry,
                "strategy": strategy,
            }
        )
    )


def _snapshot_json(e: Exposure) -> str:
    return json.dumps(
        {
            "fund_type": e.fund_type,
            "strategy": e.strategy,
            "nav": e.nav,
            "long_mv": e.long_mv,
            "short_mv": e.short_mv,
            "sectors": {k: [v.long_mv, v.short_mv] for k, v in e.sectors.items()},
            "sub_industries": {k: [v.long_mv, v.short_mv] for k, v in e.sub_industries.items()},
            "instrument_types": {k: [v.long_mv, v.short_mv] for k, v in e.instrument_types.items()},
        },
        separators=(",", ":"),
    )


def fold(
    topic: str,
    partition: int,
    events: Iterable[tuple[int, Event]],
    *,
    skip_trades: frozenset[str] = frozenset(),
) -> tuple[Batch, int]:
    """Fold ``(offset, event)`` pairs into one Batch; return it and the number of duplicate trades left out.

    A trade id in ``skip_trades`` (applied before) or repeated within the batch is
    left out and counted as a duplicate.
    """
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
