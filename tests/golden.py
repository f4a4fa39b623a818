"""The desk note's claims as expectations on the alerts of the simulated scenario.

Every figure here is read off ``shared/seed/hedge-funds-chase-the-rally.txt``
(week ending Friday 2025-06-06) and ``shared/SIGNALS.md``; the VIX figures off
the real CBOE history (16.77 on 2025-06-06; the last close below 17 before it,
15.66 on 2025-02-20). None is taken from the program's output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

NOTE_WEEK = "2025-06-06"
HF = {"fund_type": "hedge_fund"}
FLS = {"strategy": "fundamental_long_short"}


def near(value: float, target: float, tol: float) -> bool:
    """Return True when ``value`` is within ``tol`` of ``target``."""
    return abs(value - target) <= tol


def in_february_2025(text: str) -> bool:
    """Return True for an ISO date in February 2025."""
    return text.startswith("2025-02-")


Check = Callable[[Mapping[str, Any]], bool]

#: (rule, scope) -> named checks on the alert of the note's week
NOTE_WEEK_ALERTS: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Check]] = {
    # 1. net bought for the fifth consecutive week
    ("hf_net_buying_streak", (("fund_type", "hedge_fund"),)): {
        "5th week": lambda a: a["context"]["streak"] == 5,
    },
    # 2. long purchases exceeding shorts by about 3 to 1
    ("hf_long_short_flow_ratio", (("fund_type", "hedge_fund"),)): {
        "about 3 to 1": lambda a: near(a["value"], 3.0, 0.05),
    },
    # 3. macro products 23 % of net buying, single stocks 77 %
    ("hf_flow_mix", (("fund_type", "hedge_fund"),)): {
        "macro 23%": lambda a: near(a["context"]["share"], 0.23, 0.005),
        "single stocks 77%": lambda a: near(a["context"]["rest"], 0.77, 0.005),
    },
    # 4. single stocks net bought for the fifth week, 2.2 to 1
    ("single_stock_net_buying_streak", (("fund_type", "hedge_fund"), ("instrument_type", "single_stock"))): {
        "5th week": lambda a: a["context"]["streak"] == 5,
        "2.2 to 1": lambda a: near(a["context"]["ls_flow_ratio"], 2.2, 0.05),
    },
    # 5. ETF shorts up 0.2 % after three consecutive weeks of covering
    ("etf_short_covering_reversal", (("instrument_type", "etf"),)): {
        "after 3 weeks": lambda a: a["context"]["ended_streak"] == 3,
        "+0.2%": lambda a: near(a["context"]["change_pct"], 0.002, 0.0005),
    },
    # 6. 8 of 11 sectors; led by IT, health care, industrials, energy; 3 net sold
    ("sector_breadth", (("fund_type", "hedge_fund"), ("sector", "*"))): {
        "8 of 11": lambda a: a["context"]["count"] == 8 and a["context"]["of"] == 11,
        "leaders": lambda a: [n for n, _ in a["context"]["leaders"][:4]]
        == ["Information Technology", "Health Care", "Industrials", "Energy"],
        "net sellers": lambda a: {n for n, _ in a["context"]["laggards"]}
        == {"Communication Services", "Materials", "Utilities"},
    },
    # 7. industrials: net buying at a high not seen in over seven months, 3.7 to 1
    ("sector_net_buying_high", (("fund_type", "hedge_fund"), ("sector", "Industrials"))): {
        "over 7 months": lambda a: a["context"]["periods_ago"] >= 30,
        "3.7 to 1": lambda a: near(a["context"]["ls_flow_ratio"], 3.7, 0.05),
    },
    # 8. industrials: nominal long buying at its highest in nearly four years
    ("sector_long_buying_high", (("fund_type", "hedge_fund"), ("sector", "Industrials"))): {
        "nearly 4 years": lambda a: 180 <= a["context"]["periods_ago"] < 209,
    },
    # 9. health care net bought for the sixth consecutive week
    ("sector_net_buying_streak", (("fund_type", "hedge_fund"), ("sector", "Health Care"))): {
        "6th week": lambda a: a["context"]["streak"] == 6,
    },
    # 10. biotech long/short 3.83, a two-year high, 86th percentile over five years
    ("subindustry_ls_ratio_extreme", (("sub_industry", "Biotechnology"),)): {
        "3.83": lambda a: near(a["value"], 3.83, 0.005),
        "86th pct over 5y": lambda a: 85.5 <= a["context"]["percentile"] < 87 and a["context"]["window"] == "5y",
        "two-year high": lambda a: a["context"]["periods_ago"] >= 104,
    },
    # 12. gross leverage down 2.5 points to 210.6 %, largest weekly decline since early April
    ("gross_leverage_largest_drop", (("strategy", "fundamental_long_short"),)): {
        "210.6%": lambda a: near(a["value"], 2.106, 0.0005),
        "-2.5 pt from 213.1%": lambda a: near(a["context"]["change"], -0.025, 0.0005)
        and near(a["context"]["previous"], 2.131, 0.0005),
        "since early April": lambda a: "2025-04-01" <= a["context"]["since"] <= "2025-04-15",
    },
    # 13. 97th percentile over three years
    ("gross_leverage_percentile", (("strategy", "fundamental_long_short"),)): {
        "97th pct over 3y": lambda a: 96.5 <= a["context"]["percentile"] < 98 and a["context"]["window"] == "3y",
    },
    # 14. net leverage up for the fourth week, +0.9 pt to 51.2 %, 38th percentile over 3 years
    ("net_leverage_rising_streak", (("strategy", "fundamental_long_short"),)): {
        "51.2%": lambda a: near(a["value"], 0.512, 0.0005),
        "4th week": lambda a: a["context"]["streak"] == 4,
        "+0.9 pt": lambda a: near(a["context"]["change"], 0.009, 0.0005),
        "38th pct": lambda a: 37.5 <= a["context"]["percentile"] < 39,
    },
    # 15. long/short ratio 1.642, 8th percentile over three years
    ("ls_ratio_percentile", (("strategy", "fundamental_long_short"),)): {
        "1.642": lambda a: near(a["value"], 1.642, 0.0005),
        "8th pct over 3y": lambda a: 7.5 <= a["context"]["percentile"] < 9 and a["context"]["window"] == "3y",
    },
    # 16. the VIX closed below 17 for the first time since February, a new low since February
    ("vix_below_17", (("symbol", "VIX"),)): {
        "16.77": lambda a: near(a["value"], 16.77, 0.001),
        "since February": lambda a: in_february_2025(a["context"]["since"]),
    },
    ("vix_low_since", (("symbol", "VIX"),)): {
        "low since February": lambda a: in_february_2025(a["context"]["since"]) and a["context"]["periods_ago"] >= 60,
    },
    # 17. VIX futures positions cut for five consecutive weeks, $14.3 million in all
    ("vix_futures_positioning_streak", (("series", "cftc_vix_futures_net"),)): {
        "5 weeks": lambda a: a["context"]["streak"] >= 5,
        "-$14.3M": lambda a: near(a["context"]["run_change"], -14.3e6, 0.05e6),
    },
    # 18. long-only funds net sold $3 billion while hedge funds were roughly flat
    ("fund_type_divergence", (("fund_type", "long_only"),)): {
        "-$3B": lambda a: near(a["value"], -3.0e9, 0.05e9),
        "HF roughly flat": lambda a: abs(a["context"]["other"]) <= 0.5e9,
    },
    # 19. the VIP basket underperformed the most-short basket by 8 %
    ("crowding_spread", (("symbol", "HF_VIP"),)): {
        "-8%": lambda a: near(a["value"], -0.08, 0.005),
    },
    # 20. Nasdaq up over 2 % two weeks running, about 30 % above its low, near its high
    ("index_weekly_gain_streak", (("symbol", "NDX"),)): {
        "2 weeks >= 2%": lambda a: a["context"]["streak"] == 2 and a["value"] >= 0.02,
        "about 30% off the low": lambda a: near(a["context"]["move"], 0.30, 0.02),
        "near the high": lambda a: a["context"]["distance"] <= 0.03,
    },
}

#: (rule, scope) -> what the text of the note's week says, each with the note's line it follows.
#: The numbers are the note's, in the formatter's spelling ($3 billion -> -$3.00B, $14.3 million -> $14.3M).
NOTE_WEEK_TEXTS: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[str, str]]] = {
    ("hf_net_buying_streak", (("fund_type", "hedge_fund"),)): [
        ("Hedge funds", "hedge funds ... net buying U.S. stocks for the fifth consecutive week"),
        ("5th consecutive week", "for the fifth consecutive week"),
    ],
    ("hf_long_short_flow_ratio", (("fund_type", "hedge_fund"),)): [
        ("long buys outpaced short sales 3.0 to 1", "long purchases exceeding shorts by a ratio of about 3 to 1"),
    ],
    ("hf_flow_mix", (("fund_type", "hedge_fund"),)): [
        ("macro products were 23% of net buying", "Macro products ... account for 23% of total net buying"),
        ("77%", "individual stocks account for 77%"),
    ],
    ("single_stock_net_buying_streak", (("fund_type", "hedge_fund"), ("instrument_type", "single_stock"))): [
        ("Single stocks", "Net buying of individual stocks has dominated for the fifth consecutive week"),
        ("5th consecutive week", "for the fifth consecutive week"),
        ("2.2 to 1", "long purchases exceeding short sales by a ratio of 2.2 to 1"),
    ],
    ("etf_short_covering_reversal", (("instrument_type", "etf"),)): [
        ("ETFs", "short positions in U.S.-listed ETFs"),
        ("up 0.2% after 3 weeks", "after three consecutive weeks of covering, ... increased by 0.2%"),
    ],
    ("sector_breadth", (("fund_type", "hedge_fund"), ("sector", "*"))): [
        ("8 of 11 sectors", "Out of the 11 sectors in the U.S., 8 saw net buying"),
        ("led by Information Technology", "led by information technology, healthcare, industrials, and energy"),
    ],
    ("sector_net_buying_high", (("fund_type", "hedge_fund"), ("sector", "Industrials"))): [
        ("Industrials: hedge-fund net buying of $2.41B", "SIGNALS.md: Industrials: hedge-fund net buying of $2.41 B"),
        ("3.7 to 1", "long purchases exceeding shorts by a ratio of 3.7 to 1"),
    ],
    ("sector_net_buying_streak", (("fund_type", "hedge_fund"), ("sector", "Health Care"))): [
        ("6th consecutive week", "net bought U.S. healthcare stocks for the sixth consecutive week"),
    ],
    ("subindustry_ls_ratio_extreme", (("sub_industry", "Biotechnology"),)): [
        ("3.83", "the long-to-short ratio of U.S. biotechnology stocks has now reached 3.83"),
        ("86th percentile over 5 years", "at the 86th percentile over the past five years"),
    ],
    ("gross_leverage_largest_drop", (("strategy", "fundamental_long_short"),)): [
        ("210.6%", "now down 2.5% to 210.6%"),
        ("down 2.5 points from 213.1%", "down 2.5% (SIGNALS.md: 2.5 points, from 213.1 %)"),
        ("the largest one-week decline since 2025-04-", "the largest single-week decline since early April"),
    ],
    ("gross_leverage_percentile", (("strategy", "fundamental_long_short"),)): [
        ("97th percentile over 3 years", "in the 97th percentile over three years"),
    ],
    ("net_leverage_rising_streak", (("strategy", "fundamental_long_short"),)): [
        ("51.2%", "risen for the fourth consecutive week by 0.9% to 51.2%"),
        ("4th consecutive week", "for the fourth consecutive week"),
        ("+0.9 points", "by 0.9% (SIGNALS.md: leverage changes are in percentage points)"),
        ("38th percentile over 3 years", "(38th percentile over three years)"),
    ],
    ("ls_ratio_percentile", (("strategy", "fundamental_long_short"),)): [
        ("long/short ratio of 1.642", "the long-short ratio has rebounded 1.5% to 1.642"),
        ("8th percentile over 3 years", "(8th percentile over three years)"),
    ],
    ("vix_below_17", (("symbol", "VIX"),)): [
        ("The VIX closed at 16.77", "The VIX fear index closed below 17"),
        ("below 17 for the first time since 2025-02-", "closed below 17 for the first time ... since February"),
    ],
    ("vix_low_since", (("symbol", "VIX"),)): [
        ("the lowest since 2025-02-", "hitting a new low since February"),
    ],
    ("vix_futures_positioning_streak", (("series", "cftc_vix_futures_net"),)): [
        ("CFTC VIX futures net positioning", "According to CFTC data, ... institutional positions in VIX index futures"),
        ("5th consecutive week", "have decreased for five consecutive weeks"),
        ("-$14.3M over the streak", "with a total reduction of $14.3 million"),
    ],
    ("fund_type_divergence", (("fund_type", "long_only"),)): [
        ("Long-only funds: net buying of -$3.00B", "Pure long strategy funds net sold $3 billion"),
        ("while hedge funds were at", "while hedge funds remained roughly flat"),
    ],
    ("crowding_spread", (("symbol", "HF_VIP"),)): [
        ("The hedge-fund VIP basket", "Goldman Sachs' hedge fund VIP basket"),
        ("lagging the most-short basket", "underperforming the most short basket"),
        ("by 8 points", "by 8% (a difference of two returns: percentage points)"),
    ],
    ("index_weekly_gain_streak", (("symbol", "NDX"),)): [
        ("The Nasdaq 100 gained", "the Nasdaq has achieved over 2% gains for two consecutive weeks"),
        ("2nd consecutive week", "for two consecutive weeks"),
        ("above its 1-year low", "rising about 30% from its lows"),
        ("below its high", "nearing historical highs"),
    ],
}

#: 11. the record gross leverage of 215 % falls a few weeks before the note's week
RECORD_RULE = "gross_leverage_record"


def key_of(alert: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Return (rule, sorted scope items) of an alert."""
    return alert["rule"], tuple(sorted(alert["scope"].items()))


def check_alerts(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return every way ``alerts`` differ from the note; empty when they match."""
    problems: list[str] = []
    week = [a for a in alerts if a["period_end"] == NOTE_WEEK and not a.get("correction")]
    got = {key_of(a): a for a in week}
    if len(got) != len(week):
        problems.append(f"an alert fired twice in the note's week: {[key_of(a) for a in week]}")
    missing = set(NOTE_WEEK_ALERTS) - set(got)
    extra = set(got) - set(NOTE_WEEK_ALERTS)
    problems += [f"missing in the note's week: {k}" for k in sorted(missing)]
    problems += [f"fired in the note's week beyond the note: {k}" for k in sorted(extra)]
    for key, checks in NOTE_WEEK_ALERTS.items():
        alert = got.get(key)
        if alert is None:
            continue
        for name, check in checks.items():
            try:
                ok = check(alert)
            except (KeyError, TypeError) as exc:
                ok = False
                name += f" ({type(exc).__name__}: {exc})"
            if not ok:
                problems.append(f"{key[0]}: {name} does not hold: value={alert['value']} context={alert['context']}")
    records = [a for a in alerts if a["rule"] == RECORD_RULE and not a.get("correction")]
    if len(records) != 1:
        problems.append(f"{RECORD_RULE} fired {len(records)} times, expected once")
    else:
        rec = records[0]
        end = date.fromisoformat(rec["period_end"])
        if not (date(2025, 5, 9) < end < date(2025, 6, 6)):
            problems.append(f"{RECORD_RULE} fired for {end}, not a few weeks before the note's week")
        if not near(rec["value"], 2.15, 0.0005):
            problems.append(f"{RECORD_RULE}: record {rec['value']} is not 215%")
    for a in alerts:
        if not a.get("text"):
            problems.append(f"{a['rule']} has no text")
    return problems


def check_texts(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return every way the texts of the note's week differ from the note's words; empty when they match."""
    got = {key_of(a): a for a in alerts if a["period_end"] == NOTE_WEEK and not a.get("correction")}
    problems: list[str] = []
    for key, words in NOTE_WEEK_TEXTS.items():
        alert = got.get(key)
        if alert is None:
            problems.append(f"missing in the note's week: {key}")
            continue
        for expected, note in words:
            if expected not in alert["text"]:
                problems.append(f"{key[0]}: {expected!r} (note: {note!r}) not in {alert['text']!r}")
    return problems


# --- the week's note ------------------------------------------------------------------------------

#: The note's sections in order: (heading, the line of the desk's note it stands for).
NOTE_HEADINGS: list[tuple[str, str]] = [
    ("Flows", 'Hedge Funds Enter "Panic Buying" Mode'),
    ("Sectors", "Industrial Stocks Become the Biggest Winners, Biotech Surge Continues"),
    ("Leverage", "The trend in long-short leverage also confirms this"),
    ("Volatility", "Technical Signal as VIX Breaks Below 17"),
    ("Divergence and crowding", "Divergence and Misaligned Trades of Smart Money"),
    ("Indices", "the Nasdaq has achieved over 2% gains for two consecutive weeks"),
]

#: The headline: the note's lead, (words, the note's line).
NOTE_HEADLINE: list[tuple[str, str]] = [
    ("Hedge funds", "hedge funds have now entered a panic buying mode"),
    ("5th consecutive week", "with net purchases of U.S. stocks for five consecutive weeks"),
]

_SCOPE = tuple[tuple[str, str], ...]

#: claim number -> (rule, scope, heading, [(words in the formatter's spelling, the note's line)]).
#: All 20 claims of the note; claim 11 (the record) is of a week a few weeks before the note's.
NOTE_CLAIMS: dict[int, tuple[str, _SCOPE, str, list[tuple[str, str]]]] = {
    1: ("hf_net_buying_streak", (("fund_type", "hedge_fund"),), "Flows", [
        ("Hedge funds", "hedge funds ... net buying U.S. stocks for the fifth consecutive week"),
        ("5th consecutive week", "for the fifth consecutive week"),
    ]),
    2: ("hf_long_short_flow_ratio", (("fund_type", "hedge_fund"),), "Flows", [
        ("3.0 to 1", "long purchases exceeding shorts by a ratio of about 3 to 1"),
    ]),
    3: ("hf_flow_mix", (("fund_type", "hedge_fund"),), "Flows", [
        ("macro products were 23%", "Macro products ... account for 23% of total net buying"),
        ("77%", "individual stocks account for 77%"),
    ]),
    4: ("single_stock_net_buying_streak", (("fund_type", "hedge_fund"), ("instrument_type", "single_stock")), "Flows", [
        ("5th consecutive week", "Net buying of individual stocks has dominated for the fifth consecutive week"),
        ("2.2 to 1", "long purchases exceeding short sales by a ratio of 2.2 to 1"),
    ]),
    5: ("etf_short_covering_reversal", (("instrument_type", "etf"),), "Flows", [
        ("up 0.2% after 3 weeks", "after three consecutive weeks of covering, short positions in U.S.-listed ETFs "
                                  "increased by 0.2%"),
    ]),
    6: ("sector_breadth", (("fund_type", "hedge_fund"), ("sector", "*")), "Sectors", [
        ("8 of 11 sectors", "Out of the 11 sectors in the U.S., 8 saw net buying"),
        ("led by Information Technology", "led by information technology, healthcare, industrials, and energy"),
        ("Health Care", "healthcare"),
        ("Industrials", "industrials"),
        ("Energy", "energy"),
        ("Communication Services", "communication services, materials, and utilities faced net selling"),
        ("Materials", "materials"),
        ("Utilities", "utilities"),
    ]),
    7: ("sector_net_buying_high", (("fund_type", "hedge_fund"), ("sector", "Industrials")), "Sectors", [
        ("Industrials", "Net buying of U.S. industrial stocks by hedge funds has reached a new high"),
        ("$2.41B", "SIGNALS.md: Industrials: hedge-fund net buying of $2.41 B"),
        ("3.7 to 1", "long purchases exceeding shorts by a ratio of 3.7 to 1"),
    ]),
    8: ("sector_long_buying_high", (("fund_type", "hedge_fund"), ("sector", "Industrials")), "Sectors", [
        ("Industrials: hedge-fund long buys", "nominal long buying of U.S. industrial stocks"),
        ("the highest since 2021-", "reached its highest level in nearly four years"),
    ]),
    9: ("sector_net_buying_streak", (("fund_type", "hedge_fund"), ("sector", "Health Care")), "Sectors", [
        ("Health Care", "Hedge funds have net bought U.S. healthcare stocks"),
        ("6th consecutive week", "for the sixth consecutive week"),
    ]),
    10: ("subindustry_ls_ratio_extreme", (("sub_industry", "Biotechnology"),), "Sectors", [
        ("Biotechnology: long/short ratio of 3.83", "the long-to-short ratio of U.S. biotechnology stocks has now "
                                                   "reached 3.83"),
        ("86th percentile over 5 years", "at the 86th percentile over the past five years"),
    ]),
    11: ("gross_leverage_record", (("strategy", "fundamental_long_short"),), "Leverage", [
        ("gross leverage of 215%", "recently hit a historical high of 215%"),
        ("a record", "a historical high"),
    ]),
    12: ("gross_leverage_largest_drop", (("strategy", "fundamental_long_short"),), "Leverage", [
        ("210.6%", "now down 2.5% to 210.6%"),
        ("down 2.5 points from 213.1%", "down 2.5% (SIGNALS.md: 2.5 points, from 213.1 %)"),
        ("the largest one-week decline since 2025-04-", "the largest single-week decline since early April"),
    ]),
    13: ("gross_leverage_percentile", (("strategy", "fundamental_long_short"),), "Leverage", [
        ("97th percentile over 3 years", "in the 97th percentile over three years"),
    ]),
    14: ("net_leverage_rising_streak", (("strategy", "fundamental_long_short"),), "Leverage", [
        ("net leverage of 51.2%", "the net long-short leverage ratio has risen ... to 51.2%"),
        ("4th consecutive week", "for the fourth consecutive week"),
        ("+0.9 points", "by 0.9% (SIGNALS.md: leverage changes are in percentage points)"),
        ("38th percentile over 3 years", "(38th percentile over three years)"),
    ]),
    15: ("ls_ratio_percentile", (("strategy", "fundamental_long_short"),), "Leverage", [
        ("long/short ratio of 1.642", "the long-short ratio has rebounded 1.5% to 1.642"),
        ("8th percentile over 3 years", "(8th percentile over three years)"),
    ]),
    16: ("vix_below_17", (("symbol", "VIX"),), "Volatility", [
        ("The VIX closed at 16.77", "The VIX fear index closed below 17"),
        ("below 17 for the first time since 2025-02-", "for the first time this week ... since February"),
    ]),
    17: ("vix_futures_positioning_streak", (("series", "cftc_vix_futures_net"),), "Volatility", [
        ("CFTC VIX futures net positioning", "According to CFTC data, ... institutional positions in VIX index futures"),
        ("5th consecutive week", "have decreased for five consecutive weeks"),
        ("-$14.3M over the streak", "with a total reduction of $14.3 million"),
    ]),
    18: ("fund_type_divergence", (("fund_type", "long_only"),), "Divergence and crowding", [
        ("Long-only funds: net buying of -$3.00B", "Pure long strategy funds net sold $3 billion"),
        ("while hedge funds were at", "while hedge funds remained roughly flat"),
    ]),
    19: ("crowding_spread", (("symbol", "HF_VIP"),), "Divergence and crowding", [
        ("The hedge-fund VIP basket", "Goldman Sachs' hedge fund VIP basket"),
        ("lagging the most-short basket", "underperforming the most short basket"),
        ("by 8 points", "by 8% (a difference of two returns: percentage points)"),
    ]),
    20: ("index_weekly_gain_streak", (("symbol", "NDX"),), "Indices", [
        ("The Nasdaq 100 gained", "the Nasdaq has achieved over 2% gains for two consecutive weeks"),
        ("2nd consecutive week", "for two consecutive weeks"),
        ("30.2% above its 1-year low", "rising about 30% from its lows"),
        ("below its high", "nearing historical highs"),
    ]),
}

#: Claim 16 has two rules: the new low since February is a second finding of the same claim.
NOTE_CLAIM_16B: tuple[str, _SCOPE, str, list[tuple[str, str]]] = (
    "vix_low_since", (("symbol", "VIX"),), "Volatility", [
        ("the lowest since 2025-02-", "hitting a new low since February"),
    ],
)


def check_note(note: Mapping[str, Any]) -> list[str]:
    """Return every way the week's note (its JSON) differs from the desk's note; empty when they match.

    It must have the note's headings in order, a headline naming the lead claim, every claim once,
    under its heading, with the note's figures, and no claim beyond the note's.
    """
    problems: list[str] = []
    if note.get("week") != NOTE_WEEK:
        problems.append(f"the note is of the week ending {note.get('week')}, not {NOTE_WEEK}")
    headings = [s["title"] for s in note.get("sections", [])]
    if headings != [h for h, _ in NOTE_HEADINGS]:
        problems.append(f"headings {headings} are not the note's {[h for h, _ in NOTE_HEADINGS]}")
    for words, line in NOTE_HEADLINE:
        if words not in note.get("headline", ""):
            problems.append(f"headline: {words!r} (note: {line!r}) not in {note.get('headline')!r}")
    found: dict[tuple[str, _SCOPE], list[tuple[str, Mapping[str, Any]]]] = {}
    for section in note.get("sections", []):
        for claim in section["claims"]:
            found.setdefault((claim["rule"], tuple(sorted(claim["scope"].items()))), []).append((section["title"], claim))
    expected = {(rule, scope): (n, heading, words) for n, (rule, scope, heading, words) in NOTE_CLAIMS.items()}
    rule, scope, heading, words = NOTE_CLAIM_16B
    expected[(rule, scope)] = (16, heading, words)
    for key, (n, heading, words) in sorted(expected.items(), key=lambda kv: kv[1][0]):
        got = found.get(key, [])
        if len(got) != 1:
            problems.append(f"claim {n} ({key[0]}) is in the note {len(got)} times, not once")
            continue
        where, claim = got[0]
        if where != heading:
            problems.append(f"claim {n} ({key[0]}) is under {where!r}, not {heading!r}")
        for expected_words, line in words:
            if expected_words not in claim["text"]:
                problems.append(f"claim {n} ({key[0]}): {expected_words!r} (note: {line!r}) not in {claim['text']!r}")
        own_week = claim["period_end"] == NOTE_WEEK
        if key[0] == RECORD_RULE:
            if own_week or not claim.get("carried"):
                problems.append(f"claim {n} ({key[0]}): the record must be carried from a week before the note's")
        elif not own_week:
            problems.append(f"claim {n} ({key[0]}) is of {claim['period_end']}, not of the note's week")
    for key in sorted(set(found) - set(expected)):
        problems.append(f"the note says more than the desk's note: {key}")
    return problems
