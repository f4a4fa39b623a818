"""The NYSE calendar: sessions, holidays and early closes from exchange_calendars' XNYS, kept out of pandas."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path

import pytest

from signal_monitor import exchange_calendar as cal
from signal_monitor.exchange_calendar import EASTERN

# NYSE's published 2025 schedule: the full-day closures (with the national day of mourning of
# 9 January) and the three 13:00 early closes.
HOLIDAYS_2025 = {
    date(2025, 1, 1), date(2025, 1, 9), date(2025, 1, 20), date(2025, 2, 17), date(2025, 4, 18),
    date(2025, 5, 26), date(2025, 6, 19), date(2025, 7, 4), date(2025, 9, 1), date(2025, 11, 27),
    date(2025, 12, 25),
}
EARLY_CLOSES_2025 = [date(2025, 7, 3), date(2025, 11, 28), date(2025, 12, 24)]


def et(*args: int) -> datetime:
    return datetime(*args, tzinfo=EASTERN)


def test_the_holidays_of_2025_are_nyses() -> None:
    assert cal.holidays(2025) == HOLIDAYS_2025
    assert len(cal.trading_days(date(2025, 1, 1), date(2025, 12, 31))) == 250


def test_one_off_closures_are_in_the_calendar() -> None:
    # 9/11, Hurricane Sandy, the days of mourning for Presidents Ford (2007), Bush (2018) and Carter (2025)
    for day in (date(2001, 9, 11), date(2001, 9, 14), date(2012, 10, 29), date(2012, 10, 30),
                date(2007, 1, 2), date(2018, 12, 5), date(2025, 1, 9)):
        assert not cal.is_trading_day(day), day
    assert cal.is_trading_day(date(2001, 9, 17))


def test_early_closes_close_at_13_00() -> None:
    early = cal.early_closes(date(2025, 1, 1), date(2025, 12, 31))
    assert [s.day for s in early] == EARLY_CLOSES_2025
    assert {s.close.time() for s in early} == {time(13, 0)}
    assert cal.close_time(date(2025, 11, 28)) == time(13, 0)
    assert cal.close_time(date(2025, 11, 26)) == time(16, 0)
    assert cal.close_time(date(2025, 11, 27)) == time(16, 0)  # no session: its nominal close


def test_market_hours_end_at_an_early_close_and_skip_holidays() -> None:
    assert cal.in_market_hours(et(2025, 11, 28, 12, 59))
    assert not cal.in_market_hours(et(2025, 11, 28, 13, 0))
    assert not cal.in_market_hours(et(2025, 4, 18, 11, 0))  # Good Friday
    assert cal.in_market_hours(et(2025, 4, 17, 15, 59)) and not cal.in_market_hours(et(2025, 4, 17, 16, 0))
    assert not cal.in_market_hours(et(2025, 6, 2, 9, 29)) and cal.in_market_hours(et(2025, 6, 2, 9, 30))


def test_every_close_is_on_a_whole_hour() -> None:
    # the fold looks a period up once per hour of event time: a close inside an hour would break it
    table = cal.table()
    assert {c.minute for _, c in table.special.values()} == {0}


def test_a_day_outside_the_table_is_a_weekday_session() -> None:
    assert cal.is_trading_day(date(1985, 7, 4)) and not cal.is_trading_day(date(1985, 7, 6))


def test_the_table_is_built_once_into_the_cache_without_pandas_in_the_process(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from datetime import date\n"
        "from signal_monitor.periods import close_at\n"
        "print(close_at(date(2025, 4, 18), 'week').isoformat())\n"
        "print('pandas' in sys.modules, 'exchange_calendars' in sys.modules)\n"
    )
    env = {"SM_CALENDAR_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert first.stdout.split("\n")[:2] == ["2025-04-17T16:00:00-04:00", "False False"]
    files = list(tmp_path.glob("xnys-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["source"].startswith("exchange_calendars ") and data["first"] == "1990-01-01"
    assert "2025-04-18" in data["closed"] and data["special"]["2025-11-28"] == [570, 780]
    # a second process reads the file instead of building it again
    stamp = files[0].stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert again.stdout == first.stdout and files[0].stat().st_mtime_ns == stamp


def test_an_unreadable_table_names_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CALENDAR_CACHE", str(tmp_path))
    path = cal.cache_path()
    path.write_text("{not json")
    with pytest.raises(cal.CalendarError, match=str(path)):
        cal._load()


def test_a_table_kept_earlier_serves_while_it_reaches_the_end_of_next_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CALENDAR_CACHE", str(tmp_path))
    built_in = date(2026, 3, 1)
    kept = cal.cache_path(built_in)  # 1990 to 2031
    kept.write_text("{}")
    assert cal._kept(cal.cache_path(date(2030, 2, 1)), date(2030, 2, 1)) == kept
    later = date(2031, 2, 1)  # next year's end (2032) is past the kept table: a new one is due
    assert cal._kept(cal.cache_path(later), later) == cal.cache_path(later) != kept
