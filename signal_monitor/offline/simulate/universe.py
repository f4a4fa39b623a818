"""The desk the data set invents: its dates, sectors and symbols, the fund groups and their book weights."""

from __future__ import annotations

from datetime import date

from signal_monitor.streams.events import GICS_SECTORS

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
