"""The hot path: fold a batch of validated events of one partition into one ``Batch`` of increments."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from signal_monitor.periods import EASTERN, trading_day, week_end
from signal_monitor.series import trade_scopes
from signal_monitor.state.base import Batch
from signal_monitor.state.memory import quote_wins
from signal_monitor.streams.events import Exposure
from signal_monitor.streams.fast_schema import EXPOSURES, OBSERVATIONS, QUOTES, TRADES, AnyEvent, ExposureStruct


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


_HOUR = timedelta(hours=1)
_LAST_MICROSECOND = timedelta(hours=1, microseconds=-1)
_PERIODS_MAX = 100_000
#: (week Friday, trading day) as ISO text per hour of epoch time (``floor(ts / 3600)``).
_periods_by_hour: dict[int, tuple[str, str]] = {}


def _periods(ts: float, event_ts: datetime) -> tuple[str, str]:
    """Return the week (its Friday) and the trading day of an event time, as ISO text.

    Both change only on a whole hour of US/Eastern time (midnight, a week's
    close: every NYSE close is on the hour, see :mod:`signal_monitor.exchange_calendar`),
    so they are the same for a whole hour of UTC time whenever that
    hour is one hour of US/Eastern time: the offset does not change within it and
    is a whole number of hours (so for every hour but those of the 1883 switch
    from local mean time). Such an hour is looked up once; any other is computed
    from the event time.
    (A float epoch time is exact enough for the floor to pick the hour: a
    microsecond before an hour, up to the year 2242, is a float below it.)
    """
    hour = int(ts // 3600)
    hit = _periods_by_hour.get(hour)
    if hit is None:
        start = datetime.fromtimestamp(hour * 3600, timezone.utc)
        offset = start.astimezone(EASTERN).utcoffset()
        if offset is None or offset % _HOUR or (start + _LAST_MICROSECOND).astimezone(EASTERN).utcoffset() != offset:
            return week_end(event_ts).isoformat(), trading_day(event_ts).isoformat()
        if len(_periods_by_hour) >= _PERIODS_MAX:
            _periods_by_hour.clear()
        hit = _periods_by_hour[hour] = (week_end(start).isoformat(), trading_day(start).isoformat())
    return hit


def _snapshot_json(e: Exposure | ExposureStruct) -> str:
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


_TRADE, _QUOTE, _EXPOSURE, _OBSERVATION = range(4)
#: The kind of an event by its class; a class not here (a subclass) is looked up with isinstance.
_KINDS: dict[type, int] = {}


def _kind(event: object) -> int:
    cls = type(event)
    for kind, classes in ((_TRADE, TRADES), (_QUOTE, QUOTES), (_EXPOSURE, EXPOSURES), (_OBSERVATION, OBSERVATIONS)):
        if isinstance(event, classes):
            _KINDS[cls] = kind
            return kind
    _KINDS[cls] = -1
    return -1


def fold(
    topic: str,
    partition: int,
    events: Iterable[tuple[int, AnyEvent]],
    *,
    skip_trades: frozenset[str] = frozenset(),
) -> tuple[Batch, int]:
    """Fold ``(offset, event)`` pairs into one Batch; return it and the number of duplicate trades left out.

    Events are models or their structs (:mod:`signal_monitor.streams.fast_schema`).
    A trade id in ``skip_trades`` (applied before) or repeated within the batch is
    left out and counted as a duplicate.

    Trades are summed per cell first (week, fund type, instrument type, sector,
    sub-industry, strategy, action), and each cell is then added to the scopes it
    counts in, once per batch. The sums are those of adding each trade to its
    scopes, up to float rounding (the additions happen in another order); the
    order of weeks, scopes and fields is the same.
    """
    first = last = -1
    watermark = 0.0
    earliest = 0.0
    trade_ids: dict[str, float] = {}
    cells: dict[tuple[str, str, str, str, str | None, str, str], list[float]] = {}
    exposures: dict[str, dict[str, tuple[float, str]]] = {}
    quotes: dict[str, dict[str, tuple[float, float, bool]]] = {}
    observations: dict[str, dict[str, tuple[float, float]]] = {}
    units: dict[str, tuple[float, str]] = {}
    duplicates = 0
    kinds = _KINDS
    periods_by_hour = _periods_by_hour
    for offset, event in events:
        if first < 0:
            first = offset
        last = offset
        event_ts = event.ts
        ts = event_ts.timestamp()
        if ts > watermark:
            watermark = ts
        if not earliest or ts < earliest:
            earliest = ts
        kind = kinds.get(type(event))
        if kind is None:
            kind = _kind(event)
        if kind == _TRADE:
            trade_id = event.trade_id  # type: ignore[union-attr]
            if trade_id in trade_ids or trade_id in skip_trades:
                duplicates += 1
                continue
            trade_ids[trade_id] = ts
            periods = periods_by_hour.get(ts // 3600) or _periods(ts, event_ts)  # a float finds its int key
            key = (periods[0], event.fund_type, event.instrument_type, event.sector,  # type: ignore[union-attr]
                   event.sub_industry, event.strategy, event.action)  # type: ignore[union-attr]
            cell = cells.get(key)
            if cell is None:
                cells[key] = [event.notional, 1.0]  # type: ignore[union-attr]
            else:
                cell[0] += event.notional  # type: ignore[union-attr]
                cell[1] += 1.0
        elif kind == _QUOTE:
            day = quotes.setdefault(_periods(ts, event_ts)[1], {})
            quote = (ts, event.price, event.kind == "close")  # type: ignore[union-attr]
            if quote_wins(quote, day.get(event.symbol)):  # type: ignore[union-attr]
                day[event.symbol] = quote  # type: ignore[union-attr]
        elif kind == _EXPOSURE:
            day_e = exposures.setdefault(_periods(ts, event_ts)[1], {})
            old = day_e.get(event.fund_id)  # type: ignore[union-attr]
            if old is None or ts >= old[0]:
                day_e[event.fund_id] = (ts, _snapshot_json(event))  # type: ignore[union-attr,arg-type]
        elif kind == _OBSERVATION:
            day_o = observations.setdefault(_periods(ts, event_ts)[1], {})
            old_o = day_o.get(event.series)  # type: ignore[union-attr]
            if old_o is None or ts >= old_o[0]:
                day_o[event.series] = (ts, event.value)  # type: ignore[union-attr]
            unit = event.unit  # type: ignore[union-attr]
            if unit:
                old_u = units.get(event.series)  # type: ignore[union-attr]
                if old_u is None or ts >= old_u[0]:
                    units[event.series] = (ts, unit)  # type: ignore[union-attr]
    flows: dict[str, dict[str, dict[str, float]]] = {}
    for (week_key, fund_type, instrument_type, sector, sub_industry, strategy, action), (notional, n) in cells.items():
        week = flows.get(week_key)
        if week is None:
            week = flows[week_key] = {}
        for scope in _scopes(fund_type, instrument_type, sector, sub_industry, strategy):
            fields = week.get(scope)
            if fields is None:
                week[scope] = {action: notional, "n": n}
            else:
                fields[action] = fields.get(action, 0.0) + notional
                fields["n"] += n
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
        units={series: unit for series, (_, unit) in units.items()},
    )
    return batch, duplicates
