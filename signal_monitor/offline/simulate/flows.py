"""Flows: weekly action sums per fund type and sector or macro product, split into cells; history rows and trades."""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Any

from signal_monitor.series import FLOW_SCOPES
from signal_monitor.offline.simulate.days import Days, _eastern, _iso, _session_s
from signal_monitor.offline.simulate.errors import SimulateError
from signal_monitor.offline.simulate.numeric import _fmt, _ou
from signal_monitor.offline.simulate.universe import (
    ACTIONS,
    B,
    BUCKETS,
    CD,
    CS,
    EN,
    ETFS,
    FIN,
    FLS,
    HC,
    HF,
    HF_SCALE,
    HISTORY_END,
    IND,
    INDEX_SYMBOLS,
    IT,
    LB,
    LO,
    LO_SCALE,
    LS,
    MAT,
    NOTE_WEEK,
    RE,
    SC,
    SS,
    ST,
    STREAM_WEEKS,
    UNIVERSE,
    UT,
)
from signal_monitor.periods import week_of
from signal_monitor.streams.events import GICS_SECTORS

# --- the design of the note's weeks: flows -------------------------------------------------

#: HF weekly net buying (USD bn) and macro share of it, weeks 2025-04-04 .. 2025-06-06
HF_TOTALS: dict[date, tuple[float, float]] = {
    date(2025, 4, 4): (-4.5, 0.35),
    date(2025, 4, 11): (-3.0, 0.30),
    date(2025, 4, 18): (-1.2, 0.40),
    date(2025, 4, 25): (-0.8, 0.30),
    date(2025, 5, 2): (-0.6, 0.42),
    date(2025, 5, 9): (1.2, 0.41),
    date(2025, 5, 16): (1.8, 0.38),
    date(2025, 5, 23): (1.1, 0.34),
    date(2025, 5, 30): (2.6, 0.46),
    NOTE_WEEK: (0.4, 0.23),
}
#: signs of HF sector net buying, weeks 2025-04-04 .. 2025-05-30 (2025-06-06 is in NOTE_SECTORS)
HF_SIGNS: dict[str, str] = {
    IT: "---+-+-++",
    HC: "--+-+++++",
    IND: "---++-+-+",
    EN: "-+-+-++-+",
    FIN: "--+++-+--",
    CD: "----++-+-",
    ST: "+++--+--+",
    RE: "--++--++-",
    CS: "-+-+++-++",
    MAT: "--+-+-++-",
    UT: "+++--++-+",
}
#: HF single-stock flows of the note's week per sector, USD bn: (long buys, short sales, short covers, net);
#: the long buys of IT (None) make long buys / short sales 2.2 over all sectors.
NOTE_SECTORS: dict[str, tuple[float | None, float, float, float]] = {
    IT: (None, 3.0, 2.4, 2.95),
    HC: (4.1, 0.0, 0.0, 2.62),
    IND: (3.7, 1.0, 0.26, 2.41),
    EN: (1.9, 0.85, 0.7, 0.98),
    FIN: (3.0, 1.5, 1.4, 0.12),
    CD: (2.8, 1.4, 1.3, 0.08),
    ST: (1.2, 0.7, 0.6, 0.06),
    RE: (0.6, 0.4, 0.35, 0.03),
    CS: (1.9, 1.8, 1.6, -5.0),
    MAT: (0.7, 0.6, 0.5, -2.5),
    UT: (0.55, 0.45, 0.4, -1.442),
}
#: the ETF part of HF macro net buying where it is not 0.6 (the rest is index): keeps the two apart
MACRO_ETF_PART: dict[date, float] = {date(2025, 5, 16): 1.35, date(2025, 5, 23): -0.25}
NOTE_SINGLE_RATIO = 2.2
NOTE_TOTAL_RATIO = 3.0
NOTE_MACRO_SHORT_SALES = (0.15, 0.10)  #: etf, index, USD bn
NOTE_MACRO_COVERS = (2.0, 1.0)
LO_TOTALS: dict[date, float] = {date(2025, 5, 16): -0.8, date(2025, 5, 23): 0.6, date(2025, 5, 30): -1.2, NOTE_WEEK: -3.0}
LO_NOTE_SELLERS = (IT, HC, IND, CD)  #: long-only funds net sell these in the note's week
IND_LONG_BUY_RECORD = date(2021, 6, 25)  #: the last week with larger Industrials long buys than the note's
IND_NET_RECORD = date(2024, 10, 25)  #: the last week with larger Industrials net buying than the note's


def _solve(net: float, lb: float, ss: float, sc: float, floor: float) -> dict[str, float]:
    """Return the four action sums with ``net``; long sells close the books, short covers fill a shortfall."""
    ls = lb + sc - ss - net
    if ls < floor:
        sc += floor - ls
        ls = floor
    return {LB: lb, LS: ls, SS: ss, SC: sc}


def _solve_long_only(net: float, lb: float, floor: float) -> dict[str, float]:
    ls = lb - net
    if ls < floor:
        lb += floor - ls
        ls = floor
    return {LB: lb, LS: ls, SS: 0.0, SC: 0.0}


def _net(a: Mapping[str, float]) -> float:
    return a[LB] + a[SC] - a[LS] - a[SS]


class Flows(Days):
    """Weekly flows designed per (fund type, sector or macro product), then split into strategies and sub-industries."""

    symbol_prices: dict[str, dict[date, float]]  #: each traded symbol's price per streamed day (:class:`Prices`)

    def build_flows(self) -> None:
        n_weeks = len(self.weeks)
        rng = self.rng("flows")
        trend = [1.0 + 0.15 * i / (n_weeks - 1) for i in range(n_weeks)]
        activity = [t * math.exp(x) for t, x in zip(trend, _ou(rng, n_weeks, 0.10, 0.3))]
        self.activity = activity
        #: (fund_type, bucket) -> per week action sums (USD)
        flows: dict[tuple[str, str], list[dict[str, float]]] = {}
        for ft in (HF, LO):
            for bucket in BUCKETS:
                g = HF_SCALE[bucket] * B * (1.0 if ft == HF else LO_SCALE)
                rows = []
                for i in range(n_weeks):
                    a = activity[i]
                    lb = g * a * math.exp(rng.gauss(0.0, 0.12))
                    if ft == HF:
                        ss = 0.8 * g * a * math.exp(rng.gauss(0.0, 0.12))
                        sc = ss * 0.95 * math.exp(rng.gauss(0.0, 0.10))
                        net = 0.35 * g * a * rng.gauss(0.0, 1.0)
                        rows.append(_solve(net, lb, ss, sc, 0.25 * g * a))
                    else:
                        net = 0.30 * g * a * rng.gauss(0.0, 1.0)
                        rows.append(_solve_long_only(net, lb, 0.25 * g * a))
                flows[(ft, bucket)] = rows
        self.flows = flows
        self._design_hf_weeks(rng)
        self._design_note_week()
        self._design_long_only(rng)
        self._design_industrials(rng)
        self._guard_highs(rng)
        self._split_cells()

    def _floor(self, ft: str, bucket: str, i: int) -> float:
        return 0.25 * HF_SCALE[bucket] * B * (1.0 if ft == HF else LO_SCALE) * self.activity[i]

    def _set_net(self, ft: str, bucket: str, i: int, net: float) -> None:
        row = self.flows[(ft, bucket)][i]
        if ft == HF:
            self.flows[(ft, bucket)][i] = _solve(net, row[LB], row[SS], row[SC], self._floor(ft, bucket, i))
        else:
            self.flows[(ft, bucket)][i] = _solve_long_only(net, row[LB], self._floor(ft, bucket, i))

    @staticmethod
    def _scale_to(signed: Mapping[str, float], total: float) -> dict[str, float]:
        """Scale the positive or the negative parts of ``signed`` so they add up to ``total``."""
        pos = sum(v for v in signed.values() if v > 0)
        neg = -sum(v for v in signed.values() if v < 0)
        if pos - neg < total:
            a, b = (total + neg) / pos, 1.0
        else:
            a, b = 1.0, (pos - total) / neg
        return {k: v * (a if v > 0 else b) for k, v in signed.items()}

    def _design_hf_weeks(self, rng: random.Random) -> None:
        weeks = [w for w in sorted(HF_TOTALS) if w != NOTE_WEEK]
        for j, week in enumerate(weeks):
            i = self.week_index[week]
            total, macro_share = HF_TOTALS[week]
            macro = total * macro_share * B
            single = total * B - macro
            signed = {}
            for sector in GICS_SECTORS:
                sign = 1.0 if HF_SIGNS[sector][j] == "+" else -1.0
                sigma = 0.35 * HF_SCALE[sector] * B * self.activity[i]
                signed[sector] = sign * sigma * rng.uniform(0.3, 0.9)
            for sector, value in self._scale_to(signed, single).items():
                self._set_net(HF, sector, i, value)
            etf_part = MACRO_ETF_PART.get(week, 0.6)
            self._set_net(HF, "etf", i, etf_part * macro)
            self._set_net(HF, "index", i, (1.0 - etf_part) * macro)

    def _design_note_week(self) -> None:
        i = self.week_index[NOTE_WEEK]
        short_sales = sum(v[1] for v in NOTE_SECTORS.values())
        others = sum(v[0] for v in NOTE_SECTORS.values() if v[0] is not None)
        for sector, (lb, ss, sc, net) in NOTE_SECTORS.items():
            if lb is None:
                lb = NOTE_SINGLE_RATIO * short_sales - others
            row = _solve(net * B, lb * B, ss * B, sc * B, 0.0)
            if row[LS] <= 0 or row[SC] != sc * B:
                raise SimulateError(f"the note's {sector} flows do not solve")
            self.flows[(HF, sector)][i] = row
        total, macro_share = HF_TOTALS[NOTE_WEEK]
        macro_net = total * macro_share * B
        single_lb = NOTE_SINGLE_RATIO * short_sales * B
        macro_ss = sum(NOTE_MACRO_SHORT_SALES) * B
        macro_lb = NOTE_TOTAL_RATIO * (short_sales * B + macro_ss) - single_lb
        for k, bucket in enumerate(("etf", "index")):
            share = (0.65, 0.35)[k]
            net_share = (0.6, 0.4)[k]
            row = _solve(macro_net * net_share, macro_lb * share, NOTE_MACRO_SHORT_SALES[k] * B,
                         NOTE_MACRO_COVERS[k] * B, 0.0)
            self.flows[(HF, bucket)][i] = row

    def _design_long_only(self, rng: random.Random) -> None:
        for week, total in LO_TOTALS.items():
            i = self.week_index[week]
            macro = 0.12 * total * B
            signed = {}
            positives = 0
            for sector in GICS_SECTORS:
                streak = 0
                for k in range(i - 1, -1, -1):
                    if _net(self.flows[(LO, sector)][k]) > 0:
                        streak += 1
                    else:
                        break
                up = rng.random() < 0.45 and streak < 4 and positives < 6
                if week == NOTE_WEEK and sector in LO_NOTE_SELLERS:
                    up = False  # the note: long-only selling concentrated where hedge funds bought
                positives += up
                sigma = 0.30 * HF_SCALE[sector] * B * LO_SCALE * self.activity[i]
                signed[sector] = (1.0 if up else -1.0) * sigma * rng.uniform(0.3, 0.9)
            if positives == 0:
                signed[GICS_SECTORS[0]] = abs(signed[GICS_SECTORS[0]])
            for sector, value in self._scale_to(signed, total * B - macro).items():
                self._set_net(LO, sector, i, value)
            self._set_net(LO, "etf", i, 0.8 * macro)
            self._set_net(LO, "index", i, 0.2 * macro)

    def _design_industrials(self, rng: random.Random) -> None:
        rows = self.flows[(HF, IND)]
        note_i = self.week_index[NOTE_WEEK]
        note_lb, note_net = rows[note_i][LB], _net(rows[note_i])
        rec_i = self.week_index[IND_LONG_BUY_RECORD]
        row = rows[rec_i]
        rows[rec_i] = _solve(_net(row), note_lb * 1.07, row[SS], row[SC], self._floor(HF, IND, rec_i))
        net_i = self.week_index[IND_NET_RECORD]
        row = rows[net_i]
        rows[net_i] = _solve(note_net * 1.08, note_lb * 0.89, row[SS], row[SC], self._floor(HF, IND, net_i))
        for i in range(rec_i + 1, note_i):
            row = rows[i]
            net = _net(row)
            if i > net_i:
                net = min(net, note_net * (0.88 - 0.05 * rng.random()))
            cap = note_lb * (0.93 - 0.03 * rng.random())
            if row[LB] > cap or net != _net(row):
                rows[i] = _solve(net, min(row[LB], cap), row[SS], row[SC], self._floor(HF, IND, i))
        for week in STREAM_WEEKS[:-1]:  # the streamed weeks before the note's stay clear of a 104-week high
            i = self.week_index[week]
            cap = 0.9 * max(r[LB] for r in rows[i - 103:i])
            if rows[i][LB] > cap:
                rows[i] = _solve(_net(rows[i]), cap, rows[i][SS], rows[i][SC], self._floor(HF, IND, i))

    def _guard_highs(self, rng: random.Random) -> None:
        """Keep every other (fund type, sector) from a 26-week net-buying or 104-week long-buying high in the streamed weeks."""
        plant_from = self.week_index[date(2024, 12, 20)]  # within 25 weeks of every streamed week
        plant_to = self.week_index[date(2025, 3, 28)]
        for ft in (HF, LO):
            for sector in GICS_SECTORS:
                rows = self.flows[(ft, sector)]
                for week in STREAM_WEEKS:
                    c = self.week_index[week]
                    if ft == HF and sector == IND and week == NOTE_WEEK:
                        continue
                    value = _net(rows[c])
                    if value > 0 and value >= 0.97 * max(_net(r) for r in rows[c - 25:c]):
                        k = rng.randint(plant_from, plant_to)
                        bump = value * rng.uniform(1.10, 1.25)
                        if ft == HF and sector == IND:
                            bump = min(bump, 0.92 * _net(rows[self.week_index[NOTE_WEEK]]))
                            if bump <= value:
                                raise SimulateError("cannot keep Industrials below its 26-week high")
                        self._set_net(ft, sector, k, bump)
                    lb = rows[c][LB]
                    if lb >= 0.97 * max(r[LB] for r in rows[c - 103:c]):
                        if ft == HF and sector == IND:
                            raise SimulateError("Industrials long buys at a high in a streamed week")
                        k = rng.randint(self.week_index[date(2024, 6, 7)], plant_to)
                        extra = lb * rng.uniform(1.08, 1.2) - rows[k][LB]
                        rows[k] = {**rows[k], LB: rows[k][LB] + extra, LS: rows[k][LS] + extra}

    def _split_cells(self) -> None:
        """Split each (fund type, bucket) weekly sum into strategies and sub-industries: the finest cells."""
        rng = self.rng("cells")
        strategy_base = {
            (HF, False): {FLS: 0.55, "quant_equity": 0.27, "event_driven": 0.10, "global_macro": 0.08},
            (HF, True): {FLS: 0.30, "quant_equity": 0.15, "event_driven": 0.10, "global_macro": 0.45},
            (LO, False): {"active_long_only": 0.70, "enhanced_index": 0.30},
            (LO, True): {"active_long_only": 0.40, "enhanced_index": 0.60},
        }
        sub_base = {}
        for sector, subs in UNIVERSE.items():
            w = [rng.uniform(0.6, 1.4) for _ in subs]
            sub_base[sector] = {s: x / sum(w) for s, x in zip(subs, w)}
        #: week index -> {(fund_type, strategy, instrument_type, sector, sub_industry): action sums}
        self.cells: list[dict[tuple[str, str, str, str, str | None], dict[str, float]]] = []
        for i in range(len(self.weeks)):
            week_cells: dict[tuple[str, str, str, str, str | None], dict[str, float]] = {}
            for (ft, bucket), rows in self.flows.items():
                macro = bucket in ("etf", "index")
                base = strategy_base[(ft, macro)]
                for action in ACTIONS:
                    amount = rows[i][action]
                    if amount <= 0:
                        continue
                    raw = {s: b * math.exp(rng.gauss(0.0, 0.2)) for s, b in base.items()}
                    norm = sum(raw.values())
                    for strategy, r in raw.items():
                        part = amount * r / norm
                        if macro:
                            key = (ft, strategy, bucket, "broad", None)
                            week_cells.setdefault(key, dict.fromkeys(ACTIONS, 0.0))[action] += part
                            continue
                        subs = sub_base[bucket]
                        sraw = {s: b * math.exp(rng.gauss(0.0, 0.25)) for s, b in subs.items()}
                        snorm = sum(sraw.values())
                        for sub, sr in sraw.items():
                            key = (ft, strategy, "single_stock", bucket, sub)
                            week_cells.setdefault(key, dict.fromkeys(ACTIONS, 0.0))[action] += part * sr / snorm
            self.cells.append(week_cells)

    # --- outputs -----------------------------------------------------------------------
    def flow_rows(self) -> list[list[str]]:
        rows: list[list[str]] = []
        columns = ("fund_type", "instrument_type", "sector", "sub_industry", "strategy")
        key_cache: dict[tuple[str, str, str, str, str | None], list[tuple[str, ...]]] = {}
        for i, week in enumerate(self.weeks):
            if week > HISTORY_END:
                break
            acc: dict[tuple[str, ...], list[float]] = {}
            for cell, sums in self.cells[i].items():
                keys = key_cache.get(cell)
                if keys is None:
                    ft, strategy, it, sector, sub = cell
                    fields = {"fund_type": ft, "instrument_type": it, "sector": sector, "sub_industry": sub or "", "strategy": strategy}
                    keys = []
                    for dims in FLOW_SCOPES:
                        if all(fields[d] for d in dims):
                            keys.append(tuple(fields[c] if c in dims else "" for c in columns))
                    key_cache[cell] = keys
                n = sum(max(1, round(v / 90e6)) for v in sums.values() if v > 0)
                for key in keys:
                    a = acc.get(key)
                    if a is None:
                        a = acc[key] = [0.0, 0.0, 0.0, 0.0, 0.0]
                    a[0] += sums[LB]
                    a[1] += sums[LS]
                    a[2] += sums[SS]
                    a[3] += sums[SC]
                    a[4] += n
            day = week.isoformat()
            for key in sorted(acc):
                a = acc[key]
                rows.append([day, *key, _fmt(a[0]), _fmt(a[1]), _fmt(a[2]), _fmt(a[3]), str(int(a[4]))])
        return rows

    def trade_events(self) -> list[dict[str, Any]]:
        rng = self.rng("trades")
        funds = self.funds()
        by_group: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for f in funds:
            by_group[f[2]].append((f[0], f[3]))
        symbols_of: dict[tuple[str, str | None], list[str]] = {}
        for sector, subs in UNIVERSE.items():
            for sub, syms in subs.items():
                symbols_of[(sector, sub)] = sorted(syms)
        symbols_of[("etf", None)] = sorted(ETFS)
        symbols_of[("index", None)] = sorted(INDEX_SYMBOLS)
        events = []
        for week in STREAM_WEEKS:
            i = self.week_index[week]
            days = [d for d in self.stream_days if week_of(d) == week]
            counter = 0
            for cell in sorted(self.cells[i], key=lambda c: (c[0], c[1], c[2], c[3], c[4] or "")):
                ft, strategy, it, sector, sub = cell
                members = by_group[strategy]
                ids = [m[0] for m in members]
                cum = []
                acc = 0.0
                for m in members:
                    acc += m[1]
                    cum.append(acc)
                syms = symbols_of[(sector, sub) if it == "single_stock" else (it, None)]
                for action in ACTIONS:
                    amount = self.cells[i][cell][action]
                    if amount <= 0:
                        continue
                    size = 90e6 if ft == HF else 120e6
                    k = min(30, max(1, round(amount / size)))
                    parts = [rng.gammavariate(2.0, 1.0) for _ in range(k)]
                    norm = sum(parts)
                    for p in parts:
                        notional_target = amount * p / norm
                        fund = ids[bisect.bisect_left(cum, rng.random() * acc)]
                        symbol = syms[rng.randrange(len(syms))]
                        day = days[rng.randrange(len(days))]
                        seconds = rng.randrange(0, _session_s(day) - 2 * 60)  # up to two minutes before the close
                        ts = _eastern(day, time(9, 30)) + timedelta(seconds=seconds)
                        price = round(self.symbol_prices[symbol][day] * math.exp(rng.gauss(0.0, 0.004)), 2)
                        qty = max(1, round(notional_target / price))
                        counter += 1
                        events.append({
                            "ts": _iso(ts), "trade_id": f"T{week:%Y%m%d}-{counter:05d}", "fund_id": fund,
                            "fund_type": ft, "strategy": strategy, "symbol": symbol, "instrument_type": it,
                            "sector": sector, "sub_industry": sub, "action": action, "quantity": qty,
                            "price": price, "notional": round(qty * price, 2),
                        })
        events.sort(key=lambda e: (e["ts"], e["trade_id"]))
        return events
