"""Event-time periods in US/Eastern: week_end, trading_day, week_of, close_at, period_bounds."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from signal_monitor.periods import (
    close_at,
    period_bounds,
    period_of,
    trading_day,
    week_close_day,
    week_days,
    week_end,
    week_of,
    week_start,
)

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- week_end ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "friday"),
    [
        # Monday 2025-06-02 00:00 EDT (= 04:00Z) opens the week of Friday 2025-06-06
        (utc(2025, 6, 2, 4, 0), date(2025, 6, 6)),
        # Sunday 23:59 EDT, one minute earlier, still belongs to the same week (weekend rolls forward)
        (utc(2025, 6, 2, 3, 59), date(2025, 6, 6)),
        # Wednesday midday
        (utc(2025, 6, 4, 16, 0), date(2025, 6, 6)),
        # Friday 15:59 EDT (19:59Z): last minute of the week
        (utc(2025, 6, 6, 19, 59), date(2025, 6, 6)),
        (utc(2025, 6, 6, 19, 59, 59, 999999), date(2025, 6, 6)),
        # Friday 16:00 EDT (20:00Z): the close, belongs to the next week
        (utc(2025, 6, 6, 20, 0), date(2025, 6, 13)),
        # Friday 21:00 EDT is Saturday 01:00Z: still Friday in New York, after the close
        (utc(2025, 6, 7, 1, 0), date(2025, 6, 13)),
        # Saturday and Sunday roll forward
        (utc(2025, 6, 7, 16, 0), date(2025, 6, 13)),
        (utc(2025, 6, 8, 16, 0), date(2025, 6, 13)),
        # Friday 03:00Z is Thursday 23:00 EDT: same week, not "Friday after close" logic
        (utc(2025, 6, 6, 3, 0), date(2025, 6, 6)),
        # year boundary: Monday 2025-12-29 -> Friday 2026-01-02
        (utc(2025, 12, 29, 15, 0), date(2026, 1, 2)),
    ],
)
def test_week_end(ts: datetime, friday: date) -> None:
    assert week_end(ts) == friday
    assert period_of(ts, "week") == friday


def test_week_end_accepts_non_utc_offsets() -> None:
    # Friday 2025-06-06 16:30 +02:00 is 14:30Z = 10:30 EDT: same week
    ts = datetime(2025, 6, 6, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    assert week_end(ts) == date(2025, 6, 6)
    # Friday 15:00 -05:00 (fixed) is 20:00Z = 16:00 EDT: the close
    ts = datetime(2025, 6, 6, 15, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert week_end(ts) == date(2025, 6, 13)


@pytest.mark.parametrize(
    ("ts", "friday"),
    [
        # Spring forward: Sunday 2025-03-09. Friday 2025-03-07 still EST (UTC-5): close at 21:00Z.
        (utc(2025, 3, 7, 20, 30), date(2025, 3, 7)),  # 15:30 EST
        (utc(2025, 3, 7, 20, 59), date(2025, 3, 7)),  # 15:59 EST (in EDT this would already be past the close)
        (utc(2025, 3, 7, 21, 0), date(2025, 3, 14)),  # 16:00 EST
        # Sunday 2025-03-09 around the switch belongs to the week of 2025-03-14
        (utc(2025, 3, 9, 6, 59), date(2025, 3, 14)),  # 01:59 EST
        (utc(2025, 3, 9, 7, 0), date(2025, 3, 14)),  # 03:00 EDT
        # Monday 2025-03-10 00:00 EDT = 04:00Z
        (utc(2025, 3, 10, 4, 0), date(2025, 3, 14)),
        # Friday 2025-03-14 is EDT (UTC-4): close at 20:00Z
        (utc(2025, 3, 14, 19, 59), date(2025, 3, 14)),
        (utc(2025, 3, 14, 20, 0), date(2025, 3, 21)),
        # Fall back: Sunday 2025-11-02. Friday 2025-10-31 is EDT: close at 20:00Z.
        (utc(2025, 10, 31, 19, 59), date(2025, 10, 31)),
        (utc(2025, 10, 31, 20, 0), date(2025, 11, 7)),
        # 01:30 happens twice on 2025-11-02 (05:30Z EDT, 06:30Z EST): both in the week of 2025-11-07
        (utc(2025, 11, 2, 5, 30), date(2025, 11, 7)),
        (utc(2025, 11, 2, 6, 30), date(2025, 11, 7)),
        # Monday 2025-11-03 00:00 EST = 05:00Z
        (utc(2025, 11, 3, 5, 0), date(2025, 11, 7)),
        # Friday 2025-11-07 is EST (UTC-5): 20:30Z is 15:30, close at 21:00Z
        (utc(2025, 11, 7, 20, 30), date(2025, 11, 7)),
        (utc(2025, 11, 7, 20, 59), date(2025, 11, 7)),
        (utc(2025, 11, 7, 21, 0), date(2025, 11, 14)),
    ],
)
def test_week_end_across_dst(ts: datetime, friday: date) -> None:
    assert week_end(ts) == friday


# --- trading_day ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "day"),
    [
        (utc(2025, 6, 7, 2, 0), date(2025, 6, 6)),  # 22:00 EDT on Friday
        (utc(2025, 6, 7, 4, 0), date(2025, 6, 7)),  # 00:00 EDT Saturday
        (utc(2025, 6, 6, 3, 59), date(2025, 6, 5)),  # 23:59 EDT Thursday
        # after fall back, 04:30Z is 23:30 EST on Sunday (in EDT it would be Monday 00:30)
        (utc(2025, 11, 3, 4, 30), date(2025, 11, 2)),
        (utc(2025, 11, 3, 5, 0), date(2025, 11, 3)),
        # before spring forward, 04:30Z on Monday 2025-03-03 is 23:30 EST on Sunday
        (utc(2025, 3, 3, 4, 30), date(2025, 3, 2)),
        # after spring forward, 04:30Z on Monday 2025-03-10 is 00:30 EDT on Monday
        (utc(2025, 3, 10, 4, 30), date(2025, 3, 10)),
    ],
)
def test_trading_day(ts: datetime, day: date) -> None:
    assert trading_day(ts) == day
    assert period_of(ts, "day") == day


# --- close_at --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "granularity", "instant"),
    [
        (date(2025, 6, 6), "day", utc(2025, 6, 6, 20, 0)),  # EDT
        (date(2025, 6, 6), "week", utc(2025, 6, 6, 20, 0)),
        (date(2025, 12, 5), "day", utc(2025, 12, 5, 21, 0)),  # EST
        (date(2025, 12, 5), "week", utc(2025, 12, 5, 21, 0)),
        (date(2025, 3, 7), "week", utc(2025, 3, 7, 21, 0)),  # last Friday before the spring switch
        (date(2025, 3, 14), "week", utc(2025, 3, 14, 20, 0)),  # first Friday after it
        (date(2025, 10, 31), "week", utc(2025, 10, 31, 20, 0)),  # last Friday before the fall switch
        (date(2025, 11, 7), "week", utc(2025, 11, 7, 21, 0)),  # first Friday after it
        (date(2025, 11, 3), "day", utc(2025, 11, 3, 21, 0)),
    ],
)
def test_close_at_is_1600_eastern(period: date, granularity: str, instant: datetime) -> None:
    got = close_at(period, granularity)  # type: ignore[arg-type]
    assert got.tzinfo is not None
    assert got == instant
    assert got.timestamp() == instant.timestamp()


def test_close_at_ends_the_week_that_week_end_names() -> None:
    # an instant one microsecond before close_at belongs to the week, close_at itself to the next one
    for friday in (date(2025, 3, 7), date(2025, 3, 14), date(2025, 6, 6), date(2025, 11, 7)):
        end = close_at(friday, "week")
        assert week_end(end - timedelta(microseconds=1)) == friday
        assert week_end(end) == friday + timedelta(days=7)


def test_close_at_is_aware_in_us_eastern() -> None:
    got = close_at(date(2025, 6, 6), "day")
    assert got.utcoffset() == timedelta(hours=-4)
    assert got.isoformat() == "2025-06-06T16:00:00-04:00"


# --- week_of, week_start, period_bounds --------------------------------------------------


@pytest.mark.parametrize(
    ("day", "friday"),
    [
        (date(2025, 6, 2), date(2025, 6, 6)),  # Monday
        (date(2025, 6, 4), date(2025, 6, 6)),  # Wednesday
        (date(2025, 6, 6), date(2025, 6, 6)),  # Friday
        (date(2025, 6, 7), date(2025, 6, 13)),  # Saturday rolls forward
        (date(2025, 6, 8), date(2025, 6, 13)),  # Sunday rolls forward
        (date(2025, 12, 31), date(2026, 1, 2)),  # Wednesday across the year end
    ],
)
def test_week_of(day: date, friday: date) -> None:
    assert week_of(day) == friday


def test_week_start_and_period_bounds() -> None:
    assert week_start(date(2025, 6, 6)) == date(2025, 6, 2)
    assert period_bounds(date(2025, 6, 6), "week") == (date(2025, 6, 2), date(2025, 6, 6))
    assert period_bounds(date(2026, 1, 2), "week") == (date(2025, 12, 29), date(2026, 1, 2))
    assert period_bounds(date(2025, 6, 4), "day") == (date(2025, 6, 4), date(2025, 6, 4))


# --- the exchange calendar: holidays and early closes ----------------------------------------


def test_a_good_friday_week_ends_at_thursdays_close() -> None:
    # Good Friday 2025-04-18 is an NYSE holiday: the week of 2025-04-18 ends Thursday 16:00 EDT
    assert close_at(date(2025, 4, 18), "week") == datetime(2025, 4, 17, 20, 0, tzinfo=UTC)
    assert week_end(utc(2025, 4, 17, 19, 59)) == date(2025, 4, 18)
    assert week_end(utc(2025, 4, 17, 20, 0)) == date(2025, 4, 25)
    assert week_end(utc(2025, 4, 18, 15, 0)) == date(2025, 4, 25)  # on the holiday itself
    assert close_at(date(2025, 4, 18), "day") == datetime(2025, 4, 18, 20, 0, tzinfo=UTC)  # a nominal 16:00


def test_an_early_close_ends_its_day_and_its_week_at_13_00() -> None:
    # Friday 2025-11-28, the day after Thanksgiving, closes at 13:00 EST (18:00Z)
    assert close_at(date(2025, 11, 28), "day") == datetime(2025, 11, 28, 18, 0, tzinfo=UTC)
    assert close_at(date(2025, 11, 28), "week") == datetime(2025, 11, 28, 18, 0, tzinfo=UTC)
    assert week_end(utc(2025, 11, 28, 17, 59)) == date(2025, 11, 28)
    assert week_end(utc(2025, 11, 28, 19, 0)) == date(2025, 12, 5)
    # Thursday 2025-07-03 closes at 13:00 EDT; its week ends with Thursday (Independence Day is a Friday)
    assert close_at(date(2025, 7, 3), "day") == datetime(2025, 7, 3, 17, 0, tzinfo=UTC)
    assert close_at(date(2025, 7, 4), "week") == datetime(2025, 7, 3, 17, 0, tzinfo=UTC)
    assert week_end(utc(2025, 7, 3, 18, 0)) == date(2025, 7, 11)


def test_the_days_of_a_week_end_at_its_last_session() -> None:
    assert week_close_day(date(2025, 4, 18)) == date(2025, 4, 17)
    assert week_days(date(2025, 4, 18)) == [date(2025, 4, d) for d in (17, 16, 15, 14)]
    assert week_days(date(2025, 6, 6)) == [date(2025, 6, d) for d in (6, 5, 4, 3, 2)]
