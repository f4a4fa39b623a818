"""The note's figures as the generated data gives them: the ``targets`` of the manifest."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from signal_monitor.offline.simulate.flows import _net
from signal_monitor.offline.simulate.numeric import _percentile
from signal_monitor.offline.simulate.universe import (
    ACTIONS,
    BIOTECH,
    CFTC_SERIES,
    FLS,
    HC,
    HF,
    HISTORY_END,
    IND,
    LB,
    LO,
    NOTE_WEEK,
    SS,
    STRATEGIES,
)
from signal_monitor.periods import week_of
from signal_monitor.streams.events import GICS_SECTORS


def _targets(sim: Any, trades: list[dict[str, Any]], exposures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the note's figures as the generated data gives them (streamed weeks from the events themselves).

    ``sim`` is the generator of :mod:`.core` once it has run (its weeks, days, cells, series); typed
    loosely so that this module, which core imports, does not import core back.
    """
    flows: dict[tuple[date, str, str], dict[str, float]] = defaultdict(lambda: dict.fromkeys(ACTIONS, 0.0))
    for i, week in enumerate(sim.weeks):
        if week > HISTORY_END:
            break
        for (ft, _, it, sector, _), sums in sim.cells[i].items():
            for key in (("", ft), (it, ft), (sector, ft)):
                for a in ACTIONS:
                    flows[(week, *key)][a] += sums[a]
    for t in trades:
        week = week_of(date.fromisoformat(t["ts"][:10]))
        for key in (("", t["fund_type"]), (t["instrument_type"], t["fund_type"]), (t["sector"], t["fund_type"])):
            flows[(week, *key)][t["action"]] += t["notional"]
    weeks = [w for w in sim.weeks if w <= NOTE_WEEK]
    nw, prev = NOTE_WEEK, date(2025, 5, 30)

    def net(week: date, scope: str, ft: str = HF) -> float:
        return _net(flows[(week, scope, ft)])

    def ratio(week: date, scope: str, ft: str = HF) -> float:
        f = flows[(week, scope, ft)]
        return f[LB] / f[SS] if f[SS] else math.inf

    def streak(values: Sequence[float], test: Callable[[int], bool]) -> int:
        n = 0
        for k in range(len(values) - 1, 0, -1):
            if not test(k):
                break
            n += 1
        return n

    def weeks_since_larger(values: Sequence[float]) -> tuple[int, str | None]:
        for k in range(len(values) - 2, -1, -1):
            if values[k] >= values[-1]:
                return len(values) - 1 - k, weeks[k].isoformat()
        return len(values) - 1, None

    def macro_share(week: date) -> float:
        return (net(week, "etf") + net(week, "index")) / net(week, "")

    # exposures of the streamed days, from the events; history from the generator's aggregates
    fls: dict[date, list[float]] = {}
    etf_short: dict[date, float] = {}
    for e in exposures:
        d = date.fromisoformat(e["ts"][:10])
        if e["strategy"] == FLS:
            acc = fls.setdefault(d, [0.0, 0.0, 0.0])
            acc[0] += e["long_mv"]
            acc[1] += e["short_mv"]
            acc[2] += e["nav"]
        etf_short[d] = etf_short.get(d, 0.0) + e["instrument_types"].get("etf", {}).get("short_mv", 0.0)
    gross, netlev, ls = [], [], []
    etf_weekly = []
    for i, w in enumerate(weeks):
        day = sim.week_last[w]
        if day in fls:
            lv, sv, nv = fls[day]
            etf_weekly.append(etf_short[day])
        else:
            j = sim.day_index[day]
            gd = sim.group_daily[FLS]
            lv, sv, nv = gd["long"][j], gd["short"][j], gd["nav"][j]
            etf_weekly.append(sum(sim.group_daily[s]["short"][j] * sim.inst[s]["eS"][j] for s in STRATEGIES[HF]))
        gross.append((lv + sv) / nv)
        netlev.append((lv - sv) / nv)
        ls.append(lv / sv)

    def pct(values: Sequence[float], years: int) -> float:
        return round(_percentile(sim.window(values, nw, years), values[-1]), 2)

    hf_net = [net(w, "") for w in weeks]
    ss_net = [net(w, "single_stock") for w in weeks]
    ind_net = [net(w, IND) for w in weeks]
    ind_lb = [flows[(w, IND, HF)][LB] for w in weeks]
    hc_net = [net(w, HC) for w in weeks]
    changes = [gross[k] - gross[k - 1] for k in range(1, len(gross))]
    drop_since = next(weeks[k + 1] for k in range(len(changes) - 2, -1, -1) if changes[k] <= changes[-1])
    sectors = {s: net(nw, s) for s in GICS_SECTORS}
    leaders = sorted((s for s in sectors if sectors[s] > 0), key=lambda s: -sectors[s])
    ndx_day = dict(zip(sim.days, sim.ndx))
    baskets = {b: dict(zip(sim.days, v)) for b, v in sim.baskets.items()}

    def ret(values: Mapping[date, float], week: date) -> float:
        return values[sim.week_last[week]] / values[sim.week_last[week - timedelta(days=7)]] - 1.0

    year_ago = nw.replace(year=nw.year - 1)
    low_1y = min(v for d, v in ndx_day.items() if year_ago < d <= nw)
    cftc = [v for _, _, v in sim.cftc]
    bio = sim.biotech_weekly[: len(weeks)]
    vix = [(r[0], float(r[4])) for r in sim.vix_rows if r[0] <= nw.isoformat()]
    last_below = next(d for d, v in reversed(vix[:-1]) if v < 17.0)
    lower_at = next(k for k in range(len(vix) - 2, -1, -1) if vix[k][1] <= vix[-1][1])

    def t(claim: int, rule: str, series: str, period: date, value: float, **context: Any) -> dict[str, Any]:
        return {"claim": claim, "rule": rule, "series": series, "period": period.isoformat(), "value": round(value, 6),
                **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in context.items()}}

    hf = "fund_type=hedge_fund"
    fls_scope = f"strategy={FLS}"
    return [
        t(1, "hf_net_buying_streak", f"net_buying:week|{hf}", nw, hf_net[-1],
          streak=streak(hf_net, lambda k: hf_net[k] > 0)),
        t(2, "hf_long_short_flow_ratio", f"ls_flow_ratio:week|{hf}", nw, ratio(nw, ""), note=3.0),
        t(3, "hf_flow_mix", f"net_buying:week|{hf}|instrument_type=etf,index / net_buying:week|{hf}", nw,
          macro_share(nw), single_stock=net(nw, "single_stock") / net(nw, ""), previous=macro_share(prev),
          note=0.23),
        t(4, "single_stock_net_buying_streak", f"net_buying:week|{hf}|instrument_type=single_stock", nw, ss_net[-1],
          streak=streak(ss_net, lambda k: ss_net[k] > 0), ls_flow_ratio=ratio(nw, "single_stock"), note=2.2),
        t(5, "etf_short_covering_reversal", "short_mv:week|instrument_type=etf", nw, etf_weekly[-1],
          change=etf_weekly[-1] / etf_weekly[-2] - 1,
          decreases_before=streak(etf_weekly[:-1], lambda k: etf_weekly[k] < etf_weekly[k - 1]),
          change_4w=etf_weekly[-1] / etf_weekly[-5] - 1),
        t(6, "sector_breadth", f"net_buying:week|{hf}|sector=*", nw, float(len(leaders)), leaders=leaders[:4],
          laggards=sorted((s for s in sectors if sectors[s] <= 0), key=lambda s: sectors[s])),
        t(7, "sector_net_buying_high", f"net_buying:week|{hf}|sector=Industrials", nw, ind_net[-1],
          weeks=weeks_since_larger(ind_net)[0], since=weeks_since_larger(ind_net)[1],
          ls_flow_ratio=ratio(nw, IND), note=3.7),
        t(8, "sector_long_buying_high", f"long_buy:week|{hf}|sector=Industrials", nw, ind_lb[-1],
          weeks=weeks_since_larger(ind_lb)[0], since=weeks_since_larger(ind_lb)[1]),
        t(9, "sector_net_buying_streak", f"net_buying:week|{hf}|sector=Health Care", nw, hc_net[-1],
          streak=streak(hc_net, lambda k: hc_net[k] > 0), short_sales=flows[(nw, HC, HF)][SS]),
        t(10, "subindustry_ls_ratio_extreme", f"ls_ratio:week|sub_industry={BIOTECH}", nw, bio[-1],
          start_of_year=bio[sim.week_index[date(2025, 1, 3)]], percentile_5y=pct(bio, 5),
          weeks=weeks_since_larger(bio)[0], since=weeks_since_larger(bio)[1], note=3.83),
        t(11, "gross_leverage_record", f"gross_leverage:week|{fls_scope}", date(2025, 5, 23),
          gross[weeks.index(date(2025, 5, 23))], note=2.15),
        t(12, "gross_leverage_largest_drop", f"gross_leverage:week|{fls_scope}", nw, gross[-1], previous=gross[-2],
          change=changes[-1], since=drop_since.isoformat(), note=2.106),
        t(13, "gross_leverage_percentile", f"gross_leverage:week|{fls_scope}", nw, gross[-1],
          percentile_3y=pct(gross, 3), note=97),
        t(14, "net_leverage_rising_streak", f"net_leverage:week|{fls_scope}", nw, netlev[-1], previous=netlev[-2],
          streak=streak(netlev, lambda k: netlev[k] > netlev[k - 1]), percentile_3y=pct(netlev, 3), note=0.512),
        t(15, "ls_ratio_percentile", f"ls_ratio:week|{fls_scope}", nw, ls[-1], previous=ls[-2],
          change=ls[-1] / ls[-2] - 1, percentile_3y=pct(ls, 3), note=1.642),
        t(16, "vix_below_17", "close:day|symbol=VIX", nw, vix[-1][1], last_below_17=last_below,
          last_lower=vix[lower_at][0], trading_days_since_lower=len(vix) - 1 - lower_at),
        t(17, "vix_futures_positioning_streak", f"obs:week|series={CFTC_SERIES}", nw, float(cftc[-1]),
          streak=streak(cftc, lambda k: cftc[k] < cftc[k - 1]), change_5w=float(cftc[-1] - cftc[-6]),
          as_of=sim.cftc[-1][0].isoformat()),
        t(18, "fund_type_divergence", "net_buying:week|fund_type=long_only", nw, net(nw, "", LO),
          hedge_funds=net(nw, "")),
        t(19, "crowding_spread", "return:week|symbol=HF_VIP - return:week|symbol=MOST_SHORT", nw,
          ret(baskets["HF_VIP"], nw) - ret(baskets["MOST_SHORT"], nw), note=-0.08),
        t(20, "index_weekly_gain_streak", "return:week|symbol=NDX", nw, ret(ndx_day, nw), previous=ret(ndx_day, prev),
          above_1y_low=ndx_day[sim.week_last[nw]] / low_1y - 1,
          below_high=1 - ndx_day[sim.week_last[nw]] / max(ndx_day.values())),
    ]
