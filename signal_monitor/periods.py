"""Event-time periods in the exchange's calendar (US/Eastern, NYSE sessions).

A *day* is a calendar date in US/Eastern; it closes at its session's close (16:00,
13:00 on an early close; a weekday without a session at its nominal 16:00). A *week*
is named by its Friday and runs from the previous week's close to the close of its
own last session: the Friday's close, or Thursday's when Good Friday is a holiday,
13:00 when the Friday closes early. Events after a week's close, over a holiday
Friday and over the weekend belong to the following week. A week without any
session ends at its Friday's 16:00. Daylight saving is handled by ``zoneinfo``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from signal_monitor.exchange_calendar import EASTERN, MARKET_CLOSE, close_time, is_trading_day

__all__ = [
    "EASTERN", "MARKET_CLOSE", "Granularity", "close_at", "period_bounds", "period_of", "trading_day",
    "week_close_day", "week_days", "week_end", "week_of", "week_start",
]

Granularity = Literal["day", "week"]


def trading_day(ts: datetime) -> date:
    """Return the US/Eastern calendar date of an aware timestamp."""
    return ts.astimezone(EASTERN).date()


def week_of(day: date) -> date:
    """Return the Friday of the Monday-to-Friday week of ``day`` (Saturday and Sunday roll forward)."""
    weekday = day.weekday()
    friday = day + timedelta(days=4 - weekday)
    if weekday > 4:
        friday += timedelta(days=7)
    return friday


def week_start(friday: date) -> date:
    """Return the Monday of the week named by ``friday``."""
    return friday - timedelta(days=4)


@lru_cache(maxsize=4096)
def week_close_day(friday: date) -> date:
    """Return the day whose close closes the week named by ``friday``: its last session (the Friday if none)."""
    for back in range(5):
        day = friday - timedelta(days=back)
        if is_trading_day(day):
            return day
    return friday


def week_days(friday: date) -> list[date]:
    """Return the days whose data is the week's, last first: its close day back to its Monday."""
    last = week_close_day(friday)
    return [last - timedelta(days=i) for i in range((last - week_start(friday)).days + 1)]


@lru_cache(maxsize=8192)
def _day_close(day: date) -> datetime:
    return datetime.combine(day, close_time(day), tzinfo=EASTERN)


def close_at(period: date, granularity: Granularity) -> datetime:
    """Return the instant a period ends, aware in US/Eastern: a day's (session) close, a week's last session's."""
    if granularity == "week":
        return _day_close(week_close_day(period))
    return _day_close(period)


def week_end(ts: datetime) -> date:
    """Return the Friday that names the trading week of an aware timestamp."""
    friday = week_of(trading_day(ts))
    if ts >= close_at(friday, "week"):
        friday += timedelta(days=7)
    return friday


def period_of(ts: datetime, granularity: Granularity) -> date:
    """Return the period (a date) an event at ``ts`` belongs to."""
    return week_end(ts) if granularity == "week" else trading_day(ts)


def period_bounds(period: date, granularity: Granularity) -> tuple[date, date]:
    """Return the first and last date of a period."""
    if granularity == "week":
        return week_start(period), period
    return period, period
