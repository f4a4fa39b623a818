"""The fold by cell against a plain fold that adds each trade to each of its scopes, on models and structs alike."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_monitor.periods import trading_day, week_end
from signal_monitor.state import fold as fold_module
from signal_monitor.state.base import Batch
from signal_monitor.state.fold import _periods, _scopes, _snapshot_json, fold
from signal_monitor.state.memory import quote_wins
from signal_monitor.streams import codec
from signal_monitor.streams.events import ACTIONS, GICS_SECTORS, Event, Exposure, Observation, Quote, Trade
from signal_monitor.streams.fast_schema import to_model

UTC = timezone.utc


def reference_fold(
    topic: str, partition: int, events: Iterable[tuple[int, Event]], *, skip_trades: frozenset[str] = frozenset()
) -> tuple[Batch, int]:
    """The fold as it was before cells: each trade added to each of its scopes, in order."""
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
    batch = Batch(topic=topic, partition=partition, first_offset=first, last_offset=last, watermark=watermark,
                  earliest=earliest, flows=flows, trade_ids=trade_ids, known_seen=skip_trades, exposures=exposures,
                  quotes=quotes, observations=observations)
    return batch, duplicates


def assert_same_batch(a: Batch, b: Batch) -> None:
    """Equal batches, flows to 1e-9 relative (sums in another order), in the same order of weeks, scopes and fields."""
    assert (a.topic, a.partition, a.first_offset, a.last_offset) == (b.topic, b.partition, b.first_offset, b.last_offset)
    assert (a.watermark, a.earliest, a.known_seen) == (b.watermark, b.earliest, b.known_seen)
    assert list(a.trade_ids.items()) == list(b.trade_ids.items())
    assert list(a.exposures.items()) == list(b.exposures.items())
    assert list(a.quotes.items()) == list(b.quotes.items())
    assert list(a.observations.items()) == list(b.observations.items())
    assert list(a.flows) == list(b.flows)
    for week, scopes in a.flows.items():
        assert list(scopes) == list(b.flows[week]), week
        for scope, fields in scopes.items():
            other = b.flows[week][scope]
            assert list(fields) == list(other), (week, scope)
            for name, value in fields.items():
                assert abs(other[name] - value) <= 1e-9 * abs(value), (week, scope, name)
                if name == "n":
                    assert other[name] == value


# --- random batches ----------------------------------------------------------------------------------

START = datetime(2024, 3, 1, tzinfo=UTC)
moments = st.one_of(
    st.integers(0, 400 * 86400 * 10**6).map(lambda us: START + timedelta(microseconds=us)),
    st.integers(0, 3 * 86400 * 10**6).map(lambda us: START + timedelta(microseconds=us)),
    # around the DST switches and a Friday close, to the microsecond
    st.sampled_from([datetime(2024, 3, 10, 7, tzinfo=UTC), datetime(2024, 11, 3, 6, tzinfo=UTC),
                     datetime(2025, 3, 9, 7, tzinfo=UTC), datetime(2025, 6, 6, 20, tzinfo=UTC),
                     datetime(2025, 6, 7, 4, tzinfo=UTC)]).flatmap(
        lambda t: st.integers(-2, 2).map(lambda us: t + timedelta(microseconds=us))),
)
offsets = st.sampled_from(["Z", "+00:00", "-04:00", "-05:00", "+05:30", "+01:00"])


def stamp(at: datetime, offset: str) -> str:
    zone = UTC if offset == "Z" else datetime.strptime(offset.replace(":", ""), "%z").tzinfo
    return at.astimezone(zone).isoformat().replace("+00:00", "Z") if offset == "Z" else at.astimezone(zone).isoformat()


SUBS = [None, "Oil & Gas", "Banks", "Semiconductors"]


@st.composite
def trade_body(draw: st.DrawFn, ids: list[str], k: int) -> dict[str, Any]:
    """A trade whose dimensions take one of their first ``k`` values (few values: cells of many trades)."""
    quantity = draw(st.integers(1, 5000))
    price = draw(st.floats(0.01, 2000, allow_nan=False).map(lambda p: round(p, 2)))

    def one_of(values: list[Any]) -> Any:
        return draw(st.sampled_from(values[:k]))

    body: dict[str, Any] = {
        "ts": stamp(draw(moments), draw(offsets)), "trade_id": draw(st.sampled_from(ids)),
        "fund_id": draw(st.sampled_from(["F1", "F2", "F3"])), "fund_type": one_of(["hedge_fund", "long_only"]),
        "strategy": one_of(["macro", "quant", "value"]), "symbol": draw(st.sampled_from(["XLE", "XOM", "SPY"])),
        "instrument_type": one_of(["single_stock", "etf", "index"]),
        "sector": one_of([*GICS_SECTORS[:3], "broad"]), "action": draw(st.sampled_from(ACTIONS[: k + 1])),
        "quantity": quantity, "price": price, "notional": quantity * price * draw(st.sampled_from([1.0, 1.001, 0.999])),
    }
    sub = one_of(SUBS)
    if sub is not None:
        body["sub_industry"] = sub
    return body


@st.composite
def other_body(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    ts = stamp(draw(moments), draw(offsets))
    kind = draw(st.sampled_from(["quotes", "exposures", "observations"]))
    if kind == "quotes":
        return kind, {"ts": ts, "symbol": draw(st.sampled_from(["VIX", "SPX"])), "price": draw(st.floats(1, 100)),
                      "kind": draw(st.sampled_from(["trade", "close"]))}
    if kind == "exposures":
        return kind, {"ts": ts, "fund_id": draw(st.sampled_from(["F1", "F2"])), "fund_type": "hedge_fund", "strategy": "macro",
                      "nav": draw(st.floats(1, 1e6)), "long_mv": draw(st.floats(0, 1e6)), "short_mv": 0,
                      "sectors": {"Energy": {"long_mv": draw(st.floats(0, 10))}}}
    return kind, {"ts": ts, "series": draw(st.sampled_from(["a", "b"])), "value": draw(st.floats(-1e6, 1e6))}


def as_event(kind: str, body: dict[str, Any], struct: bool) -> Any:
    (_, event), = codec.decode(json.dumps(body).encode(), kind, max_bytes=1 << 20)[0]
    return event if struct else to_model(event)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[tuple[int, Any]], frozenset[str]]:
    ids = [f"t{i}" for i in range(draw(st.integers(1, 60)))]
    k = draw(st.integers(1, 4))
    items = draw(st.lists(st.one_of(*[trade_body(ids, k).map(lambda b: ("trades", b))] * 4, other_body()), max_size=80))
    offset = draw(st.integers(0, 10))
    events = []
    for kind, body in items:
        offset += draw(st.integers(0, 2))  # an envelope's events share their message's offset
        events.append((offset, as_event(kind, body, draw(st.booleans()))))
    skip = frozenset(draw(st.lists(st.sampled_from(ids), max_size=5)))
    return events, skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches())
def test_the_fold_by_cell_is_the_plain_fold(batch: tuple[list[tuple[int, Any]], frozenset[str]]) -> None:
    events, skip = batch
    expected, expected_dups = reference_fold("t", 3, [(o, to_model(e)) for o, e in events], skip_trades=skip)
    got, dups = fold("t", 3, events, skip_trades=skip)
    assert dups == expected_dups
    assert_same_batch(got, expected)
    # the same with every event a model
    got_models, _ = fold("t", 3, [(o, to_model(e)) for o, e in events], skip_trades=skip)
    assert_same_batch(got_models, expected)


def test_a_subclass_of_a_model_is_folded_as_its_model() -> None:
    class MyTrade(Trade):
        pass

    body = {"ts": "2025-06-04T14:00:00Z", "trade_id": "t1", "fund_id": "F1", "fund_type": "hedge_fund", "strategy": "macro",
            "symbol": "XLE", "instrument_type": "etf", "sector": "Energy", "action": "buy_long", "quantity": 10,
            "price": 100.0, "notional": 1000.0}
    batch, _ = fold("t", 0, [(0, MyTrade.model_validate(body))])
    expected, _ = reference_fold("t", 0, [(0, Trade.model_validate(body))])
    assert_same_batch(batch, expected)


# --- periods by the hour ---------------------------------------------------------------------------------


def test_week_and_day_are_constant_within_each_hour_of_2024_to_2026() -> None:
    fold_module._periods_by_hour.clear()
    t = datetime(2024, 1, 1, tzinfo=UTC)
    last = timedelta(minutes=59, seconds=59, microseconds=999999)
    while t < datetime(2027, 1, 1, tzinfo=UTC):
        expected = (week_end(t).isoformat(), trading_day(t).isoformat())
        assert (week_end(t + last).isoformat(), trading_day(t + last).isoformat()) == expected, t
        assert _periods(t.timestamp(), t) == expected, t
        assert _periods((t + last).timestamp(), t + last) == expected, t
        t += timedelta(hours=1)
    assert len(fold_module._periods_by_hour) == 3 * 365 * 24 + 24  # 2024 is a leap year


def test_periods_at_a_microsecond_around_boundaries() -> None:
    boundaries = [
        datetime(2025, 6, 6, 20, tzinfo=UTC),  # Friday 16:00 EDT
        datetime(2025, 1, 3, 21, tzinfo=UTC),  # Friday 16:00 EST
        datetime(2025, 3, 9, 7, tzinfo=UTC),  # DST starts
        datetime(2025, 11, 2, 6, tzinfo=UTC),  # DST ends
        datetime(2025, 6, 7, 4, tzinfo=UTC),  # midnight EDT
        datetime(1900, 1, 1, 5, tzinfo=UTC),
        datetime(2199, 12, 31, 5, tzinfo=UTC),
        datetime(1883, 11, 18, 17, tzinfo=UTC),  # local mean time until noon that day
    ]
    for boundary in boundaries:
        for us in (-1, 0, 1):
            t = boundary + timedelta(microseconds=us)
            assert _periods(t.timestamp(), t) == (week_end(t).isoformat(), trading_day(t).isoformat()), t
    # an hour that is not one hour of US/Eastern is not cached
    lmt = datetime(1883, 11, 18, 16, 30, tzinfo=UTC)
    assert _periods(lmt.timestamp(), lmt) == (week_end(lmt).isoformat(), trading_day(lmt).isoformat())
    assert int(lmt.timestamp() // 3600) not in fold_module._periods_by_hour
