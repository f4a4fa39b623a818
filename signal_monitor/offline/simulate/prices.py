"""Prices: the NDX, the two baskets and the traded symbols; daily closes and quote events (the VIX is the real one)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import date, time, timedelta
from typing import Any

from signal_monitor.offline.simulate.days import Days, _close, _eastern, _iso
from signal_monitor.offline.simulate.errors import SimulateError
from signal_monitor.offline.simulate.numeric import _bridged
from signal_monitor.offline.simulate.universe import BASKETS, ETFS, FIRST_STREAM_DAY, HISTORY_END, NOTE_WEEK, UNIVERSE

# --- the design of the note's weeks: NDX and the baskets -----------------------------------

#: NDX closes (anchors of a Brownian bridge)
NDX_ANCHORS: dict[date, float] = {
    date(2020, 6, 1): 9600.0, date(2020, 9, 2): 12420.0, date(2020, 10, 30): 11050.0,
    date(2021, 2, 12): 13800.0, date(2021, 3, 8): 12300.0, date(2021, 11, 19): 16570.0,
    date(2022, 6, 16): 11130.0, date(2022, 8, 16): 13670.0, date(2022, 10, 13): 10690.0,
    date(2022, 12, 28): 10680.0, date(2023, 7, 18): 15840.0, date(2023, 10, 26): 14110.0,
    date(2024, 7, 10): 20680.0, date(2024, 8, 5): 18310.0, date(2024, 12, 16): 22010.0,
    date(2025, 1, 7): 21100.0, date(2025, 2, 19): 22175.0, date(2025, 4, 8): 16542.0,
    date(2025, 4, 9): 18400.0, date(2025, 5, 2): 20100.0, date(2025, 5, 9): 20060.0,
    date(2025, 5, 16): 21427.0, date(2025, 5, 23): 20916.0, date(2025, 5, 30): 21342.0, NOTE_WEEK: 21790.0,
}
NDX_ATH_DAY = date(2025, 2, 19)
NDX_LOW_DAY = date(2025, 4, 8)
#: weekly returns of the baskets in the streamed weeks: (HF_VIP, MOST_SHORT)
BASKET_RETURNS: dict[date, tuple[float, float]] = {
    date(2025, 5, 16): (0.046, 0.089),
    date(2025, 5, 23): (-0.022, -0.034),
    date(2025, 5, 30): (-0.005, 0.018),
    NOTE_WEEK: (0.014, 0.094),
}


class Prices(Days):
    """The NDX (a bridge through its anchors), the baskets HF_VIP and MOST_SHORT (NDX betas), and the symbols traded."""

    def build_prices(self) -> None:
        rng = self.rng("ndx")
        xs = [float(self.day_index[d]) for d in self.days]
        anchors = {}
        for day, level in NDX_ANCHORS.items():
            if day not in self.day_index:
                raise SimulateError(f"NDX anchor {day} is not a trading day")
            anchors[float(self.day_index[day])] = math.log(level)
        walk, x = [], 0.0
        for _ in xs:
            walk.append(x)
            x += rng.gauss(0.0, 0.011)
        log_path = _bridged(xs, anchors, walk)
        ndx = [math.exp(v) for v in log_path]
        year_ago = NOTE_WEEK.replace(year=NOTE_WEEK.year - 1)
        for i, d in enumerate(self.days):
            if d != NDX_ATH_DAY:
                ndx[i] = min(ndx[i], 22175.0 * (0.995 - 0.002 * rng.random()))
            if d > year_ago and d != NDX_LOW_DAY:
                ndx[i] = max(ndx[i], 16542.0 * (1.006 + 0.01 * rng.random()))
        self.ndx = [round(v, 2) for v in ndx]

        self.baskets: dict[str, list[float]] = {}
        for name, beta, idio in (("HF_VIP", 1.0, 0.005), ("MOST_SHORT", 1.35, 0.008)):
            brng = self.rng(f"basket:{name}")
            level, path = 100.0, []
            for i in range(len(self.days)):
                if i:
                    r = math.log(self.ndx[i] / self.ndx[i - 1])
                    level *= math.exp(beta * r + brng.gauss(0.0, idio))
                path.append(level)
            # the streamed weeks: keep the day-to-day shape, end each week on its designed return
            k = 0 if name == "HF_VIP" else 1
            for week, rets in BASKET_RETURNS.items():
                prev_i = self.day_index[self.week_last[week - timedelta(days=7)]]
                last_i = self.day_index[self.week_last[week]]
                target = math.log(path[prev_i] * (1.0 + rets[k]))
                natural = math.log(path[last_i])
                # shift the days of the week so the week-end lands on target
                for i in range(prev_i + 1, last_i + 1):
                    frac = (i - prev_i) / (last_i - prev_i)
                    path[i] = math.exp(math.log(path[i]) + frac * (target - natural))
                for i in range(last_i + 1, len(path)):
                    path[i] = math.exp(math.log(path[i]) + (target - natural))
            self.baskets[name] = [round(v, 4) for v in path]

        # symbol prices of the streamed days (for trades)
        prng = self.rng("symbols")
        self.symbol_prices: dict[str, dict[date, float]] = {}
        all_symbols: dict[str, float] = {s: p for subs in UNIVERSE.values() for syms in subs.values() for s, p in syms.items()}
        all_symbols.update(ETFS)
        for symbol, base in sorted(all_symbols.items()):
            level, prices = base, {}
            for d in self.stream_days:
                level *= math.exp(prng.gauss(0.0004, 0.013))
                prices[d] = level
            self.symbol_prices[symbol] = prices
        ndx_by_day = dict(zip(self.days, self.ndx))
        for symbol, ratio in (("SPX", 5850.0 / 20060.0), ("NDX", 1.0), ("RUT", 2050.0 / 20060.0)):
            self.symbol_prices[symbol] = {d: ndx_by_day[d] * ratio * (1.0 + prng.gauss(0, 0.003)) for d in self.stream_days}

    # --- outputs -----------------------------------------------------------------------
    def close_rows(self, values: Sequence[float], rng: random.Random, digits: int) -> list[list[str]]:
        rows = []
        prev = values[0]
        for d, close in zip(self.days, values):
            if d > HISTORY_END:
                break
            vol = 0.006 if digits == 2 else 0.008
            open_ = prev * math.exp(rng.gauss(0.0, vol / 2))
            high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, vol)))
            low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, vol)))
            rows.append([d.isoformat(), *(f"{round(v, digits):.6f}" for v in (open_, high, low, close))])
            prev = close
        return rows

    def quote_events(self) -> list[dict[str, Any]]:
        rng = self.rng("quotes")
        events = []
        closes = {"NDX": self.ndx, **self.baskets}
        for symbol, values in closes.items():
            for d in self.stream_days:
                i = self.day_index[d]
                events.append({"ts": _iso(_close(d)), "symbol": symbol, "price": values[i], "kind": "close"})
                if d.weekday() in (0, 2):
                    prev = values[i - 1]
                    mid = prev + (values[i] - prev) * rng.uniform(0.2, 0.8)
                    ts = _eastern(d, time(11, 0)) + timedelta(seconds=rng.randrange(0, 3 * 3600))
                    events.append({"ts": _iso(ts), "symbol": symbol, "price": round(mid, 4 if symbol in BASKETS else 2),
                                   "kind": "trade"})
        for row in self.vix_rows:
            d = date.fromisoformat(row[0])
            if FIRST_STREAM_DAY <= d <= NOTE_WEEK:
                events.append({"ts": _iso(_close(d)), "symbol": "VIX", "price": float(row[4]), "kind": "close"})
                if d.weekday() in (0, 2):
                    events.append({"ts": _iso(_eastern(d, time(9, 31))), "symbol": "VIX", "price": float(row[1]), "kind": "trade"})
        events.sort(key=lambda e: (e["ts"], e["symbol"], e["kind"]))
        return events
