"""Event-time periods in the exchange's calendar (US/Eastern).

A *day* is a calendar date in US/Eastern. A *week* runs from Monday 00:00 to
the Friday close (16:00) US/Eastern and is named by its Friday: events after the
Friday close and over the weekend belong to the following week. Daylight saving
is handled by ``zoneinfo``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from signal_monitor.exchange_calendar import EASTERN, MARKET_CLOSE

Granularity = Literal["day", "week"]


def trading_day(ts: datetime) -> date:
    """Return the US/Eastern calendar date of an aware timestamp."""
    return ts.astimezone(EASTERN).date()


def week_end(ts: datetime) -> date:
    """Return the Friday that names the trading week of an aware timestamp."""
    local = ts.astimezone(EASTERN)
    day = local.date()
    weekday = day.weekday()  # Monday 0 .. Sunday 6
    friday = day + timedelta(days=4 - weekday)
    if weekday > 4 or (weekday == 4 and local.time() >= MARKET_CLOSE):
        friday += timedelta(days=7)
    return friday


def week_of(day: date) -> date:
    """Return the Friday naming the week that contains trading date ``day`` (Sat/Sun roll forward)."""
    weekday = day.weekday()
    friday = day + timedelta(days=4 - weekday)
    if weekday > 4:
        friday += timedelta(days=7)
    return friday


def week_start(friday: date) -> date:
    """Return the Monday of the week named by ``friday``."""
    return friday - timedelta(days=4)


def period_of(ts: datetime, granularity: Granularity) -> date:
    """Return the period (a date) an event at ``ts`` belongs to."""
    return week_end(ts) if granularity == "week" else trading_day(ts)


def close_at(period: date, granularity: Granularity) -> datetime:
    """Return the instant a period ends: its (Friday's, for a week) 16:00, aware in US/Eastern."""
    return datetime.combine(period, MARKET_CLOSE, tzinfo=EASTERN)


def period_bounds(period: date, granularity: Granularity) -> tuple[date, date]:
    """Return the first and last date of a period."""
    if granularity == "week":
        return week_start(period), period
    return period, period
