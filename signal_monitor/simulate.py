"""Simulate: a seeded, realistic data set shaped so the week ending 2025-06-06 reproduces the desk's note.

``simulate(out_dir, vix_csv=...)`` writes two parts and a manifest:

* **history** (``out_dir/history/``), for :func:`signal_monitor.backfill.backfill`, up to
  and including the week ending 2025-05-09: daily closes in CBOE format for ``VIX``
  (the real rows of ``vix_csv``), ``NDX`` and the two baskets ``HF_VIP`` and
  ``MOST_SHORT``; weekly flow aggregates from 2020-06 for every scope of
  ``metrics.FLOW_SCOPES`` (the rows of a fund type's sectors add up to its
  single-stock row and so on: they are sums of one set of finer cells); daily
  exposure aggregates from 2020-06 for every whole-fund scope and the sector,
  sub-industry and instrument-type slices; the weekly CFTC series
  ``cftc_vix_futures_net`` as observations;
* **the stream** (``out_dir/*.jsonl``), the four weeks ending 2025-05-16 .. 2025-06-06
  as individual events in the JSON contract of :mod:`signal_monitor.streams.events`,
  each file sorted by ``ts``: ``trades.jsonl`` (a few thousand fills of 200 funds),
  ``exposures.jsonl`` (one snapshot per fund per trading day, at 15:45 US/Eastern,
  with sector / sub-industry / instrument-type breakdowns that add up to the fund's
  totals), ``quotes.jsonl`` (official ``close`` quotes at 16:00 US/Eastern for VIX,
  NDX, HF_VIP and MOST_SHORT, and a few intraday ``trade`` quotes; the VIX closes are
  the real ones) and ``observations.jsonl`` (the weekly CFTC points);
* ``manifest.json``: the files, the backfill arguments and the target figures.

How the books are built: 200 funds in six (fund type, strategy) groups; per group
and day a NAV, a long and a short MV (from gross and net leverage); instrument
types (``single_stock``, ``etf``, ``index``) split a fund's book, sectors split its
single-stock part (ETFs and index products are ``broad``, not sector-attributed),
and the listed sub-industries cover part of their sector (the rest is not broken
out). A fund's snapshot adds up accordingly, and the sum over funds of a group is
the group's figure, so the all-fund history rows continue seamlessly into the
stream. History exposure slices are the unscoped ones (``sector``, ``sub_industry``,
``instrument_type``); the strategy x slice scopes exist only in the stream. Flows
are designed per (fund type, sector or macro product) and week, then split into
strategies and sub-industries: the cells every aggregate row is summed from.
Amounts are USD.

Conventions worth knowing: trades are stamped 09:30-15:58 US/Eastern (a Friday
event at or after 16:00 belongs to the next week); the CFTC series is as of
Tuesday and published on Friday; the desk ingests it on the following Monday at
08:00 US/Eastern, so the report as of 2025-05-27 is an event of Monday 2025-06-02
(tag ``as_of`` carries the report date) and the five weekly declines the note
describes (reports of Apr 29 .. May 27 against the week before) land in the weeks
ending 2025-05-09 .. 2025-06-06. The trading calendar is NYSE's (weekends and
exchange holidays off); the VIX keeps the real file's dates.

The target figures (see ``/work/shared/SIGNALS.md``) are designed in, and the
remaining series are kept unremarkable around the streamed weeks (no accidental
n-week highs, streaks or percentile extremes in the scopes the default rules
watch). Everything derives from ``seed`` through named ``random.Random`` streams:
the same seed gives the same bytes.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from signal_monitor.errors import SignalMonitorError
from signal_monitor.periods import EASTERN, week_of
from signal_monitor.series import FLOW_SCOPES
from signal_monitor.streams.events import GICS_SECTORS

__all__ = ["Manifest", "SimulateError", "simulate", "trading_days", "nyse_holidays"]

NOTE_WEEK = date(2025, 6, 6)
STREAM_WEEKS: tuple[date, ...] = (date(2025, 5, 16), date(2025, 5, 23), date(2025, 5, 30), NOTE_WEEK)
HISTORY_END = date(2025, 5, 9)  #: last week (and day) of the history files
HISTORY_START = date(2020, 6, 1)
FIRST_STREAM_DAY = date(2025, 5, 12)
CFTC_SERIES = "cftc_vix_futures_net"
BASKETS = ("HF_VIP", "MOST_SHORT")
B = 1e9

IT, HC, IND, EN = "Information Technology", "Health Care", "Industrials", "Energy"
FIN, CD, CS, ST = "Financials", "Consumer Discretionary", "Communication Services", "Consumer Staples"
MAT, UT, RE = "Materials", "Utilities", "Real Estate"
BIOTECH = "Biotechnology"
FLS = "fundamental_long_short"
HF, LO = "hedge_fund", "long_only"
ACTIONS = ("buy_long", "sell_long", "sell_short", "buy_to_cover")
LB, LS, SS, SC = ACTIONS

# --- the universe --------------------------------------------------------------------------

#: GICS sector -> sub-industries tracked (a sector's remaining names are not broken out),
#: each with a few tickers and their rough price in May 2025.
UNIVERSE: dict[str, dict[str, dict[str, float]]] = {
    CS: {
        "Interactive Media & Services": {"GOOGL": 165.0, "META": 640.0, "PINS": 32.0},
        "Entertainment": {"NFLX": 1180.0, "DIS": 110.0, "WBD": 9.8},
        "Diversified Telecommunication Services": {"T": 27.5, "VZ": 43.0},
    },
    CD: {
        "Broadline Retail": {"AMZN": 205.0, "EBAY": 71.0},
        "Automobiles": {"TSLA": 320.0, "GM": 49.0, "F": 10.4},
        "Hotels, Restaurants & Leisure": {"MCD": 312.0, "SBUX": 84.0, "BKNG": 5300.0, "CMG": 49.0},
    },
    ST: {
        "Consumer Staples Distribution & Retail": {"WMT": 97.0, "COST": 1010.0, "TGT": 95.0},
        "Beverages": {"KO": 71.0, "PEP": 131.0},
        "Household Products": {"PG": 161.0, "CL": 92.0},
    },
    EN: {
        "Oil, Gas & Consumable Fuels": {"XOM": 104.0, "CVX": 137.0, "COP": 85.0},
        "Energy Equipment & Services": {"SLB": 33.0, "HAL": 21.0},
    },
    FIN: {
        "Banks": {"JPM": 258.0, "BAC": 43.0, "WFC": 74.0},
        "Capital Markets": {"GS": 590.0, "MS": 127.0, "SCHW": 86.0},
        "Insurance": {"PGR": 280.0, "CB": 290.0},
        "Financial Services": {"V": 355.0, "MA": 575.0, "BRK.B": 505.0},
    },
    HC: {
        "Pharmaceuticals": {"LLY": 760.0, "MRK": 79.0, "PFE": 23.5, "JNJ": 155.0},
        BIOTECH: {"AMGN": 280.0, "GILD": 106.0, "VRTX": 450.0, "REGN": 560.0},
        "Health Care Providers & Services": {"UNH": 310.0, "CVS": 64.0, "CI": 320.0},
        "Health Care Equipment & Supplies": {"ABT": 133.0, "ISRG": 540.0, "SYK": 385.0},
    },
    IND: {
        "Ground Transportation": {"UBER": 85.0, "UNP": 224.0, "CSX": 31.0},
        "Aerospace & Defense": {"RTX": 137.0, "BA": 205.0, "LMT": 470.0, "GE": 240.0},
        "Trading Companies & Distributors": {"GWW": 1070.0, "FAST": 81.0, "URI": 720.0},
        "Professional Services": {"ADP": 318.0, "PAYX": 152.0, "VRSK": 305.0},
        "Machinery": {"CAT": 345.0, "DE": 520.0, "PH": 655.0},
    },
    IT: {
        "Semiconductors & Semiconductor Equipment": {"NVDA": 130.0, "AVGO": 230.0, "AMD": 112.0, "MU": 94.0},
        "Software": {"MSFT": 450.0, "ORCL": 160.0, "CRM": 280.0, "ADBE": 405.0},
        "Technology Hardware, Storage & Peripherals": {"AAPL": 200.0, "DELL": 112.0, "SMCI": 40.0},
        "IT Services": {"ACN": 315.0, "IBM": 255.0},
    },
    MAT: {
        "Chemicals": {"LIN": 465.0, "SHW": 355.0, "DOW": 28.5},
        "Metals & Mining": {"FCX": 39.0, "NEM": 52.0, "NUE": 120.0},
    },
    RE: {
        "Specialized REITs": {"AMT": 210.0, "EQIX": 880.0, "PSA": 300.0},
        "Real Estate Management & Development": {"CBRE": 125.0, "CSGP": 79.0},
    },
    UT: {
        "Electric Utilities": {"NEE": 70.0, "DUK": 116.0, "SO": 89.0},
        "Independent Power and Renewable Electricity Producers": {"VST": 155.0, "CEG": 290.0, "NRG": 145.0},
    },
}
ETFS: dict[str, float] = {
    "SPY": 585.0, "QQQ": 515.0, "IWM": 205.0, "XLI": 140.0, "XLK": 235.0, "XLF": 51.0, "XLV": 134.0,
    "XLE": 85.0, "HYG": 80.0, "LQD": 108.0, "SMH": 245.0, "XBI": 82.0, "KRE": 57.0, "ARKK": 58.0,
}
INDEX_SYMBOLS: dict[str, float] = {"SPX": 5850.0, "NDX": 21000.0, "RUT": 2050.0}
SUB_SECTOR: dict[str, str] = {sub: sector for sector, subs in UNIVERSE.items() for sub in subs}
SUBS: tuple[str, ...] = tuple(SUB_SECTOR)

#: (fund_type, strategy, number of funds, total NAV mid-2020, total NAV mid-2025)
GROUPS: tuple[tuple[str, str, int, float, float], ...] = (
    (HF, FLS, 72, 160e9, 215e9),
    (HF, "quant_equity", 28, 60e9, 75e9),
    (HF, "event_driven", 20, 28e9, 33e9),
    (HF, "global_macro", 16, 35e9, 42e9),
    (LO, "active_long_only", 44, 250e9, 390e9),
    (LO, "enhanced_index", 20, 115e9, 180e9),
)
STRATEGIES = {ft: [g[1] for g in GROUPS if g[0] == ft] for ft in (HF, LO)}

#: typical weekly hedge-fund long buys per sector / macro product, USD billions
HF_SCALE: dict[str, float] = {
    IT: 5.0, HC: 3.0, IND: 2.2, FIN: 2.6, CD: 2.4, CS: 2.3, EN: 1.3, ST: 1.0, MAT: 0.8, UT: 0.6, RE: 0.5,
    "etf": 5.0, "index": 3.0,
}
LO_SCALE = 0.45  #: long-only long buys relative to hedge funds'
BUCKETS: tuple[str, ...] = (*GICS_SECTORS, "etf", "index")

#: base single-stock book weights per sector: (long, short)
SECTOR_WEIGHTS: dict[str, tuple[float, float]] = {
    IT: (0.29, 0.24), FIN: (0.13, 0.11), HC: (0.11, 0.14), CD: (0.10, 0.12), CS: (0.09, 0.08),
    IND: (0.09, 0.10), ST: (0.06, 0.06), EN: (0.035, 0.04), UT: (0.025, 0.035), RE: (0.022, 0.04),
    MAT: (0.022, 0.035),
}
#: base instrument weights per group: etf long, index long, etf short, index short
INSTRUMENT_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    FLS: (0.03, 0.005, 0.14, 0.05),
    "quant_equity": (0.02, 0.0, 0.08, 0.04),
    "event_driven": (0.02, 0.01, 0.10, 0.06),
    "global_macro": (0.30, 0.30, 0.35, 0.40),
    "active_long_only": (0.04, 0.0, 0.0, 0.0),
    "enhanced_index": (0.05, 0.03, 0.0, 0.0),
}

# --- the design of the note's weeks --------------------------------------------------------

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

#: fundamental long/short gross and net leverage at week ends (weekly point = last trading day)
FLS_GROSS: dict[date, float] = {
    date(2020, 6, 5): 1.74, date(2021, 1, 1): 1.86, date(2021, 2, 19): 1.95, date(2021, 6, 25): 1.90,
    date(2021, 11, 19): 1.93, date(2022, 3, 11): 1.82, date(2022, 6, 17): 1.76, date(2022, 10, 14): 1.80,
    date(2023, 3, 17): 1.83, date(2023, 7, 28): 1.90, date(2023, 10, 27): 1.86, date(2024, 3, 29): 1.96,
    date(2024, 7, 12): 2.02, date(2024, 8, 9): 1.95, date(2024, 12, 13): 2.05, date(2025, 1, 31): 2.07,
    date(2025, 2, 7): 2.085, date(2025, 2, 14): 2.095, date(2025, 2, 21): 2.14, date(2025, 2, 28): 2.098,
    date(2025, 3, 7): 2.09, date(2025, 3, 14): 2.08, date(2025, 3, 21): 2.094, date(2025, 3, 28): 2.10,
    date(2025, 4, 4): 2.055, date(2025, 4, 11): 2.033, date(2025, 4, 18): 2.05, date(2025, 4, 25): 2.072,
    date(2025, 5, 2): 2.097, date(2025, 5, 9): 2.118, date(2025, 5, 16): 2.133, date(2025, 5, 23): 2.150,
    date(2025, 5, 30): 2.131, NOTE_WEEK: 2.106,
}
FLS_NET: dict[date, float] = {
    date(2020, 6, 5): 0.54, date(2021, 2, 19): 0.60, date(2021, 11, 19): 0.58, date(2022, 6, 17): 0.47,
    date(2022, 10, 14): 0.385, date(2023, 3, 17): 0.40, date(2023, 7, 28): 0.55, date(2024, 3, 29): 0.56,
    date(2024, 7, 12): 0.58, date(2024, 12, 13): 0.57, date(2025, 1, 31): 0.56, date(2025, 2, 21): 0.56,
    date(2025, 3, 28): 0.49, date(2025, 4, 4): 0.450, date(2025, 4, 11): 0.445, date(2025, 4, 18): 0.455,
    date(2025, 4, 25): 0.468, date(2025, 5, 2): 0.476, date(2025, 5, 9): 0.470, date(2025, 5, 16): 0.482,
    date(2025, 5, 23): 0.494, date(2025, 5, 30): 0.503, NOTE_WEEK: 0.512,
}
FLS_FIXED_FROM = date(2025, 2, 14)  #: from here on the FLS weekly points are exactly the anchors
FLS_PLANTED_LOWS = (date(2022, 10, 14), date(2023, 3, 17), date(2025, 3, 28))  #: long/short ratio below 1.642
FLS_NET_PERCENTILE = 38.0  #: 3-year percentile of the note's net leverage

#: aggregate biotechnology long/short ratio at week ends (all funds)
BIOTECH_RATIO: dict[date, float] = {
    date(2020, 6, 5): 3.70, date(2020, 9, 4): 4.00, date(2021, 2, 5): 4.40, date(2021, 6, 4): 4.10,
    date(2021, 11, 5): 3.98, date(2022, 2, 4): 3.90, date(2022, 3, 18): 3.80, date(2022, 5, 13): 3.30,
    date(2022, 9, 9): 3.25, date(2023, 1, 6): 3.15, date(2023, 6, 9): 3.00, date(2023, 10, 27): 2.80,
    date(2024, 3, 8): 3.35, date(2024, 7, 26): 3.10, date(2024, 11, 15): 3.40, date(2025, 1, 3): 2.90,
    date(2025, 2, 14): 3.50, date(2025, 2, 21): 3.62, date(2025, 2, 28): 3.75, date(2025, 3, 7): 3.78,
    date(2025, 3, 14): 3.76, date(2025, 3, 21): 3.72, date(2025, 3, 28): 3.58, date(2025, 4, 4): 3.38,
    date(2025, 4, 11): 3.25, date(2025, 4, 18): 3.30, date(2025, 4, 25): 3.38, date(2025, 5, 2): 3.45,
    date(2025, 5, 9): 3.52, date(2025, 5, 16): 3.60, date(2025, 5, 23): 3.66, date(2025, 5, 30): 3.71,
    NOTE_WEEK: 3.83,
}
BIOTECH_FIXED_FROM = date(2025, 2, 14)  #: every week from here on is an anchor
BIOTECH_BOOM_END = date(2022, 5, 13)  #: the level of the weeks before is tuned to the 5-year percentile
BIOTECH_PERCENTILE = 86.0

#: week-over-week change of the all-fund ETF short MV (week ends) from the natural level of 2025-04-25:
#: up into 2025-05-09, three weeks of covering, then +0.2 % (-15.7 % over the four weeks)
ETF_SHORT_STEPS: dict[date, float] = {
    date(2025, 5, 2): 1.02, date(2025, 5, 9): 1.01, date(2025, 5, 16): 0.95, date(2025, 5, 23): 0.94,
    date(2025, 5, 30): 0.9421, NOTE_WEEK: 1.002,
}
ETF_SHORT_FROM = date(2025, 4, 25)

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
#: CFTC reports (as of Tuesday): change of the net position against the week before, USD
CFTC_STEPS: dict[date, float] = {
    date(2025, 4, 22): 2.1e6, date(2025, 4, 29): -2.6e6, date(2025, 5, 6): -3.4e6,
    date(2025, 5, 13): -2.2e6, date(2025, 5, 20): -3.6e6, date(2025, 5, 27): -2.5e6,
}
LO_TAIL_LIFT = 0.05  #: long-only NAV above its trend from CALM_FROM on
CALM_FROM = date(2025, 3, 7)  #: other series are kept near their 3-year median from here on


class SimulateError(SignalMonitorError):
    """The simulation cannot run (a missing input, or a design that does not hold)."""


@dataclass
class Manifest:
    """What a simulation wrote: the files, the backfill arguments and the target figures."""

    root: str
    seed: int
    note_week: str
    history_end: str
    stream_weeks: list[str]
    streams: dict[str, str]  #: topic -> file, relative to root
    history: dict[str, Any]  #: backfill arguments: closes [{path, symbol}], flows, exposures, observations
    counts: dict[str, int]  #: events per stream file, rows per history file
    targets: list[dict[str, Any]]  #: one per claim of the note: rule, series, period, value, context

    def path(self, relative: str) -> Path:
        """Return the absolute path of a file of the data set."""
        return Path(self.root) / relative

    def backfill_args(self) -> dict[str, Any]:
        """Return the keyword arguments of ``backfill.backfill`` for the history files."""
        return {
            "closes": [(self.path(c["path"]), c["symbol"]) for c in self.history["closes"]],
            "flows": [self.path(p) for p in self.history["flows"]],
            "exposures": [self.path(p) for p in self.history["exposures"]],
            "observations": [self.path(p) for p in self.history["observations"]],
        }

    def to_json(self) -> str:
        """Return the manifest as JSON text (without ``root``: paths are relative to the manifest)."""
        data = asdict(self)
        data.pop("root")
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        """Read a ``manifest.json``; ``root`` is its folder."""
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(root=str(path.parent), **data)


# --- calendar ------------------------------------------------------------------------------


def _easter(year: int) -> date:
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741
    m = (a + 11 * h + 19 * l) // 433
    month = (h + l - 7 * m + 90) // 25
    return date(year, month, (h + l - 7 * m + 33 * month + 19) % 32)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date | None:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def nyse_holidays(year: int) -> set[date]:
    """Return the NYSE full-day holidays of ``year`` (the rules in force 2020-2025)."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # a Saturday New Year's Day is not observed on Friday
        days.add(_observed(new_year))  # type: ignore[arg-type]
    for month, day in ((7, 4), (12, 25)) + (((6, 19),) if year >= 2022 else ()):
        days.add(_observed(date(year, month, day)))  # type: ignore[arg-type]
    if year == 2025:
        days.add(date(2025, 1, 9))  # national day of mourning for President Carter
    return days


def trading_days(start: date, end: date) -> list[date]:
    """Return the NYSE trading days from ``start`` to ``end`` inclusive."""
    holidays: set[date] = set()
    for year in range(start.year, end.year + 1):
        holidays |= nyse_holidays(year)
    out, day = [], start
    while day <= end:
        if day.weekday() < 5 and day not in holidays:
            out.append(day)
        day += timedelta(days=1)
    return out


# --- small numeric helpers -----------------------------------------------------------------


def _ou(rng: random.Random, n: int, sd: float, theta: float) -> list[float]:
    """Return a stationary AR(1) path of length ``n`` with marginal sd ``sd`` and mean reversion ``theta``."""
    keep = 1.0 - theta
    step = sd * math.sqrt(1.0 - keep * keep)
    x = rng.gauss(0.0, sd)
    out = []
    for _ in range(n):
        out.append(x)
        x = keep * x + rng.gauss(0.0, step)
    return out


def _interp(xs: Sequence[float], anchors: Mapping[float, float]) -> list[float]:
    """Return the piecewise-linear interpolation of ``anchors`` (x -> y) at ``xs`` (flat outside)."""
    keys = sorted(anchors)
    out = []
    for x in xs:
        j = bisect.bisect_left(keys, x)
        if j < len(keys) and keys[j] == x:
            out.append(anchors[x])
        elif j == 0:
            out.append(anchors[keys[0]])
        elif j == len(keys):
            out.append(anchors[keys[-1]])
        else:
            x0, x1 = keys[j - 1], keys[j]
            out.append(anchors[x0] + (anchors[x1] - anchors[x0]) * (x - x0) / (x1 - x0))
    return out


def _bridged(xs: Sequence[float], anchors: Mapping[float, float], noise: Sequence[float]) -> list[float]:
    """Return interpolated anchors plus ``noise`` pinned to zero at the anchors (a bridge)."""
    base = _interp(xs, anchors)
    at = {x: n for x, n in zip(xs, noise) if x in anchors}
    pin = _interp(xs, at) if at else [0.0] * len(xs)
    return [b + n - p for b, n, p in zip(base, noise, pin)]


def _percentile(window: Sequence[float], current: float) -> float:
    return 100.0 * sum(1 for v in window if v <= current) / len(window)


def _calm(rng: random.Random, center: float, n: int, amplitude: float, sign: float = 0.0) -> list[float]:
    """Return ``n`` values around ``center`` whose deviations alternate in sign and shrink (no streaks, no new extremes).

    ``sign`` fixes the sign of the first deviation (random when 0).
    """
    if not sign:
        sign = 1.0 if rng.random() < 0.5 else -1.0
    return [center * (1.0 + sign * (-1) ** j * amplitude * 0.82**j) for j in range(n)]


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


def _eastern(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=EASTERN)


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _fmt(value: float, digits: int = 2) -> str:
    text = f"{value:.{digits}f}"
    return "0.00" if text in ("-0.00", "-0.0") else text


# --- the generator -------------------------------------------------------------------------


class _Sim:
    """Builds the data set in memory; ``write`` puts it on disk."""

    def __init__(self, seed: int, vix_rows: list[list[str]]) -> None:
        self.seed = seed
        self.vix_rows = vix_rows
        self.days = trading_days(HISTORY_START, NOTE_WEEK)
        self.day_index = {d: i for i, d in enumerate(self.days)}
        self.weeks = sorted({week_of(d) for d in self.days})
        self.week_index = {w: i for i, w in enumerate(self.weeks)}
        self.week_last: dict[date, date] = {}
        for d in self.days:
            self.week_last[week_of(d)] = d
        self.stream_days = [d for d in self.days if d >= FIRST_STREAM_DAY]

    def rng(self, name: str) -> random.Random:
        """Return the random stream of one component (independent of the others)."""
        return random.Random(f"signal-monitor:{self.seed}:{name}")

    # --- weekly -> daily ----------------------------------------------------------------
    def daily(self, weekly: Sequence[float], *, jitter: float = 0.0, rng: random.Random | None = None,
              log: bool = False) -> list[float]:
        """Interpolate weekly values (at each week's last trading day) to every trading day.

        ``jitter`` adds relative noise on the days between, kept within the two week ends.
        """
        out = []
        for d in self.days:
            w = self.week_index[week_of(d)]
            cur_day = self.week_last[self.weeks[w]]
            cur = weekly[w]
            if w == 0 or d == cur_day:
                out.append(cur)
                continue
            prev_day = self.week_last[self.weeks[w - 1]]
            prev = weekly[w - 1]
            frac = (self.day_index[d] - self.day_index[prev_day]) / (self.day_index[cur_day] - self.day_index[prev_day])
            if log:
                value = math.exp(math.log(prev) + frac * (math.log(cur) - math.log(prev)))
            else:
                value = prev + frac * (cur - prev)
            if jitter and rng is not None:
                lo, hi = min(prev, cur), max(prev, cur)
                value *= 1.0 + rng.gauss(0.0, jitter)
                span = hi - lo
                # a day between two week ends never reaches the higher one (no daily record by accident)
                value = min(max(value, lo - 0.5 * span - 1e-12), hi - 0.05 * span - 1e-9 * abs(hi))
            out.append(value)
        return out

    def weekly_path(self, rng: random.Random, anchors: Mapping[date, float], *, sd: float, theta: float) -> list[float]:
        xs = [float(w.toordinal()) for w in self.weeks]
        return _bridged(xs, {float(k.toordinal()): v for k, v in anchors.items()}, _ou(rng, len(xs), sd, theta))

    def window(self, values: Sequence[float], end: date, years: int) -> list[float]:
        """Return the weekly values of the ``years`` up to and including week ``end``."""
        start = end.replace(year=end.year - years)
        return [v for w, v in zip(self.weeks, values) if start < w <= end]

    # --- prices ---------------------------------------------------------------------------
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

    # --- exposures --------------------------------------------------------------------------
    def build_exposures(self) -> None:
        n_weeks = len(self.weeks)
        weeks = self.weeks
        self.group_weekly: dict[str, dict[str, list[float]]] = {}

        # fundamental long/short: gross and net leverage designed
        rng = self.rng("fls")
        gross = self.weekly_path(rng, FLS_GROSS, sd=0.014, theta=0.25)
        net_raw = self.weekly_path(rng, FLS_NET, sd=0.022, theta=0.2)
        fixed = {w for w in weeks if w >= FLS_FIXED_FROM}
        for i, w in enumerate(weeks):
            if w in fixed:
                gross[i] = FLS_GROSS.get(w, gross[i])
            elif w not in FLS_PLANTED_LOWS:
                gross[i] = min(gross[i], 2.095 - 0.004 * rng.random())
        for w in fixed:
            if w not in FLS_GROSS:
                raise SimulateError(f"FLS gross anchor missing for {w}")
        net_fixed = {w for w in weeks if w >= FLS_PLANTED_LOWS[-1]}
        free = [i for i, w in enumerate(weeks) if w not in net_fixed and w not in FLS_PLANTED_LOWS]

        def shifted(delta: float) -> list[float]:
            out = list(net_raw)
            for i in free:
                floor = gross[i] * 0.65 / 2.65 + 0.004  # long/short ratio stays above 1.65
                out[i] = min(max(out[i] + delta, floor), 0.66)
            for w in FLS_PLANTED_LOWS:
                out[self.week_index[w]] = FLS_NET[w]
            for w in net_fixed:
                out[self.week_index[w]] = FLS_NET[w]
            return out

        note_net = FLS_NET[NOTE_WEEK]

        def net_pct(delta: float) -> float:
            return _percentile(self.window(shifted(delta), NOTE_WEEK, 3), note_net)

        lo_d, hi_d = -0.2, 0.2
        for _ in range(60):
            mid = (lo_d + hi_d) / 2
            if net_pct(mid) > FLS_NET_PERCENTILE:
                lo_d = mid
            else:
                hi_d = mid
        net = shifted(hi_d)
        self.group_weekly[FLS] = {"gross": gross, "net": net}

        # the other groups: mean-reverting around slow anchors, calm from CALM_FROM on
        specs = {
            "quant_equity": ({date(2020, 6, 5): 3.3, date(2022, 6, 17): 3.5, date(2025, 2, 21): 3.85, date(2025, 3, 28): 3.55},
                             {date(2020, 6, 5): 0.08, date(2023, 6, 9): 0.10}, 0.10, 0.03),
            "event_driven": ({date(2020, 6, 5): 1.5, date(2023, 6, 9): 1.6, date(2025, 2, 21): 1.72}, {date(2020, 6, 5): 0.55}, 0.05, 0.05),
            "global_macro": ({date(2020, 6, 5): 0.85, date(2025, 2, 21): 1.02}, {date(2020, 6, 5): 0.25}, 0.08, 0.07),
            "active_long_only": ({date(2020, 6, 5): 0.972}, None, 0.008, 0.0),
            "enhanced_index": ({date(2020, 6, 5): 0.99}, None, 0.003, 0.0),
        }
        calm_i = self.week_index[CALM_FROM]
        for strategy, (g_anchors, n_anchors, g_sd, n_sd) in specs.items():
            grng = self.rng(f"group:{strategy}")
            g = self.weekly_path(grng, g_anchors, sd=g_sd, theta=0.15)
            n = self.weekly_path(grng, n_anchors, sd=n_sd, theta=0.15) if n_anchors else list(g)
            series = {"gross": g, "net": n}
            for key in ("gross", "net") if n_anchors else ("gross",):
                values = series[key]
                window = sorted(values[max(0, calm_i - 156):calm_i])
                center = window[len(window) // 2]
                amp = 0.25 * (g_sd if key == "gross" else n_sd) / max(abs(center), 1e-9)
                # gross: first deviation up, so the calm weeks fall in 2025-04-11 and rise in 2025-05-30 like FLS
                values[calm_i:] = _calm(grng, center, n_weeks - calm_i, amp, 1.0 if key == "gross" else 0.0)
            if not n_anchors:
                series["net"] = list(series["gross"])
            self.group_weekly[strategy] = series

        # NAV per group
        self.group_daily: dict[str, dict[str, list[float]]] = {}
        first, last = self.days[0].toordinal(), self.days[-1].toordinal()
        for ft, strategy, _, nav0, nav1 in GROUPS:
            grng = self.rng(f"nav:{strategy}")
            wk = self.group_weekly[strategy]
            nav_noise = _ou(grng, n_weeks, 0.03, 0.1)
            calm_i = self.week_index[CALM_FROM]
            # long-only NAVs ride the spring rally (fully invested), which keeps the all-fund long/short mix steady
            lift = LO_TAIL_LIFT if ft == LO else 0.0
            nav_noise[calm_i:] = [x - 1.0 for x in _calm(grng, 1.0 + nav_noise[calm_i - 1] + lift, n_weeks - calm_i, 0.004)]
            nav_w = [nav0 * (nav1 / nav0) ** ((w.toordinal() - first) / (last - first)) * math.exp(nav_noise[i])
                     for i, w in enumerate(weeks)]
            gross_d = self.daily(wk["gross"], jitter=0.0015, rng=grng)
            net_d = self.daily(wk["net"], jitter=0.003, rng=grng) if ft == HF else list(gross_d)
            nav_d = self.daily(nav_w, log=True)
            long_d = [(gg + nn) / 2 * v for gg, nn, v in zip(gross_d, net_d, nav_d)]
            short_d = [max((gg - nn) / 2 * v, 0.0) for gg, nn, v in zip(gross_d, net_d, nav_d)]
            self.group_daily[strategy] = {"nav": nav_d, "long": long_d, "short": short_d}

        self._build_slices()

    def _calm_factor(self, rng: random.Random, sd: float) -> list[float]:
        """Return a weekly multiplicative factor around 1: mean-reverting, then calm from CALM_FROM on."""
        values = [math.exp(v) for v in _ou(rng, len(self.weeks), sd, 0.12)]
        calm_i = self.week_index[CALM_FROM]
        values[calm_i:] = _calm(rng, 1.0, len(self.weeks) - calm_i, 0.3 * sd)
        return values

    def _sector_books(self, sec_factor: Mapping[tuple[str, str], list[float]],
                      tilts: Mapping[str, Mapping[tuple[str, str], float]]) -> None:
        """Set each group's sector shares of its single-stock book and the all-fund sector totals per day."""
        n_days = len(self.days)
        self.sector_share: dict[str, dict[str, dict[str, list[float]]]] = {}
        for _, strategy, *_ in GROUPS:
            shares: dict[str, dict[str, list[float]]] = {"L": {}, "S": {}}
            for side, k in (("L", 0), ("S", 1)):
                raw = {s: [SECTOR_WEIGHTS[s][k] * tilts[strategy][(side, s)] * f for f in sec_factor[(side, s)]]
                       for s in GICS_SECTORS}
                totals = [sum(raw[s][i] for s in GICS_SECTORS) for i in range(n_days)]
                shares[side] = {s: [raw[s][i] / totals[i] for i in range(n_days)] for s in GICS_SECTORS}
            self.sector_share[strategy] = shares
        self.sector_long = {s: [0.0] * n_days for s in GICS_SECTORS}
        self.sector_short = {s: [0.0] * n_days for s in GICS_SECTORS}
        for _, strategy, *_ in GROUPS:
            gd, inst, sh = self.group_daily[strategy], self.inst[strategy], self.sector_share[strategy]
            for i in range(n_days):
                single_long = gd["long"][i] * (1.0 - inst["eL"][i] - inst["iL"][i])
                single_short = gd["short"][i] * (1.0 - inst["eS"][i] - inst["iS"][i])
                for s in GICS_SECTORS:
                    self.sector_long[s][i] += single_long * sh["L"][s][i]
                    self.sector_short[s][i] += single_short * sh["S"][s][i]

    def _build_slices(self) -> None:
        n_weeks, n_days = len(self.weeks), len(self.days)
        rng = self.rng("slices")
        # instrument shares: common weekly factors x group bases
        inst_factor = {k: self.daily(self._calm_factor(rng, 0.10), log=True) for k in ("eL", "iL", "eS", "iS")}
        self.inst: dict[str, dict[str, list[float]]] = {}
        for _, strategy, *_ in GROUPS:
            base = dict(zip(("eL", "iL", "eS", "iS"), INSTRUMENT_WEIGHTS[strategy]))
            self.inst[strategy] = {k: [base[k] * f for f in inst_factor[k]] for k in base}
        # the designed ETF short path
        hf_groups = [g[1] for g in GROUPS if g[0] == HF]

        def etf_short(i: int) -> float:
            return sum(self.group_daily[s]["short"][i] * self.inst[s]["eS"][i] for s in hf_groups)

        start_i = self.day_index[self.week_last[ETF_SHORT_FROM]]
        level = etf_short(start_i)
        anchors = {float(start_i): math.log(level)}
        running = 1.0
        for week, step in sorted(ETF_SHORT_STEPS.items()):
            running *= step
            anchors[float(self.day_index[self.week_last[week]])] = math.log(level * running)
        erng = self.rng("etf-short")
        for i in range(start_i + 1, n_days):
            target = math.exp(_interp([float(i)], anchors)[0])
            if float(i) not in anchors:
                target *= 1.0 + erng.gauss(0.0, 0.002)
            factor = target / etf_short(i)
            for s in hf_groups:
                self.inst[s]["eS"][i] *= factor

        # sector shares: common weekly factors x per-group tilts, normalized per group and day
        sec_factor = {
            (side, s): self.daily(self._calm_factor(rng, 0.06), log=True) for side in ("L", "S") for s in GICS_SECTORS
        }
        tilts = {
            strategy: {(side, s): math.exp(rng.gauss(0.0, 0.10)) for side in ("L", "S") for s in GICS_SECTORS}
            for _, strategy, *_ in GROUPS
        }
        self._sector_books(sec_factor, tilts)
        # a sector whose long/short ratio ends far from its 3-year median (the common factor moved it) is
        # brought back by its own short factor over the calm weeks, so no sector slice looks extreme by accident
        calm_day = self.day_index[self.week_last[CALM_FROM]]
        note_day = self.day_index[self.week_last[NOTE_WEEK]]
        for s in GICS_SECTORS:
            weekly = [self.sector_long[s][self.day_index[self.week_last[w]]] / self.sector_short[s][self.day_index[self.week_last[w]]]
                      for w in self.weeks]
            window = sorted(self.window(weekly, NOTE_WEEK, 3))
            correction = weekly[-1] / window[len(window) // 2]
            factor = sec_factor[("S", s)]
            for i in range(calm_day, n_days):
                ramp = min(1.0, (i - calm_day) / max(1, note_day - calm_day - 20))
                factor[i] *= correction**ramp
        self._sector_books(sec_factor, tilts)

        # sub-industry shares of their sector (common to all groups); the rest of a sector is not broken out
        self.sub_alpha: dict[str, list[float]] = {}
        self.sub_beta: dict[str, list[float]] = {}
        weights = (0.36, 0.26, 0.16, 0.10, 0.06)
        for sector, subs in UNIVERSE.items():
            names = list(subs)
            wl = [weights[j] for j in range(len(names))]
            ws = [weights[(j + 1) % len(names)] for j in range(len(names))]
            for j, sub in enumerate(names):
                a = 0.88 * wl[j] / sum(wl)
                b = 0.66 * ws[j] / sum(ws)
                fa = self.daily([math.exp(v) for v in _ou(rng, n_weeks, 0.08, 0.12)], log=True)
                fb = self.daily([math.exp(v) for v in _ou(rng, n_weeks, 0.08, 0.12)], log=True)
                self.sub_alpha[sub] = [a * f for f in fa]
                self.sub_beta[sub] = [b * f for f in fb]

        def ratio_daily(sub: str, i: int) -> float:
            sector = SUB_SECTOR[sub]
            return (self.sub_alpha[sub][i] * self.sector_long[sector][i]) / (self.sub_beta[sub][i] * self.sector_short[sector][i])

        def set_ratio(sub: str, i: int, ratio: float) -> None:
            sector = SUB_SECTOR[sub]
            self.sub_beta[sub][i] = self.sub_alpha[sub][i] * self.sector_long[sector][i] / (ratio * self.sector_short[sector][i])

        # biotechnology: a designed weekly path, its boom level tuned to the 5-year percentile
        brng = self.rng("biotech")
        base = self.weekly_path(brng, BIOTECH_RATIO, sd=0.05, theta=0.3)
        boom_end = self.week_index[BIOTECH_BOOM_END]
        two_years_ago = NOTE_WEEK - timedelta(weeks=104)
        fixed_from = self.week_index[BIOTECH_FIXED_FROM]
        cap = [3.66 - 0.05 * brng.random() for _ in self.weeks]  # the last two years stay below 3.70

        def biotech(delta: float) -> list[float]:
            out = list(base)
            for i, w in enumerate(self.weeks):
                if i < boom_end:
                    out[i] = base[i] + delta * min(1.0, (boom_end - i) / 8.0)
                elif w in BIOTECH_RATIO:
                    out[i] = BIOTECH_RATIO[w]
                elif w >= two_years_ago:
                    out[i] = min(base[i], cap[i])
            return out

        target = BIOTECH_RATIO[NOTE_WEEK]
        lo_d, hi_d = -0.6, 0.6
        for _ in range(50):
            mid = (lo_d + hi_d) / 2
            if _percentile(self.window(biotech(mid), NOTE_WEEK, 5), target) > BIOTECH_PERCENTILE:
                lo_d = mid
            else:
                hi_d = mid
        bio_weekly = self.biotech_weekly = biotech(hi_d)
        for i in range(fixed_from, len(self.weeks)):
            w = self.weeks[i]
            if w not in BIOTECH_RATIO:
                raise SimulateError(f"biotech anchor missing for {w}")
        bio_daily = self.daily(bio_weekly, jitter=0.006, rng=brng, log=True)
        for i in range(n_days):
            set_ratio(BIOTECH, i, bio_daily[i])

        # the other sub-industries: near their 3-year median from CALM_FROM on
        crng = self.rng("calm-subs")
        calm_i = self.week_index[CALM_FROM]
        for sub in SUBS:
            if sub == BIOTECH:
                continue
            weekly = [ratio_daily(sub, self.day_index[self.week_last[w]]) for w in self.weeks]
            window = sorted(weekly[calm_i - 156:calm_i])
            center = window[len(window) // 2]
            weekly[calm_i:] = _calm(crng, center, len(self.weeks) - calm_i, 0.03)
            daily = self.daily(weekly, log=True)
            first_day = self.day_index[self.week_last[self.weeks[calm_i - 1]]] + 1
            for i in range(first_day, n_days):
                set_ratio(sub, i, daily[i])
        for sector, subs in UNIVERSE.items():
            worst = max(range(n_days), key=lambda i: sum(self.sub_beta[s][i] for s in subs))
            total = sum(self.sub_beta[s][worst] for s in subs)
            if total > 0.97:
                raise SimulateError(
                    f"sub-industry short shares of {sector} add up to {total:.3f} of the sector on {self.days[worst]}: "
                    + ", ".join(f"{s} {self.sub_beta[s][worst]:.3f}" for s in subs)
                )

    # --- flows ----------------------------------------------------------------------------
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

    # --- observations -----------------------------------------------------------------------
    def build_cftc(self) -> None:
        rng = self.rng("cftc")
        first = date(2020, 6, 2)
        as_of = []
        d = first
        while d <= date(2025, 5, 27):
            as_of.append(d)
            d += timedelta(days=7)
        values, x = [], -18e6
        for d in as_of:
            if d in CFTC_STEPS:
                x = values[-1] + CFTC_STEPS[d]
            else:
                x = x + 0.12 * (-20e6 - x) + rng.gauss(0.0, 2.4e6)
            values.append(x)
        self.cftc = [(d, d + timedelta(days=6), round(v)) for d, v in zip(as_of, values)]

    # --- outputs ----------------------------------------------------------------------------
    def exposure_rows(self) -> list[list[str]]:
        rows: list[list[str]] = []
        hist_days = [d for d in self.days if d <= HISTORY_END]
        for i, d in enumerate(hist_days):
            day = d.isoformat()
            fund: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            inst_tot: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for ft, strategy, *_ in GROUPS:
                gd = self.group_daily[strategy]
                lv, sv, nv = gd["long"][i], gd["short"][i], gd["nav"][i]
                for key in ((), (ft,), ("", strategy), (ft, strategy)):
                    acc = fund[key]
                    acc[0] += lv
                    acc[1] += sv
                    acc[2] += nv
                inst = self.inst[strategy]
                el, il, es, is_ = inst["eL"][i], inst["iL"][i], inst["eS"][i], inst["iS"][i]
                for name, lm, sm in (("single_stock", lv * (1 - el - il), sv * (1 - es - is_)),
                                     ("etf", lv * el, sv * es), ("index", lv * il, sv * is_)):
                    inst_tot[name][0] += lm
                    inst_tot[name][1] += sm
            for key in sorted(fund, key=lambda k: (len(k), k)):
                lv, sv, nv = fund[key]
                ft = key[0] if key else ""
                strategy = key[1] if len(key) > 1 else ""
                rows.append([day, ft, strategy, "", "", "", _fmt(lv), _fmt(sv), _fmt(nv)])
            for s in GICS_SECTORS:
                rows.append([day, "", "", s, "", "", _fmt(self.sector_long[s][i]), _fmt(self.sector_short[s][i]), ""])
            for sub in SUBS:
                sector = SUB_SECTOR[sub]
                rows.append([day, "", "", "", sub, "",
                             _fmt(self.sub_alpha[sub][i] * self.sector_long[sector][i]),
                             _fmt(self.sub_beta[sub][i] * self.sector_short[sector][i]), ""])
            for name in ("single_stock", "etf", "index"):
                lm, sm = inst_tot[name]
                rows.append([day, "", "", "", "", name, _fmt(lm), _fmt(sm), ""])
        return rows

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

    def funds(self) -> list[tuple[str, str, str, float, float, float]]:
        """Return (fund_id, fund_type, strategy, nav weight, long tilt, short tilt) of every fund."""
        rng = self.rng("funds")
        out = []
        for ft, strategy, count, *_ in GROUPS:
            prefix = "HF" if ft == HF else "LO"
            start = sum(1 for f in out if f[1] == ft)
            for j in range(count):
                out.append((f"{prefix}-{start + j + 1:03d}", ft, strategy, math.exp(rng.gauss(0.0, 0.8)),
                            math.exp(rng.gauss(0.0, 0.15)), math.exp(rng.gauss(0.0, 0.2))))
        return out

    def exposure_events(self) -> list[dict[str, Any]]:
        rng = self.rng("fund-days")
        funds = self.funds()
        events = []
        for d in self.stream_days:
            i = self.day_index[d]
            for ft, strategy, *_ in GROUPS:
                members = [f for f in funds if f[2] == strategy]
                noise = [(math.exp(rng.gauss(0, 0.01)), math.exp(rng.gauss(0, 0.01)), math.exp(rng.gauss(0, 0.01))) for _ in members]
                wn = [f[3] * z[0] for f, z in zip(members, noise)]
                wl = [f[3] * f[4] * z[1] for f, z in zip(members, noise)]
                ws = [f[3] * f[5] * z[2] for f, z in zip(members, noise)]
                tn, tl, ts_ = sum(wn), sum(wl), sum(ws)
                gd, inst, sh = self.group_daily[strategy], self.inst[strategy], self.sector_share[strategy]
                el, il, es, is_ = inst["eL"][i], inst["iL"][i], inst["eS"][i], inst["iS"][i]
                for k, f in enumerate(members):
                    nav = gd["nav"][i] * wn[k] / tn
                    long_mv = gd["long"][i] * wl[k] / tl
                    short_mv = gd["short"][i] * ws[k] / ts_ if ft == HF else 0.0
                    sl, ssv = long_mv * (1 - el - il), short_mv * (1 - es - is_)

                    def ls(lv: float, sv: float) -> dict[str, float]:
                        out = {"long_mv": round(lv, 2)}
                        if ft == HF:
                            out["short_mv"] = round(sv, 2)
                        return out

                    sectors, subs = {}, {}
                    for s in GICS_SECTORS:
                        sec_l, sec_s = sl * sh["L"][s][i], ssv * sh["S"][s][i]
                        sectors[s] = ls(sec_l, sec_s)
                        for sub in UNIVERSE[s]:
                            subs[sub] = ls(sec_l * self.sub_alpha[sub][i], sec_s * self.sub_beta[sub][i])
                    instruments = {"single_stock": ls(sl, ssv), "etf": ls(long_mv * el, short_mv * es)}
                    if il > 0 or (ft == HF and is_ > 0):
                        instruments["index"] = ls(long_mv * il, short_mv * is_)
                    ts = _eastern(d, time(15, 45, 0)) + timedelta(seconds=int(rng.random() * 240))
                    events.append({
                        "ts": _iso(ts), "fund_id": f[0], "fund_type": ft, "strategy": strategy,
                        "nav": round(nav, 2), "long_mv": round(long_mv, 2), "short_mv": round(short_mv, 2),
                        "sectors": sectors, "sub_industries": subs, "instrument_types": instruments,
                    })
        events.sort(key=lambda e: (e["ts"], e["fund_id"]))
        return events

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
                        seconds = rng.randrange(0, (6 * 3600 + 28 * 60))
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

    def quote_events(self) -> list[dict[str, Any]]:
        rng = self.rng("quotes")
        events = []
        closes = {"NDX": self.ndx, **self.baskets}
        for symbol, values in closes.items():
            for d in self.stream_days:
                i = self.day_index[d]
                events.append({"ts": _iso(_eastern(d, time(16, 0))), "symbol": symbol, "price": values[i], "kind": "close"})
                if d.weekday() in (0, 2):
                    prev = values[i - 1]
                    mid = prev + (values[i] - prev) * rng.uniform(0.2, 0.8)
                    ts = _eastern(d, time(11, 0)) + timedelta(seconds=rng.randrange(0, 3 * 3600))
                    events.append({"ts": _iso(ts), "symbol": symbol, "price": round(mid, 4 if symbol in BASKETS else 2),
                                   "kind": "trade"})
        for row in self.vix_rows:
            d = date.fromisoformat(row[0])
            if FIRST_STREAM_DAY <= d <= NOTE_WEEK:
                events.append({"ts": _iso(_eastern(d, time(16, 0))), "symbol": "VIX", "price": float(row[4]), "kind": "close"})
                if d.weekday() in (0, 2):
                    events.append({"ts": _iso(_eastern(d, time(9, 31))), "symbol": "VIX", "price": float(row[1]), "kind": "trade"})
        events.sort(key=lambda e: (e["ts"], e["symbol"], e["kind"]))
        return events

    def observation_events(self) -> list[dict[str, Any]]:
        events = []
        for as_of, seen, value in self.cftc:
            if seen >= FIRST_STREAM_DAY:
                events.append({
                    "ts": _iso(_eastern(seen, time(8, 0))), "series": CFTC_SERIES, "value": float(value), "unit": "usd",
                    "tags": {"as_of": as_of.isoformat(), "source": "CFTC COT, VIX futures, leveraged funds net"},
                })
        return events


# --- writing -------------------------------------------------------------------------------


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _write_jsonl(path: Path, events: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count


def _read_vix(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise SimulateError(f"VIX history {path} not found")
    with path.open("r", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip().upper() for c in rows[0][:5]] != ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"]:
        raise SimulateError(f"{path}: expected the CBOE header DATE,OPEN,HIGH,LOW,CLOSE")
    body = [r for r in rows[1:] if r]
    days = {r[0] for r in body}
    for needed in ("2025-05-09", "2025-06-06"):
        if needed not in days:
            raise SimulateError(f"{path}: no row for {needed}")
    return body


def simulate(out_dir: Path, *, seed: int = 7, vix_csv: Path) -> Manifest:
    """Generate the data set into ``out_dir`` (created if needed) and return its manifest."""
    out_dir = Path(out_dir)
    vix_rows = _read_vix(Path(vix_csv))
    sim = _Sim(seed, vix_rows)
    sim.build_prices()
    sim.build_exposures()
    sim.build_flows()
    sim.build_cftc()

    history = out_dir / "history"
    history.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    closes = []
    vix_hist = [r for r in vix_rows if r[0] <= HISTORY_END.isoformat()]
    counts["history/closes_VIX.csv"] = _write_csv(history / "closes_VIX.csv", ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"], vix_hist)
    closes.append({"path": "history/closes_VIX.csv", "symbol": "VIX"})
    for symbol, values, digits in (("NDX", sim.ndx, 2), *((b, sim.baskets[b], 4) for b in BASKETS)):
        name = f"history/closes_{symbol}.csv"
        counts[name] = _write_csv(out_dir / name, ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"],
                                  sim.close_rows(values, sim.rng(f"ohlc:{symbol}"), digits))
        closes.append({"path": name, "symbol": symbol})
    counts["history/flows_weekly.csv"] = _write_csv(
        history / "flows_weekly.csv",
        ["week_end", "fund_type", "instrument_type", "sector", "sub_industry", "strategy", *ACTIONS, "n"],
        sim.flow_rows(),
    )
    counts["history/exposures_daily.csv"] = _write_csv(
        history / "exposures_daily.csv",
        ["date", "fund_type", "strategy", "sector", "sub_industry", "instrument_type", "long_mv", "short_mv", "nav"],
        sim.exposure_rows(),
    )
    counts["history/observations.csv"] = _write_csv(
        history / "observations.csv", ["date", "series", "value", "unit"],
        ([seen.isoformat(), CFTC_SERIES, str(value), "usd"] for _, seen, value in sim.cftc if seen <= HISTORY_END),
    )
    streams = {"trades": "trades.jsonl", "exposures": "exposures.jsonl", "quotes": "quotes.jsonl",
               "observations": "observations.jsonl"}
    trades = sim.trade_events()
    exposures = sim.exposure_events()
    counts["trades.jsonl"] = _write_jsonl(out_dir / "trades.jsonl", trades)
    counts["exposures.jsonl"] = _write_jsonl(out_dir / "exposures.jsonl", exposures)
    counts["quotes.jsonl"] = _write_jsonl(out_dir / "quotes.jsonl", sim.quote_events())
    counts["observations.jsonl"] = _write_jsonl(out_dir / "observations.jsonl", sim.observation_events())

    manifest = Manifest(
        root=str(out_dir),
        seed=seed,
        note_week=NOTE_WEEK.isoformat(),
        history_end=HISTORY_END.isoformat(),
        stream_weeks=[w.isoformat() for w in STREAM_WEEKS],
        streams=streams,
        history={
            "closes": closes,
            "flows": ["history/flows_weekly.csv"],
            "exposures": ["history/exposures_daily.csv"],
            "observations": ["history/observations.csv"],
        },
        counts=counts,
        targets=_targets(sim, trades, exposures),
    )
    (out_dir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest


# --- the targets, as the generated data gives them -------------------------------------------


def _targets(sim: _Sim, trades: list[dict[str, Any]], exposures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the note's figures as the generated data gives them (streamed weeks from the events themselves)."""
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


__all__ += ["NOTE_WEEK", "STREAM_WEEKS", "HISTORY_END"]
