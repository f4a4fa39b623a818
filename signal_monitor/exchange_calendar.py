"""The NYSE calendar: sessions, holidays and early closes, in US/Eastern, from ``exchange_calendars``.

The calendar is XNYS of the maintained ``exchange_calendars`` package: its full-day
holidays (the rules in force each year since 1990 and the one-off closures: the
national days of mourning, 9/11, Hurricane Sandy), its sessions and their hours
(09:30-16:00, and the 13:00 early closes: the day before Independence Day, the day
after Thanksgiving, Christmas Eve, and the older 14:00 ones).

Lookups are plain set and dict reads. The table behind them covers 1990 to the end
of the fifth year from now. It is built once by ``exchange_calendars`` in a
subprocess (which keeps pandas, ~55 MiB, out of a worker) and kept as JSON in the
cache directory (``$SM_CALENDAR_CACHE``, else ``$XDG_CACHE_HOME/signal-monitor``,
else ``~/.cache/signal-monitor``), one file per version of the package and span
(a table of the same version that still reaches the end of next year is used as
it is); when the cache cannot be written the table is built in this process instead.
``python -m signal_monitor.exchange_calendar`` builds it ahead of time and prints
its path. A day outside the table is taken as a weekday session 09:30-16:00 (one
warning per process).

Every open and close in the table is on a whole hour or half hour of US/Eastern
time, and every close on a whole hour: the fold looks periods up once per hour of
event time (:func:`signal_monitor.state.fold._periods`), which is exact because of it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")
MARKET_OPEN = time(9, 30)  #: the regular session's open
MARKET_CLOSE = time(16, 0)  #: the regular session's close
FIRST_DAY = date(1990, 1, 1)  #: the first day of the table
CALENDAR = "XNYS"
SPAN_YEARS = 5  #: the table runs to the end of this many years after the current one


class CalendarError(RuntimeError):
    """The exchange calendar could not be built or read."""


@dataclass(frozen=True)
class Session:
    """One trading session: its date and its open and close, aware in US/Eastern."""

    day: date
    open: datetime
    close: datetime

    @property
    def early_close(self) -> bool:
        """Whether the session closes before the regular 16:00."""
        return self.close.timetz().replace(tzinfo=None) < MARKET_CLOSE


@dataclass(frozen=True)
class _Table:
    first: date
    last: date
    closed: frozenset[date]  # weekdays without a session
    weekend: frozenset[date]  # Saturdays and Sundays with a session
    special: dict[date, tuple[time, time]]  # sessions whose hours are not 09:30-16:00
    source: str


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def build_table(first: date, last: date) -> dict[str, object]:
    """Return the XNYS table from ``first`` to ``last`` as JSON-ready data (imports exchange_calendars)."""
    import exchange_calendars  # noqa: PLC0415 - pandas and numpy come with it: imported only here

    cal = exchange_calendars.get_calendar(CALENDAR, start=first.isoformat(), end=last.isoformat())
    schedule = cal.schedule
    opens = schedule["open"].dt.tz_convert(EASTERN)
    closes = schedule["close"].dt.tz_convert(EASTERN)
    sessions: dict[date, tuple[time, time]] = {
        label.date(): (o.time(), c.time()) for label, o, c in zip(schedule.index, opens, closes)
    }
    closed, weekend, special = [], [], {}
    day = first
    while day <= last:
        hours = sessions.get(day)
        if hours is None:
            if day.weekday() < 5:
                closed.append(day.isoformat())
        else:
            if day.weekday() >= 5:
                weekend.append(day.isoformat())
            if hours != (MARKET_OPEN, MARKET_CLOSE):
                special[day.isoformat()] = [_minutes(hours[0]), _minutes(hours[1])]
        day += timedelta(days=1)
    return {
        "source": f"exchange_calendars {metadata.version('exchange_calendars')} {CALENDAR}",
        "first": first.isoformat(),
        "last": last.isoformat(),
        "closed": closed,
        "weekend": weekend,
        "special": special,
    }


def _span(today: date | None = None) -> tuple[date, date]:
    year = (today or date.today()).year
    return FIRST_DAY, date(year + SPAN_YEARS, 12, 31)


def cache_path(today: date | None = None) -> Path:
    """Return the file the table of the installed exchange_calendars and the current span is kept in."""
    first, last = _span(today)
    base = os.environ.get("SM_CALENDAR_CACHE")
    if base:
        folder = Path(base)
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "signal-monitor"
    try:
        version = metadata.version("exchange_calendars")
    except metadata.PackageNotFoundError as exc:
        raise CalendarError("the exchange calendar needs the package exchange_calendars: pip install exchange_calendars") from exc
    return folder / f"{CALENDAR.lower()}-{version}-{first.isoformat()}-{last.isoformat()}.json"


def write_table(path: Path, today: date | None = None) -> None:
    """Build the table and write it to ``path`` atomically (a reader never sees half a file)."""
    data = build_table(*_span(today))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parse(data: dict[str, object]) -> _Table:
    special = data["special"]
    assert isinstance(special, dict)
    return _Table(
        first=date.fromisoformat(str(data["first"])),
        last=date.fromisoformat(str(data["last"])),
        closed=frozenset(date.fromisoformat(d) for d in data["closed"]),  # type: ignore[attr-defined]
        weekend=frozenset(date.fromisoformat(d) for d in data["weekend"]),  # type: ignore[attr-defined]
        special={date.fromisoformat(d): (_clock(o), _clock(c)) for d, (o, c) in special.items()},
        source=str(data["source"]),
    )


def _kept(path: Path, today: date | None = None) -> Path:
    """Return ``path``, or a table of the same version kept earlier that still reaches the end of next year."""
    if path.exists():
        return path
    stem = path.name.rsplit("-", 3)[0]  # xnys-<version>-<first day>
    reach = date((today or date.today()).year + 1, 12, 31)
    best = None
    for other in path.parent.glob(f"{stem}-????-??-??.json"):
        try:
            last = date.fromisoformat(other.stem[-10:])
        except ValueError:
            continue
        if last >= reach and (best is None or last > best[0]):
            best = (last, other)
    return best[1] if best else path


def _load() -> _Table:
    path = _kept(cache_path())
    if not path.exists():
        built = subprocess.run(
            [sys.executable, "-m", "signal_monitor.exchange_calendar", "--write", str(path)],
            capture_output=True, text=True, check=False,
        )
        if built.returncode != 0 or not path.exists():
            log.warning(
                "could not keep the exchange calendar in %s (%s): building it in this process",
                path, (built.stderr.strip().splitlines() or ["no output"])[-1],
            )
            return _parse(build_table(*_span()))
    try:
        return _parse(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise CalendarError(f"the exchange calendar's table {path} is unreadable ({exc}); delete it to build it again") from exc


_table: _Table | None = None
_lock = threading.Lock()
_warned = False


def table() -> _Table:
    """Return the calendar's table, loading (or building) it on first use."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _load()
    return _table


def _outside(day: date) -> None:
    global _warned
    if not _warned:
        _warned = True
        t = table()
        log.warning(
            "%s is outside the exchange calendar (%s to %s): weekdays outside it are taken as sessions 09:30-16:00",
            day.isoformat(), t.first.isoformat(), t.last.isoformat(),
        )


def is_trading_day(day: date) -> bool:
    """Return True on an NYSE session day."""
    t = table()
    if not t.first <= day <= t.last:
        _outside(day)
        return day.weekday() < 5
    if day.weekday() < 5:
        return day not in t.closed
    return day in t.weekend


def hours(day: date) -> tuple[time, time] | None:
    """Return the session's open and close (US/Eastern wall times) of ``day``, None when there is none."""
    if not is_trading_day(day):
        return None
    return table().special.get(day, (MARKET_OPEN, MARKET_CLOSE))


def session(day: date) -> Session | None:
    """Return the session of ``day``, None on a holiday or a weekend."""
    found = hours(day)
    if found is None:
        return None
    return Session(day, datetime.combine(day, found[0], tzinfo=EASTERN), datetime.combine(day, found[1], tzinfo=EASTERN))


def close_time(day: date) -> time:
    """Return the close of ``day``'s session; 16:00 on a day without one (its nominal close)."""
    found = hours(day)
    return found[1] if found is not None else MARKET_CLOSE


def trading_days(start: date, end: date) -> list[date]:
    """Return the NYSE session days from ``start`` to ``end`` inclusive."""
    out, day = [], start
    while day <= end:
        if is_trading_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out


def holidays(year: int) -> set[date]:
    """Return the weekdays of ``year`` without a session (full-day holidays and closures)."""
    days = (date(year, 1, 1) + timedelta(days=i) for i in range(366))
    return {d for d in days if d.year == year and d.weekday() < 5 and not is_trading_day(d)}


def early_closes(start: date, end: date) -> list[Session]:
    """Return the sessions from ``start`` to ``end`` that close before 16:00."""
    return [s for d in trading_days(start, end) if (s := session(d)) is not None and s.early_close]


def in_market_hours(now: datetime) -> bool:
    """Return True during an NYSE session (its open to its close, early closes included)."""
    local = now.astimezone(EASTERN)
    found = hours(local.date())
    return found is not None and found[0] <= local.time().replace(tzinfo=None) < found[1]


def _main(argv: list[str]) -> int:
    """``python -m signal_monitor.exchange_calendar [--write PATH]``: build the table; print its path."""
    if argv[:1] == ["--write"] and len(argv) == 2:
        write_table(Path(argv[1]))
        return 0
    if argv:
        print("usage: python -m signal_monitor.exchange_calendar [--write PATH]", file=sys.stderr)
        return 2
    path = cache_path()
    if not path.exists():
        write_table(path)
    t = table()
    print(f"{path}: {t.source}, {t.first} to {t.last}, {len(t.closed)} weekday closures, {len(t.special)} special sessions")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
