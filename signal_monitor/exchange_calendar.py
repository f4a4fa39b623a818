"""The NYSE calendar: the exchange's time zone, its regular session, full-day holidays and trading days.

The rules in force 2020-2025, computed here: weekends off; New Year's Day,
Juneteenth (from 2022), Independence Day and Christmas, moved to the Friday
before or the Monday after when they fall on a weekend (a Saturday New Year's
Day is not observed); Martin Luther King Jr. Day, Washington's Birthday, Good
Friday, Memorial Day, Labor Day and Thanksgiving; the national day of mourning
of 2025-01-09. The session is 09:30-16:00 US/Eastern every trading day (early
closes are not modelled).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
MARKET_OPEN = time(9, 30)
MARKET_CLOSE = time(16, 0)


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


@lru_cache(maxsize=16)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(nyse_holidays(year))


def is_trading_day(day: date) -> bool:
    """Return True on an NYSE trading day (a weekday that is not a full-day holiday)."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def in_market_hours(now: datetime) -> bool:
    """Return True during regular US market hours (09:30-16:00 US/Eastern on a trading day)."""
    local = now.astimezone(EASTERN)
    return is_trading_day(local.date()) and MARKET_OPEN <= local.time() < MARKET_CLOSE
