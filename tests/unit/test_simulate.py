"""Simulate: the generated data set reproduces the note's figures for the week ending 2025-06-06.

Every figure is recomputed here from the generated files with plain arithmetic
(csv, json, zoneinfo), not with ``metrics`` or ``backfill``, and checked against the
numbers printed in the note (hard-coded below).
"""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from signal_monitor.offline.simulate import Manifest, simulate
from signal_monitor.streams.events import EVENT_TYPES, GICS_SECTORS

VIX_CSV = Path("/work/shared/data/vix-daily.csv")
if not VIX_CSV.is_file():  # pragma: no cover - the shared data set lives outside the repository
    VIX_CSV = Path(__file__).resolve().parents[2] / "data" / "vix-daily.csv"
pytestmark = pytest.mark.skipif(not VIX_CSV.is_file(), reason="vix-daily.csv not available")

NY = ZoneInfo("America/New_York")
D = date.fromisoformat
NOTE, PREV = D("2025-06-06"), D("2025-05-30")
STREAMED = [D("2025-05-16"), D("2025-05-23"), D("2025-05-30"), NOTE]
HF, LO, FLS = "hedge_fund", "long_only", "fundamental_long_short"
IT, HC, IND, EN = "Information Technology", "Health Care", "Industrials", "Energy"
LB, LS, SS, SC = "buy_long", "sell_long", "sell_short", "buy_to_cover"


# --- plain arithmetic ---------------------------------------------------------------------


def friday_of(day: date) -> date:
    """The Friday naming the week of a trading day (Saturday and Sunday roll forward)."""
    friday = day + timedelta(days=4 - day.weekday())
    return friday + timedelta(days=7) if day.weekday() > 4 else friday


def week_of_ts(text: str) -> date:
    local = datetime.fromisoformat(text).astimezone(NY)
    friday = friday_of(local.date())
    if local.weekday() == 4 and (local.hour, local.minute) >= (16, 0):
        friday += timedelta(days=7)
    return friday


def day_of_ts(text: str) -> date:
    return datetime.fromisoformat(text).astimezone(NY).date()


def net(f: dict[str, float]) -> float:
    return f[LB] + f[SC] - f[LS] - f[SS]


def pct(window: Sequence[float], value: float) -> float:
    return 100.0 * sum(1 for v in window if v <= value) / len(window)


def last_of_week(daily: dict[date, float]) -> dict[date, float]:
    out: dict[date, tuple[date, float]] = {}
    for day in sorted(daily):
        out[friday_of(day)] = (day, daily[day])
    return {w: v for w, (_, v) in sorted(out.items())}


def series_upto(weekly: dict[date, float], end: date) -> list[tuple[date, float]]:
    return [(w, v) for w, v in sorted(weekly.items()) if w <= end]


def windows(weekly: dict[date, float], end: date, years: int) -> list[list[float]]:
    """The trailing window by calendar years (157 weekly points for 3 y) and by count (156)."""
    start = end.replace(year=end.year - years)
    by_date = [v for w, v in series_upto(weekly, end) if w > start]
    by_count = [v for _, v in series_upto(weekly, end)][-52 * years:]
    return [by_date, by_count]


def last_at_least(weekly: dict[date, float], end: date) -> date | None:
    """The last week before ``end`` whose value was >= the value of ``end``."""
    points = series_upto(weekly, end)
    value = points[-1][1]
    for w, v in reversed(points[:-1]):
        if v >= value:
            return w
    return None


def streak(weekly: dict[date, float], end: date, test: Callable[[float, float | None], bool]) -> int:
    points = series_upto(weekly, end)
    n = 0
    for k in range(len(points) - 1, -1, -1):
        prev = points[k - 1][1] if k else None
        if not test(points[k][1], prev):
            break
        n += 1
    return n


def rising(v: float, prev: float | None) -> bool:
    return prev is not None and v > prev


def falling(v: float, prev: float | None) -> bool:
    return prev is not None and v < prev


def positive(v: float, _: float | None) -> bool:
    return v > 0


# --- the data set, read back --------------------------------------------------------------


class Data:
    """The generated files, aggregated by hand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = Manifest.load(root / "manifest.json")
        # weekly flows: (week, fund_type, instrument_type, sector, sub_industry, strategy) -> action sums
        self.flows: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: dict.fromkeys((LB, LS, SS, SC), 0.0))
        with (root / "history/flows_weekly.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                key = (row["week_end"], row["fund_type"], row["instrument_type"], row["sector"], row["sub_industry"], row["strategy"])
                for a in (LB, LS, SS, SC):
                    self.flows[key][a] += float(row[a])
        self.trades = [json.loads(line) for line in (root / "trades.jsonl").open()]
        for t in self.trades:
            week = week_of_ts(t["ts"]).isoformat()
            ft, it, sector, sub = t["fund_type"], t["instrument_type"], t["sector"], t["sub_industry"] or ""
            for key in ((week, ft, "", "", "", ""), (week, ft, it, "", "", ""), (week, ft, "", sector, "", ""),
                        (week, ft, "", "", sub, "") if sub else None):
                if key:
                    self.flows[key][t["action"]] += t["notional"]
        # daily exposures: (kind, name) -> day -> [long, short, nav]
        self.exposure: dict[tuple[str, str], dict[date, list[float]]] = defaultdict(dict)
        with (root / "history/exposures_daily.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                day = D(row["date"])
                for kind in ("strategy", "sector", "sub_industry", "instrument_type"):
                    others = {"fund_type", "strategy", "sector", "sub_industry", "instrument_type"} - {kind}
                    if row[kind] and not any(row[o] for o in others):
                        self.exposure[(kind, row[kind])][day] = [float(row["long_mv"]), float(row["short_mv"]),
                                                                 float(row["nav"] or 0)]
        self.snapshots = [json.loads(line) for line in (root / "exposures.jsonl").open()]
        for e in self.snapshots:
            day = day_of_ts(e["ts"])
            acc = self.exposure[("strategy", e["strategy"])].setdefault(day, [0.0, 0.0, 0.0])
            acc[0] += e["long_mv"]
            acc[1] += e["short_mv"]
            acc[2] += e["nav"]
            for kind, field in (("sector", "sectors"), ("sub_industry", "sub_industries"), ("instrument_type", "instrument_types")):
                for name, ls in e[field].items():
                    acc = self.exposure[(kind, name)].setdefault(day, [0.0, 0.0, 0.0])
                    acc[0] += ls.get("long_mv", 0.0)
                    acc[1] += ls.get("short_mv", 0.0)
        # daily closes: history files then the close quotes
        self.closes: dict[str, dict[date, float]] = defaultdict(dict)
        for item in self.manifest.history["closes"]:
            with (root / item["path"]).open(newline="") as handle:
                for row in csv.DictReader(handle):
                    self.closes[item["symbol"]][D(row["DATE"])] = float(row["CLOSE"])
        self.quotes = [json.loads(line) for line in (root / "quotes.jsonl").open()]
        for q in self.quotes:
            if q["kind"] == "close":
                self.closes[q["symbol"]][day_of_ts(q["ts"])] = q["price"]
        # observations
        self.cftc: dict[date, float] = {}
        with (root / "history/observations.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                self.cftc[D(row["date"])] = float(row["value"])
        self.observations = [json.loads(line) for line in (root / "observations.jsonl").open()]
        for o in self.observations:
            self.cftc[day_of_ts(o["ts"])] = o["value"]

    def flow(self, week: date, ft: str = HF, it: str = "", sector: str = "", sub: str = "") -> dict[str, float]:
        return self.flows[(week.isoformat(), ft, it, sector, sub, "")]

    def net(self, week: date, **scope: str) -> float:
        return net(self.flow(week, **scope))

    def weekly_flow(self, metric: Callable[[dict[str, float]], float], **scope: str) -> dict[date, float]:
        weeks = sorted({D(k[0]) for k in self.flows})
        return {w: metric(self.flow(w, **scope)) for w in weeks}

    def weekly_exposure(self, kind: str, name: str, metric: Callable[[list[float]], float]) -> dict[date, float]:
        daily = self.exposure[(kind, name)]
        return last_of_week({d: metric(v) for d, v in daily.items() if metric(v) is not None})

    def weekly_close(self, symbol: str) -> dict[date, float]:
        return last_of_week(self.closes[symbol])

    def weekly_return(self, symbol: str) -> dict[date, float]:
        closes = sorted(self.weekly_close(symbol).items())
        return {w: v / p - 1 for (_, p), (w, v) in zip(closes, closes[1:])}


def gross(v: list[float]) -> float:
    return (v[0] + v[1]) / v[2]


def net_leverage(v: list[float]) -> float:
    return (v[0] - v[1]) / v[2]


def ls_ratio(v: list[float]) -> float | None:
    return v[0] / v[1] if v[1] > 0 else None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    root = tmp_path_factory.mktemp("sim")
    started = time.perf_counter()
    simulate(root, seed=7, vix_csv=VIX_CSV)
    assert time.perf_counter() - started < 20  # about 5 s on a laptop
    return Data(root)


# --- claims 1-4: hedge-fund flows -----------------------------------------------------------


def test_claim1_hedge_funds_net_bought_for_the_5th_week(data: Data) -> None:
    weekly = data.weekly_flow(net)
    for week in ("2025-05-09", "2025-05-16", "2025-05-23", "2025-05-30", "2025-06-06"):
        assert weekly[D(week)] > 0, week
    assert weekly[D("2025-05-02")] <= 0
    assert streak(weekly, NOTE, positive) == 5


def test_claim2_long_buys_three_to_one_short_sales(data: Data) -> None:
    f = data.flow(NOTE)
    assert f[LB] / f[SS] == pytest.approx(3.0, abs=0.05)
    for week in STREAMED[:-1]:  # the ratio rule fires only in the note's week
        g = data.flow(week)
        assert g[LB] / g[SS] < 2.5


def test_claim3_macro_23_percent_single_stocks_77_percent(data: Data) -> None:
    def macro_share(week: date) -> float:
        return (data.net(week, it="etf") + data.net(week, it="index")) / data.net(week)

    assert macro_share(NOTE) == pytest.approx(0.23, abs=0.005)
    assert data.net(NOTE, it="single_stock") / data.net(NOTE) == pytest.approx(0.77, abs=0.005)
    assert abs(macro_share(NOTE) - macro_share(PREV)) >= 0.15
    for week in STREAMED[:-1]:  # no other >= 15 point move in the streamed weeks
        assert abs(macro_share(week) - macro_share(week - timedelta(days=7))) < 0.15, week


def test_claim4_single_stocks_net_bought_5th_week_at_2_2_to_1(data: Data) -> None:
    weekly = data.weekly_flow(net, it="single_stock")
    assert streak(weekly, NOTE, positive) == 5
    assert weekly[D("2025-05-02")] <= 0
    f = data.flow(NOTE, it="single_stock")
    assert f[LB] / f[SS] == pytest.approx(2.2, abs=0.05)


# --- claim 5: ETF shorts ------------------------------------------------------------------


def test_claim5_etf_shorts_rose_0_2_percent_after_three_weeks_of_covering(data: Data) -> None:
    weekly = data.weekly_exposure("instrument_type", "etf", lambda v: v[1])
    w = [weekly[D(x)] for x in ("2025-05-02", "2025-05-09", "2025-05-16", "2025-05-23", "2025-05-30", "2025-06-06")]
    assert w[1] >= w[0]  # the covering streak is exactly three weeks long
    assert w[2] < w[1] and w[3] < w[2] and w[4] < w[3]
    assert w[5] / w[4] - 1 == pytest.approx(0.002, abs=0.0005)
    assert w[5] / w[1] - 1 == pytest.approx(-0.157, abs=0.001)  # "still down 15.7 % month over month"


# --- claims 6-9: sectors --------------------------------------------------------------------


def test_claim6_eight_of_eleven_sectors_net_bought(data: Data) -> None:
    nets = {s: data.net(NOTE, sector=s) for s in GICS_SECTORS}
    bought = sorted((s for s in nets if nets[s] > 0), key=lambda s: -nets[s])
    assert len(bought) == 8
    assert bought[:4] == [IT, HC, IND, EN]
    assert {s for s in nets if nets[s] <= 0} == {"Communication Services", "Materials", "Utilities"}
    for week in STREAMED[:-1]:
        assert sum(data.net(week, sector=s) > 0 for s in GICS_SECTORS) < 8, week
    # the sector rows add up to the single-stock total, in history and in the stream
    for week in (D("2024-10-25"), D("2025-05-09"), NOTE):
        total = sum(data.net(week, sector=s) for s in GICS_SECTORS)
        assert total == pytest.approx(data.net(week, it="single_stock"), rel=1e-6, abs=1.0)


def test_claim7_industrials_net_buying_highest_in_seven_months_at_3_7_to_1(data: Data) -> None:
    weekly = data.weekly_flow(net, sector=IND)
    assert last_at_least(weekly, NOTE) == D("2024-10-25")  # 32 weeks: "more than seven months"
    f = data.flow(NOTE, sector=IND)
    assert f[LB] / f[SS] == pytest.approx(3.7, abs=0.05)
    assert weekly[NOTE] == pytest.approx(2.41e9, rel=0.01)  # the figure of SIGNALS.md's sample alert


def test_claim8_industrials_long_buys_highest_in_nearly_four_years(data: Data) -> None:
    weekly = data.weekly_flow(lambda f: f[LB], sector=IND)
    since = last_at_least(weekly, NOTE)
    assert since == D("2021-06-25")
    assert (NOTE - since).days // 7 >= 104


def test_claim9_health_care_net_bought_6th_week_all_long_buying(data: Data) -> None:
    weekly = data.weekly_flow(net, sector=HC)
    assert streak(weekly, NOTE, positive) == 6
    f = data.flow(NOTE, sector=HC)
    assert f[SS] == 0 and f[LB] > 0


def test_no_other_sector_flow_extremes_in_the_streamed_weeks(data: Data) -> None:
    for ft in (HF, LO):
        for s in GICS_SECTORS:
            nets = data.weekly_flow(net, ft=ft, sector=s)
            buys = data.weekly_flow(lambda f: f[LB], ft=ft, sector=s)
            for week in STREAMED:
                if (ft, s, week) == (HF, IND, NOTE):
                    continue
                if nets[week] > 0:
                    since = last_at_least(nets, week)
                    assert since is not None and (week - since).days // 7 < 26, (ft, s, week)
                since = last_at_least(buys, week)
                assert since is not None and (week - since).days // 7 < 104, (ft, s, week)
                if (ft, s) != (HF, HC):
                    assert streak(nets, week, positive) < 5, (ft, s, week)


# --- claim 10: biotechnology --------------------------------------------------------------


def test_claim10_biotech_long_short_ratio_3_83_two_year_high_86th_percentile(data: Data) -> None:
    weekly = data.weekly_exposure("sub_industry", "Biotechnology", ls_ratio)
    assert weekly[NOTE] == pytest.approx(3.83, abs=0.005)
    assert weekly[D("2025-01-03")] == pytest.approx(2.90, abs=0.005)  # "at the beginning of 2025"
    since = last_at_least(weekly, NOTE)
    assert since is not None and (NOTE - since).days // 7 >= 104
    for window in windows(weekly, NOTE, 5):
        assert 85.0 <= pct(window, weekly[NOTE]) <= 87.0
    for week in STREAMED[:-1]:  # not extreme before the note's week
        since = last_at_least(weekly, week)
        assert since is not None and (week - since).days // 7 < 104
        assert pct(windows(weekly, week, 5)[0], weekly[week]) < 85.0


def test_other_sub_industries_and_sectors_are_unremarkable(data: Data) -> None:
    names = [k for k in data.exposure if k[0] in ("sub_industry", "sector") and k[1] != "Biotechnology"]
    assert len(names) > 40
    for kind, name in names:
        weekly = data.weekly_exposure(kind, name, ls_ratio)
        for week in STREAMED:
            since = last_at_least(weekly, week)
            assert since is not None and (week - since).days // 7 < 104, (name, week)
            for years in (3, 5):
                assert 10.0 < pct(windows(weekly, week, years)[0], weekly[week]) < 85.0, (name, week, years)


# --- claims 11-15: fundamental long/short leverage ----------------------------------------


@pytest.fixture(scope="module")
def fls(data: Data) -> dict[str, dict[date, float]]:
    return {
        "gross": data.weekly_exposure("strategy", FLS, gross),
        "net": data.weekly_exposure("strategy", FLS, net_leverage),
        "ls": data.weekly_exposure("strategy", FLS, ls_ratio),
        "gross_daily": {d: gross(v) for d, v in data.exposure[("strategy", FLS)].items()},
    }


def test_claim11_gross_leverage_record_215_percent_in_week_ending_05_23(fls: dict[str, dict[date, float]]) -> None:
    g = fls["gross"]
    record = D("2025-05-23")
    assert g[record] == pytest.approx(2.15, abs=0.0005)
    assert all(v < g[record] for w, v in g.items() if w != record)
    assert max(v for d, v in fls["gross_daily"].items() if d <= record) == pytest.approx(g[record])
    assert all(v < g[record] for d, v in fls["gross_daily"].items() if d > record)
    assert all(v < max(x for w2, x in g.items() if w2 < w) for w, v in g.items() if D("2025-05-09") < w < record)


def test_claim12_gross_leverage_fell_2_5_points_largest_weekly_decline_since_early_april(
    fls: dict[str, dict[date, float]],
) -> None:
    g = fls["gross"]
    assert g[PREV] == pytest.approx(2.131, abs=0.0005)
    assert g[NOTE] == pytest.approx(2.106, abs=0.0005)
    change = g[NOTE] - g[PREV]
    assert change == pytest.approx(-0.025, abs=0.0005)
    changes = {w: v - p for (_, p), (w, v) in zip(sorted(g.items()), sorted(g.items())[1:])}
    larger = [w for w, c in changes.items() if w < NOTE and c <= change]
    assert max(larger) == D("2025-04-04")  # "the largest one-week decline since early April"
    assert (NOTE - max(larger)).days // 7 >= 8
    # the week before is not a largest-decline week (its last larger decline is less than 8 weeks back)
    prev_larger = max(w for w, c in changes.items() if w < PREV and c <= changes[PREV])
    assert (PREV - prev_larger).days // 7 < 8


def test_claim13_gross_leverage_97th_percentile_over_three_years(fls: dict[str, dict[date, float]]) -> None:
    g = fls["gross"]
    for window in windows(g, NOTE, 3):
        assert 95.0 <= pct(window, g[NOTE]) <= 98.0
        assert round(pct(window, g[NOTE])) == 97


def test_claim14_net_leverage_rose_4th_week_to_51_2_percent_38th_percentile(fls: dict[str, dict[date, float]]) -> None:
    n = fls["net"]
    assert n[NOTE] == pytest.approx(0.512, abs=0.0005)
    assert n[NOTE] - n[PREV] == pytest.approx(0.009, abs=0.0005)
    assert streak(n, NOTE, rising) == 4
    for window in windows(n, NOTE, 3):
        assert 36.5 <= pct(window, n[NOTE]) <= 39.5


def test_claim15_long_short_ratio_1_642_up_1_5_percent_8th_percentile(fls: dict[str, dict[date, float]]) -> None:
    r = fls["ls"]
    assert r[NOTE] == pytest.approx(1.642, abs=0.0005)
    assert r[PREV] == pytest.approx(1.618, abs=0.0005)
    assert r[NOTE] / r[PREV] - 1 == pytest.approx(0.015, abs=0.001)
    for window in windows(r, NOTE, 3):
        assert 5.0 <= pct(window, r[NOTE]) <= 10.0
    # a near-record low about two months earlier
    three_years = sorted(windows(r, NOTE, 3)[0])
    spring_low = min(v for w, v in r.items() if D("2025-03-28") <= w <= D("2025-04-18"))
    assert spring_low in three_years[:3]
    assert spring_low <= three_years[0] * 1.02


# --- claims 16-17: volatility -------------------------------------------------------------


def test_claim16_vix_closed_below_17_first_time_since_february(data: Data) -> None:
    vix = data.closes["VIX"]
    assert vix[NOTE] == 16.77
    days = sorted(d for d in vix if d <= NOTE)
    below = [d for d in days[:-1] if vix[d] < 17.0]
    assert below[-1] == D("2025-02-20")
    lower = [d for d in days[:-1] if vix[d] <= vix[NOTE]]
    assert len([d for d in days if d > lower[-1]]) >= 60  # the lowest close in >= 60 trading days
    # the real closes: history up to 2025-05-09, the streamed ones from 2025-05-12 on
    with VIX_CSV.open(newline="") as handle:
        real = {D(r["DATE"]): float(r["CLOSE"]) for r in csv.DictReader(handle)}
    assert all(real[d] == v for d, v in vix.items())
    assert [d for d in vix if d > D("2025-05-09")] == [d for d in sorted(real) if D("2025-05-09") < d <= NOTE]


def test_claim17_cftc_vix_futures_positions_cut_five_straight_weeks(data: Data) -> None:
    weekly = last_of_week(data.cftc)
    assert streak(weekly, NOTE, falling) == 5
    assert weekly[D("2025-05-02")] > weekly[D("2025-04-25")]
    assert weekly[NOTE] - weekly[D("2025-05-02")] == pytest.approx(-14.3e6, abs=1.0)
    assert data.observations[-1]["tags"]["as_of"] == "2025-05-27"
    assert [o["tags"]["as_of"] for o in data.observations] == ["2025-05-06", "2025-05-13", "2025-05-20", "2025-05-27"]


# --- claims 18-20: divergence, crowding, the Nasdaq ------------------------------------------


def test_claim18_long_only_sold_3bn_while_hedge_funds_were_flat(data: Data) -> None:
    assert data.net(NOTE, ft=LO) == pytest.approx(-3.0e9, abs=0.1e9)
    assert 0 < data.net(NOTE) <= 0.5e9
    for week in STREAMED[:-1]:
        assert data.net(week, ft=LO) > -2.0e9


def test_claim19_vip_basket_lagged_most_short_by_8_percent(data: Data) -> None:
    vip, short = data.weekly_return("HF_VIP"), data.weekly_return("MOST_SHORT")
    assert vip[NOTE] - short[NOTE] == pytest.approx(-0.08, abs=0.005)
    for week in STREAMED[:-1]:
        assert vip[week] - short[week] > -0.05


def test_claim20_nasdaq_up_2_percent_two_weeks_30_percent_off_low_near_record(data: Data) -> None:
    ret = data.weekly_return("NDX")
    assert ret[PREV] >= 0.02 and ret[NOTE] >= 0.02
    assert ret[D("2025-05-23")] < 0.02
    closes = data.closes["NDX"]
    close = closes[NOTE]
    low = min(v for d, v in closes.items() if NOTE.replace(year=2024) < d <= NOTE)
    assert 0.25 <= close / low - 1 <= 0.35  # "about 30 % from its lows"
    high = max(closes.values())
    assert close >= 0.97 * high and close < high  # within 3 % of the record
    for week in STREAMED[:-1]:
        assert data.weekly_close("NDX")[week] < 0.97 * high


# --- the files themselves ------------------------------------------------------------------


def test_every_jsonl_line_validates_against_the_event_contract(data: Data) -> None:
    for topic, name in data.manifest.streams.items():
        model = EVENT_TYPES[topic]
        previous = ""
        for line in (data.root / name).open():
            raw = json.loads(line)
            event = model.model_validate(raw)
            assert event.ts.utcoffset() is not None
            assert "+" in raw["ts"][10:] or "-" in raw["ts"][10:]  # the text carries the offset
            instant = event.ts.timestamp()
            assert instant >= (previous or instant)
            previous = instant
    assert 2000 <= len(data.trades) <= 10000
    assert len({t["fund_id"] for t in data.trades}) >= 150
    assert {t["fund_type"] for t in data.trades} == {HF, LO}
    assert {t["instrument_type"] for t in data.trades} == {"single_stock", "etf", "index"}
    assert len({t["trade_id"] for t in data.trades}) == len(data.trades)
    for t in data.trades:
        assert t["notional"] == pytest.approx(t["quantity"] * t["price"], abs=0.006)
        local = datetime.fromisoformat(t["ts"]).astimezone(NY)
        assert (9, 30) <= (local.hour, local.minute) < (16, 0)
    assert {q["symbol"] for q in data.quotes if q["kind"] == "close"} == {"VIX", "NDX", "HF_VIP", "MOST_SHORT"}
    assert any(q["kind"] == "trade" for q in data.quotes)


def test_one_snapshot_per_fund_per_trading_day_adding_up(data: Data) -> None:
    per_day: dict[date, set[str]] = defaultdict(set)
    for e in data.snapshots:
        day = day_of_ts(e["ts"])
        assert e["fund_id"] not in per_day[day]
        per_day[day].add(e["fund_id"])
        # instrument types add up to the fund's book, sectors to its single-stock part,
        # and a sector's listed sub-industries to at most the sector
        single = e["instrument_types"]["single_stock"]
        for field, whole in (("instrument_types", e), ("sectors", single)):
            for side in ("long_mv", "short_mv"):
                total = sum(v.get(side, 0.0) for v in e[field].values())
                assert total == pytest.approx(whole.get(side, 0.0), abs=1.0), (field, side)
        subs = e["sub_industries"]
        for side in ("long_mv", "short_mv"):
            assert subs["Biotechnology"].get(side, 0.0) <= e["sectors"][HC].get(side, 0.0)
    assert len({frozenset(f) for f in per_day.values()}) == 1  # the same funds every day
    assert len(per_day) == 19  # 20 weekdays less Memorial Day
    assert D("2025-05-26") not in per_day


def test_history_stops_at_the_week_ending_05_09_and_starts_five_years_back(data: Data) -> None:
    weeks = sorted({D(k[0]) for k in data.flows if D(k[0]) <= D("2025-05-09")})
    assert weeks[0] <= D("2020-06-12") and weeks[-1] == D("2025-05-09")
    days = sorted(data.exposure[("strategy", FLS)])
    assert days[0] <= D("2020-06-05") and max(d for d in days if d < D("2025-05-12")) == D("2025-05-09")
    assert max(data.closes["NDX"]) == NOTE and min(data.closes["NDX"]) <= D("2020-06-05")


def test_manifest_names_files_and_targets(data: Data) -> None:
    m = data.manifest
    assert m.note_week == "2025-06-06" and m.history_end == "2025-05-09"
    assert [t["claim"] for t in m.targets] == list(range(1, 21))
    for item in m.history["closes"]:
        assert (data.root / item["path"]).is_file()
    args = m.backfill_args()
    assert {s for _, s in args["closes"]} == {"VIX", "NDX", "HF_VIP", "MOST_SHORT"}
    assert all(p.is_file() for key in ("flows", "exposures", "observations") for p in args[key])
    by_claim = {t["claim"]: t for t in m.targets}
    assert by_claim[10]["value"] == pytest.approx(3.83) and by_claim[12]["value"] == pytest.approx(2.106)
    assert by_claim[16]["value"] == 16.77


async def test_the_history_loads_through_backfill(data: Data) -> None:
    from signal_monitor.offline.backfill import backfill
    from signal_monitor.state.memory import MemoryState

    state = MemoryState()
    summary = await backfill(state, **data.manifest.backfill_args())
    assert summary.rows == sum(v for k, v in data.manifest.counts.items() if k.startswith("history/"))
    week = D("2025-05-09")
    fls_gross = dict(await state.history(f"gross_leverage:week|strategy={FLS}"))
    assert fls_gross[week] == pytest.approx(data.weekly_exposure("strategy", FLS, gross)[week], rel=1e-9)
    hf_net = dict(await state.history("net_buying:week|fund_type=hedge_fund"))
    assert hf_net[week] == pytest.approx(data.net(week), rel=1e-9)
    assert max(hf_net) == week
    vix = dict(await state.history("close:week|symbol=VIX"))
    assert vix[week] == 21.90 and min(vix) == D("1990-01-05")
    assert dict(await state.history("obs:week|series=cftc_vix_futures_net"))[week] == data.cftc[D("2025-05-05")]


def test_the_same_seed_gives_the_same_bytes(data: Data, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate(again, seed=7, vix_csv=VIX_CSV)
    files = sorted(p.relative_to(data.root) for p in data.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (data.root / rel).read_bytes() == (again / rel).read_bytes(), rel
