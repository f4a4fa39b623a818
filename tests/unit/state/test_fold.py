"""The fold: a partition's (offset, event) pairs become one Batch of increments."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from signal_monitor.state.fold import fold
from signal_monitor.streams.events import Exposure, Observation, Quote
from tests.factories import trade, ts

UTC = timezone.utc


T1 = trade("t1", ts(2025, 6, 3, 14, 0))  # Tue, hedge_fund etf Energy macro, buy_long 1000, no sub_industry
T2 = trade(
    "t2", ts(2025, 6, 4, 15, 0),
    fund_id="F2", strategy="equity_ls", symbol="XOM", instrument_type="single_stock", sub_industry="Oil & Gas",
    action="sell_short", quantity=5, price=40.0, notional=200.0,
)
T3 = trade(
    "t3", ts(2025, 6, 5, 16, 0),
    fund_id="F3", fund_type="long_only", strategy="value", symbol="JPM", instrument_type="single_stock",
    sector="Financials", quantity=2, price=50.0, notional=100.0,
)
WEEK = "2025-06-06"


def test_trade_sums_and_counts_per_scope() -> None:
    batch, dups = fold("trades", 3, [(10, T1), (11, T2), (12, T3)])
    assert dups == 0
    assert (batch.topic, batch.partition, batch.first_offset, batch.last_offset) == ("trades", 3, 10, 12)
    assert list(batch.flows) == [WEEK]
    week = batch.flows[WEEK]
    expected = {
        "": {"buy_long": 1100.0, "sell_short": 200.0, "n": 3.0},
        "fund_type=hedge_fund": {"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0},
        "fund_type=long_only": {"buy_long": 100.0, "n": 1.0},
        "fund_type=hedge_fund|instrument_type=etf": {"buy_long": 1000.0, "n": 1.0},
        "fund_type=hedge_fund|instrument_type=single_stock": {"sell_short": 200.0, "n": 1.0},
        "fund_type=long_only|instrument_type=single_stock": {"buy_long": 100.0, "n": 1.0},
        "fund_type=hedge_fund|sector=Energy": {"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0},
        "fund_type=long_only|sector=Financials": {"buy_long": 100.0, "n": 1.0},
        # only t2 has a sub-industry
        "fund_type=hedge_fund|sub_industry=Oil & Gas": {"sell_short": 200.0, "n": 1.0},
        "fund_type=hedge_fund|strategy=macro": {"buy_long": 1000.0, "n": 1.0},
        "fund_type=hedge_fund|strategy=equity_ls": {"sell_short": 200.0, "n": 1.0},
        "fund_type=long_only|strategy=value": {"buy_long": 100.0, "n": 1.0},
        "instrument_type=etf": {"buy_long": 1000.0, "n": 1.0},
        "instrument_type=single_stock": {"sell_short": 200.0, "buy_long": 100.0, "n": 2.0},
        "sector=Energy": {"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0},
        "sector=Financials": {"buy_long": 100.0, "n": 1.0},
        "sub_industry=Oil & Gas": {"sell_short": 200.0, "n": 1.0},
        "strategy=macro": {"buy_long": 1000.0, "n": 1.0},
        "strategy=equity_ls": {"sell_short": 200.0, "n": 1.0},
        "strategy=value": {"buy_long": 100.0, "n": 1.0},
    }
    assert week == expected
    assert batch.trade_ids == {"t1": T1.ts.timestamp(), "t2": T2.ts.timestamp(), "t3": T3.ts.timestamp()}
    assert batch.exposures == {} and batch.quotes == {} and batch.observations == {}


def test_repeated_trade_in_a_batch_counts_once() -> None:
    again = trade("t1", ts(2025, 6, 3, 14, 5))  # same id, even at another time
    batch, dups = fold("trades", 0, [(0, T1), (1, again), (2, T2), (3, T1)])
    assert dups == 2
    assert batch.flows[WEEK][""] == {"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0}
    assert batch.trade_ids == {"t1": T1.ts.timestamp(), "t2": T2.ts.timestamp()}
    assert (batch.first_offset, batch.last_offset) == (0, 3)


def test_skip_trades_leaves_them_out() -> None:
    batch, dups = fold("trades", 0, [(5, T1), (6, T2), (7, T3)], skip_trades=frozenset({"t2", "never-here"}))
    assert dups == 1
    assert batch.flows[WEEK][""] == {"buy_long": 1100.0, "n": 2.0}
    assert "sector=Energy" in batch.flows[WEEK]
    assert batch.flows[WEEK]["sector=Energy"] == {"buy_long": 1000.0, "n": 1.0}
    assert "strategy=equity_ls" not in batch.flows[WEEK]
    assert set(batch.trade_ids) == {"t1", "t3"}
    assert batch.known_seen == frozenset({"t2", "never-here"})
    # the skipped trade's offset and time still count for the batch's bounds
    assert (batch.first_offset, batch.last_offset) == (5, 7)
    assert batch.watermark == T3.ts.timestamp()


def test_friday_close_splits_weeks() -> None:
    before = trade("a", ts(2025, 6, 6, 19, 59))  # Fri 15:59 EDT
    after = trade("b", ts(2025, 6, 6, 20, 30), action="sell_long")  # Fri 16:30 EDT
    saturday = trade("c", ts(2025, 6, 7, 15, 0), action="sell_long", quantity=1, price=7.0, notional=7.0)
    batch, _ = fold("trades", 0, [(0, before), (1, after), (2, saturday)])
    assert set(batch.flows) == {"2025-06-06", "2025-06-13"}
    assert batch.flows["2025-06-06"][""] == {"buy_long": 1000.0, "n": 1.0}
    assert batch.flows["2025-06-13"][""] == {"sell_long": 1007.0, "n": 2.0}


def exposure(fund: str, at: datetime, nav: float, long_mv: float, short_mv: float, **over: Any) -> Exposure:
    return Exposure(ts=at, fund_id=fund, fund_type="hedge_fund", strategy="equity_ls",
                    nav=nav, long_mv=long_mv, short_mv=short_mv, **over)


def test_exposure_latest_by_event_time_wins_within_a_batch() -> None:
    newer = exposure("F1", ts(2025, 6, 5, 22, 0), 100.0, 150.0, 50.0, sectors={"Energy": {"long_mv": 20.0, "short_mv": 5.0}})
    older = exposure("F1", ts(2025, 6, 5, 21, 0), 999.0, 1.0, 1.0)
    other = exposure("F2", ts(2025, 6, 5, 21, 30), 200.0, 100.0, 0.0)
    next_day = exposure("F1", ts(2025, 6, 6, 22, 0), 110.0, 160.0, 60.0)
    batch, _ = fold("exposures", 1, [(0, newer), (1, older), (2, other), (3, next_day)])
    assert set(batch.exposures) == {"2025-06-05", "2025-06-06"}
    day = batch.exposures["2025-06-05"]
    assert set(day) == {"F1", "F2"}
    t, snap = day["F1"]
    assert t == ts(2025, 6, 5, 22, 0).timestamp()
    doc = json.loads(snap)
    assert doc["nav"] == 100.0 and doc["long_mv"] == 150.0 and doc["short_mv"] == 50.0
    assert doc["fund_type"] == "hedge_fund" and doc["strategy"] == "equity_ls"
    assert doc["sectors"] == {"Energy": [20.0, 5.0]}
    assert json.loads(batch.exposures["2025-06-06"]["F1"][1])["nav"] == 110.0
    assert batch.flows == {} and batch.trade_ids == {}


def test_exposure_snapshot_day_is_the_eastern_date() -> None:
    # 2025-06-06T02:00Z is 22:00 EDT on Thursday 2025-06-05
    batch, _ = fold("exposures", 0, [(0, exposure("F1", ts(2025, 6, 6, 2, 0), 1.0, 1.0, 1.0))])
    assert list(batch.exposures) == ["2025-06-05"]


def test_close_quote_wins_over_later_trade_quote() -> None:
    close = Quote(ts=ts(2025, 6, 4, 20, 0), symbol="VIX", price=22.5, kind="close")
    later_trade = Quote(ts=ts(2025, 6, 4, 21, 0), symbol="VIX", price=23.0)
    spx_old = Quote(ts=ts(2025, 6, 4, 14, 0), symbol="SPX", price=5000.0)
    spx_new = Quote(ts=ts(2025, 6, 4, 15, 0), symbol="SPX", price=5010.0)
    spx_older_late = Quote(ts=ts(2025, 6, 4, 13, 0), symbol="SPX", price=4990.0)
    batch, _ = fold("quotes", 0, [(0, close), (1, later_trade), (2, spx_old), (3, spx_new), (4, spx_older_late)])
    assert batch.quotes == {
        "2025-06-04": {
            "VIX": (ts(2025, 6, 4, 20, 0).timestamp(), 22.5, True),
            "SPX": (ts(2025, 6, 4, 15, 0).timestamp(), 5010.0, False),
        }
    }


def test_close_quote_replaces_earlier_trade_quote() -> None:
    trade_q = Quote(ts=ts(2025, 6, 4, 21, 0), symbol="VIX", price=23.0)
    close = Quote(ts=ts(2025, 6, 4, 20, 0), symbol="VIX", price=22.5, kind="close")
    batch, _ = fold("quotes", 0, [(0, trade_q), (1, close)])
    assert batch.quotes["2025-06-04"]["VIX"] == (ts(2025, 6, 4, 20, 0).timestamp(), 22.5, True)


def test_observation_latest_wins() -> None:
    a = Observation(ts=ts(2025, 6, 4, 12, 0), series="cftc", value=1.0)
    b = Observation(ts=ts(2025, 6, 4, 18, 0), series="cftc", value=2.0)
    c = Observation(ts=ts(2025, 6, 4, 13, 0), series="cftc", value=3.0)
    batch, _ = fold("observations", 0, [(0, a), (1, b), (2, c)])
    assert batch.observations == {"2025-06-04": {"cftc": (ts(2025, 6, 4, 18, 0).timestamp(), 2.0)}}


def test_earliest_and_watermark_are_min_and_max_event_times() -> None:
    events = [
        (20, Observation(ts=ts(2025, 6, 4, 12, 0), series="a", value=1.0)),
        (21, Observation(ts=ts(2025, 6, 2, 9, 0), series="b", value=1.0)),  # oldest, not first
        (22, Observation(ts=ts(2025, 6, 6, 23, 0), series="c", value=1.0)),  # newest, not last
        (23, Observation(ts=ts(2025, 6, 5, 1, 0), series="d", value=1.0)),
    ]
    batch, _ = fold("observations", 2, events)
    assert batch.earliest == ts(2025, 6, 2, 9, 0).timestamp()
    assert batch.watermark == ts(2025, 6, 6, 23, 0).timestamp()
    assert (batch.first_offset, batch.last_offset) == (20, 23)


def test_empty_fold() -> None:
    batch, dups = fold("trades", 0, [])
    assert dups == 0
    assert (batch.first_offset, batch.last_offset, batch.watermark, batch.earliest) == (-1, -1, 0.0, 0.0)
    assert batch.flows == {} and batch.trade_ids == {}
