"""The one number formatter: how every number reads, in alert texts, Slack fields, the console and the dashboard.

The spelling follows the desk's note: money ``$2.41B`` / ``-$3.00B`` / ``$400M`` /
``$14.3M``; a fraction as a percent with one decimal, trailing zeros dropped (0.23
-> ``23%``, 2.106 -> ``210.6%``); a difference of fractions (leverage, returns, a
share) in percentage points (``2.5 points``); a long/short flow ratio as ``3.0 to
1``; an exposure ratio with up to three decimals (``1.642``, ``3.83``); percentiles
as ``97th percentile over 3 years``; index levels and prices with two decimals
(``16.77``, ``21,790.00``).

The dashboard's JavaScript prints no number of its own: it shows the texts and
figures served already formatted by this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

#: ``ratio`` is an exposure ratio (``1.642``); ``to_one`` a ratio of two flows, read as the note does (``3.7 to 1``).
Unit = Literal["money", "leverage", "ratio", "to_one", "fraction", "price", "count", "number"]



def _trim(text: str) -> str:
    """Drop trailing zeros after a decimal point (``23.0`` -> ``23``)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_money(x: float) -> str:
    """Format dollars: ``$2.41B``, ``$450M``, ``$12.3M``, ``$12K``, ``-$3.00B``."""
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a >= 999.5e9:
        body = f"{a / 1e12:.2f}T"
    elif a >= 999.5e6:
        body = f"{a / 1e9:.2f}B"
    elif a >= 99.95e6:
        body = f"{a / 1e6:.0f}M"
    elif a >= 999.5e3:
        body = f"{a / 1e6:.1f}M"
    elif a >= 999.5:
        body = f"{a / 1e3:.0f}K"
    else:
        body = f"{a:.0f}"
    return f"{sign}${body}"


def fmt_percent(fraction: float, decimals: int = 1) -> str:
    """Format a fraction as a percent: 2.106 -> ``210.6%``, 0.23 -> ``23%``."""
    return f"{_trim(f'{fraction * 100:.{decimals}f}')}%"


def fmt_points(diff: float) -> str:
    """Format a difference of fractions as percentage points, unsigned: -0.025 -> ``2.5 points``."""
    text = _trim(f"{abs(diff) * 100:.1f}")
    return f"{text} point" if text == "1" else f"{text} points"


def fmt_to_one(x: float) -> str:
    """Format a ratio the way the note says it: ``3.0 to 1``."""
    return f"{x:.1f} to 1"


def fmt_ratio(x: float) -> str:
    """Format a ratio with three decimals, a trailing zero dropped: ``1.642``, ``3.83``, ``2.90``."""
    text = f"{x:.3f}"
    return text[:-1] if text.endswith("0") else text


def fmt_price(x: float) -> str:
    """Format a price: ``16.77``, ``21,500.00``."""
    return f"{x:,.2f}"


def fmt_number(x: float) -> str:
    """Format a plain number: thousands separators above 1,000, four significant digits below."""
    if abs(x) >= 1000 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:.4g}"


def ordinal(n: int) -> str:
    """Return ``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``, ``112th``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def fmt_window(window: str) -> str:
    """Format a window spec: ``3y`` -> ``3 years``, ``1y`` -> ``1 year``, ``26w`` -> ``26 weeks``."""
    n, unit = int(window[:-1]), {"y": "year", "w": "week", "d": "day"}[window[-1]]
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def fmt_percentile(pct: float, window: str) -> str:
    """Return ``97th percentile over 3 years`` (the rank rounded to a whole percentile)."""
    return f"{ordinal(round(pct))} percentile over {fmt_window(window)}"


def fmt_unit(unit: Unit, x: float) -> str:
    """Format a value in its unit."""
    if unit == "money":
        return fmt_money(x)
    if unit in ("leverage", "fraction"):
        return fmt_percent(x)
    if unit == "ratio":
        return fmt_ratio(x)
    if unit == "to_one":
        return fmt_to_one(x)
    if unit == "price":
        return fmt_price(x)
    return fmt_number(x)


def fmt_unit_level(unit: Unit, x: float) -> str:
    """Format a threshold: like a value, without trailing zeros for prices and ratios (``2.5 to 1``)."""
    if unit in ("ratio", "price"):
        return _trim(f"{x:.4f}")
    if unit == "to_one":
        return _trim(f"{x:.4f}") + " to 1"
    return fmt_unit(unit, x)


def fmt_unit_change(unit: Unit, change: float, change_pct: float | None) -> str:
    """Format a signed period-over-period change: points for leverage and returns, percent otherwise."""
    sign = "+" if change >= 0 else "-"
    if unit in ("leverage", "fraction"):
        return f"{sign}{fmt_points(change)}"
    if change_pct is not None:
        return f"{sign}{fmt_percent(abs(change_pct))}"
    return f"{sign}{fmt_unit(unit, abs(change))}"


def periods_text(n: int, granularity: str) -> str:
    """Return ``1 week``, ``32 weeks``, ``73 trading days``."""
    unit = "week" if granularity == "week" else "trading day"
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def fmt_period(period: date, granularity: str) -> str:
    """Return how a period is named: ``week ending 2025-06-06`` (its Friday), or the day ``2025-06-06``."""
    return f"week ending {period.isoformat()}" if granularity == "week" else period.isoformat()


def fmt_figure(value: Any) -> str:
    """Format a figure whose unit is not known (a count, a date, a list of pairs): the fallback of every view."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        size = abs(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if size >= 1e9:
            return f"{value / 1e9:,.2f}B"
        if size >= 1e6:
            return f"{value / 1e6:.1f}M"
        if size >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        parts = []
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:
                parts.append(f"{item[0]} ({fmt_figure(item[1])})")
            else:
                parts.append(fmt_figure(item))
        return ", ".join(parts) or "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt_figure(v)}" for k, v in value.items()) or "—"
    return str(value)
