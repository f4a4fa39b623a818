"""Backfill: load history into a State from files, so the rules have years of context on day one.

Every file is read whole, validated row by row, turned into the same series the
live stream produces (see :mod:`signal_monitor.series`) and written with
``State.put_series``, an upsert by period: loading the same file twice changes
nothing. A bad row stops the load with a :class:`BackfillError` naming the file,
the line and the field.

File formats
------------

The format of a file is chosen by its extension: ``.csv`` (a header row, then
one row per record; column names are matched case-insensitively, unknown
columns are ignored) or ``.jsonl`` (one JSON object per line with the same field
names; blank lines are skipped). Dates are ISO ``YYYY-MM-DD`` (daily closes also
accept CBOE's older ``MM/DD/YYYY``). Numbers must be finite.

**Daily closes** (CBOE format, like ``vix-daily.csv``): ``DATE,OPEN,HIGH,LOW,CLOSE``;
only ``DATE`` and ``CLOSE`` (> 0) are read. The symbol is given by the caller.
Writes ``close:day|symbol=S``, ``close:week|symbol=S`` (the week's last close) and
``return:week|symbol=S`` (close / previous weekly close - 1).

**Weekly flow aggregates**: ``week_end`` (the Friday naming the week), the scope
columns ``fund_type,instrument_type,sector,sub_industry,strategy`` (empty = not part
of the scope; the non-empty ones must form one of ``metrics.FLOW_SCOPES``),
``buy_long,sell_long,sell_short,buy_to_cover`` (summed USD notional, >= 0) and
optionally ``n`` (the number of trades). Writes the weekly point of every metric
of ``metrics.flow_metrics`` for that scope, e.g. ``net_buying:week|fund_type=hedge_fund|sector=Energy``.

**Daily exposure aggregates**: ``date``, the scope columns
``fund_type,strategy,sector,sub_industry,instrument_type`` (empty = not in scope; one
of ``metrics.EXPOSURE_FUND_SCOPES`` or ``metrics.EXPOSURE_SLICE_SCOPES``),
``long_mv,short_mv`` (summed USD market value, >= 0) and ``nav`` (summed NAV, > 0,
required for whole-fund scopes and empty for slices). Writes the daily points of
``metrics.exposure_metrics`` (leverage for whole-fund scopes only) and the weekly
points: the metrics of the last day of each week present for that scope.

**Observations**: ``date,series,value`` (other columns such as ``unit`` are
ignored). Writes ``obs:day|series=X`` and ``obs:week|series=X`` (the week's last value).

Within one file a period may appear once per series or scope (a repeat is an
error); across files of one kind a later file's point replaces an earlier one.
Weekly points are derived from the daily points of all files of one kind loaded
in the same call; a week only partly covered by the history gets a point from the
days present, which the live period close later replaces.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

from signal_monitor.errors import SignalMonitorError
from signal_monitor.periods import week_of
from signal_monitor.series import (
    EXPOSURE_FUND_SCOPES,
    EXPOSURE_SLICE_SCOPES,
    FLOW_SCOPES,
    ExposureSums,
    exposure_metrics,
    flow_metrics,
    parse_series_id,
    points_of,
    scope_key,
    series_id,
)
from signal_monitor.state.base import Point, State
from signal_monitor.streams.events import ACTIONS, FundType, InstrumentType, Sector

__all__ = [
    "BackfillError",
    "BackfillSummary",
    "backfill",
    "read_closes",
    "read_exposures",
    "read_flows",
    "read_observations",
    "weekly_last",
    "weekly_returns",
]

#: series id -> period -> value
SeriesPoints = dict[str, dict[date, float]]

FLOW_SCOPE_COLUMNS: tuple[str, ...] = ("fund_type", "instrument_type", "sector", "sub_industry", "strategy")
EXPOSURE_SCOPE_COLUMNS: tuple[str, ...] = ("fund_type", "strategy", "sector", "sub_industry", "instrument_type")

_FLOW_SCOPE_SETS = {frozenset(dims) for dims in FLOW_SCOPES}
_FUND_SCOPE_SETS = {frozenset(dims) for dims in EXPOSURE_FUND_SCOPES}
_SLICE_SCOPE_SETS = {frozenset(dims) for dims in EXPOSURE_SLICE_SCOPES}
_ALLOWED_VALUES: dict[str, frozenset[str]] = {
    "fund_type": frozenset(get_args(FundType)),
    "instrument_type": frozenset(get_args(InstrumentType)),
    "sector": frozenset(get_args(Sector)),
}


class BackfillError(SignalMonitorError):
    """A history file is invalid: names the file, the line (1-based) and the field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass
class BackfillSummary:
    """What a backfill wrote."""

    files: int = 0
    rows: int = 0
    series: int = 0
    points: dict[str, int] = field(default_factory=dict)  #: points written per family ``metric:granularity``
    seconds: float = 0.0

    @property
    def total_points(self) -> int:
        """Return the number of points written over all families."""
        return sum(self.points.values())

    def __str__(self) -> str:
        families = ", ".join(f"{k} {v}" for k, v in sorted(self.points.items()))
        return (
            f"backfill: {self.files} files, {self.rows} rows, {self.series} series, "
            f"{self.total_points} points in {self.seconds:.2f} s ({families})"
        )


# --- pure helpers -------------------------------------------------------------------------


def weekly_last(points: Iterable[Point]) -> list[Point]:
    """Return one point per week (named by its Friday): the value of the latest day of that week present.

    ``points`` are daily ``(day, value)`` pairs in any order; the result is sorted by week.
    """
    last: dict[date, tuple[date, float]] = {}
    for day, value in points:
        week = week_of(day)
        seen = last.get(week)
        if seen is None or day >= seen[0]:
            last[week] = (day, float(value))
    return [(week, last[week][1]) for week in sorted(last)]


def weekly_returns(points: Iterable[Point]) -> list[Point]:
    """Return ``(week, close / previous point's close - 1)`` for each weekly close after the first.

    ``points`` are weekly closes ``(week, close)`` in any order; the previous point is
    the previous stored week, whatever the gap. A previous close <= 0 gives no point.
    """
    ordered = sorted(points)
    out: list[Point] = []
    for (_, prev), (week, close) in zip(ordered, ordered[1:]):
        if prev > 0:
            out.append((week, float(close) / float(prev) - 1.0))
    return out


# --- reading ------------------------------------------------------------------------------

Row = tuple[int, dict[str, str]]  # (line number, lower-case column -> raw text)


def _lines(path: Path, advance: Callable[[int], None] | None) -> Iterator[str]:
    with path.open("r", encoding="utf-8", newline="") as handle:
        for text in handle:
            if advance is not None:
                advance(len(text.encode("utf-8")))
            yield text


def _rows(path: Path, required: Sequence[str], advance: Callable[[int], None] | None = None) -> Iterator[Row]:
    """Yield ``(line, {column: text})`` of a .csv or .jsonl file, checking required columns."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise BackfillError(path, None, None, "no such file")
    if suffix == ".csv":
        reader = csv.reader(_lines(path, advance))
        header: list[str] | None = None
        for record in reader:
            if header is None:
                header = [h.strip().lower().lstrip("\ufeff") for h in record]
                missing = [c for c in required if c not in header]
                if missing:
                    raise BackfillError(path, reader.line_num, missing[0], f"missing column (header is {record!r})")
                continue
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) > len(header):
                raise BackfillError(path, reader.line_num, None, f"{len(record)} cells for {len(header)} columns")
            row = {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}
            yield reader.line_num, row
        if header is None:
            raise BackfillError(path, None, None, "empty file: no header row")
    elif suffix == ".jsonl":
        for number, text in enumerate(_lines(path, advance), start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BackfillError(path, number, None, f"invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise BackfillError(path, number, None, "a line must hold a JSON object")
            row = {str(k).strip().lower(): ("" if v is None else str(v).strip()) for k, v in obj.items()}
            for name in required:
                if name not in row:
                    raise BackfillError(path, number, name, "missing field")
            yield number, row
    else:
        raise BackfillError(path, None, None, f"unknown extension {path.suffix!r}: expected .csv or .jsonl")


def _date(path: Path, line: int, name: str, text: str, *, cboe: bool = False) -> date:
    if not text:
        raise BackfillError(path, line, name, "empty date")
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else _us_date(text, cboe)
    except ValueError:
        expected = "YYYY-MM-DD or MM/DD/YYYY" if cboe else "YYYY-MM-DD"
        raise BackfillError(path, line, name, f"invalid date {text!r} (expected {expected})") from None


def _us_date(text: str, cboe: bool) -> date:
    if not cboe:
        raise ValueError(text)
    return datetime.strptime(text, "%m/%d/%Y").date()


def _number(path: Path, line: int, name: str, text: str, *, minimum: float | None = None, strict: bool = False) -> float:
    if text == "":
        raise BackfillError(path, line, name, "empty value")
    try:
        value = float(text)
    except ValueError:
        raise BackfillError(path, line, name, f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise BackfillError(path, line, name, f"not a finite number: {text!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise BackfillError(path, line, name, f"{value!r} must be {'>' if strict else '>='} {minimum:g}")
    return value


def _scope(path: Path, line: int, row: Mapping[str, str], columns: Sequence[str]) -> dict[str, str]:
    scope = {c: row.get(c, "") for c in columns if row.get(c, "")}
    for name, value in scope.items():
        allowed = _ALLOWED_VALUES.get(name)
        if allowed is not None and value not in allowed:
            raise BackfillError(path, line, name, f"unknown {name} {value!r} (one of {sorted(allowed)})")
        if "|" in value or "=" in value:
            raise BackfillError(path, line, name, f"{value!r} may not contain '|' or '='")
    return scope


def read_closes(path: str | Path, symbol: str, *, advance: Callable[[int], None] | None = None) -> tuple[dict[date, float], int]:
    """Return the daily closes of a CBOE-format file and the number of rows read."""
    path = Path(path)
    if not symbol or "|" in symbol or "=" in symbol:
        raise BackfillError(path, None, None, f"invalid symbol {symbol!r}")
    out: dict[date, float] = {}
    rows = 0
    for line, row in _rows(path, ("date", "close"), advance):
        day = _date(path, line, "DATE", row["date"], cboe=True)
        close = _number(path, line, "CLOSE", row["close"], minimum=0.0, strict=True)
        if day in out:
            raise BackfillError(path, line, "DATE", f"{day} appears twice")
        out[day] = close
        rows += 1
    return out, rows


def read_flows(path: str | Path, *, advance: Callable[[int], None] | None = None) -> tuple[SeriesPoints, int]:
    """Return the weekly flow series of a flow-aggregate file and the number of rows read."""
    path = Path(path)
    out: SeriesPoints = defaultdict(dict)
    seen: set[tuple[date, str]] = set()
    rows = 0
    for line, row in _rows(path, ("week_end", *ACTIONS), advance):
        week = _date(path, line, "week_end", row["week_end"])
        if week.weekday() != 4:
            raise BackfillError(path, line, "week_end", f"{week} is a {week.strftime('%A')}, not a Friday")
        scope = _scope(path, line, row, FLOW_SCOPE_COLUMNS)
        if frozenset(scope) not in _FLOW_SCOPE_SETS:
            raise BackfillError(
                path, line, "scope", f"columns {sorted(scope)} are not a flow scope (one of {[list(s) for s in FLOW_SCOPES]})"
            )
        key = scope_key(scope)
        if (week, key) in seen:
            raise BackfillError(path, line, "week_end", f"week {week} of scope {key or '(all)'!r} appears twice")
        seen.add((week, key))
        sums = {a: _number(path, line, a, row[a], minimum=0.0) for a in ACTIONS}
        if row.get("n", ""):
            sums["n"] = _number(path, line, "n", row["n"], minimum=0.0)
        for sid, value in points_of({key: flow_metrics(sums)}, "week").items():
            out[sid][week] = value
        rows += 1
    return dict(out), rows


def read_exposures(path: str | Path, *, advance: Callable[[int], None] | None = None) -> tuple[SeriesPoints, int]:
    """Return the daily and weekly exposure series of an exposure-aggregate file and the number of rows read."""
    path = Path(path)
    daily: dict[str, dict[date, dict[str, float]]] = defaultdict(dict)  # scope key -> day -> metrics
    rows = 0
    for line, row in _rows(path, ("date", "long_mv", "short_mv", "nav"), advance):
        day = _date(path, line, "date", row["date"])
        scope = _scope(path, line, row, EXPOSURE_SCOPE_COLUMNS)
        dims = frozenset(scope)
        whole_fund = dims in _FUND_SCOPE_SETS
        if not whole_fund and dims not in _SLICE_SCOPE_SETS:
            raise BackfillError(path, line, "scope", f"columns {sorted(scope)} are not an exposure scope")
        key = scope_key(scope)
        if day in daily[key]:
            raise BackfillError(path, line, "date", f"day {day} of scope {key or '(all)'!r} appears twice")
        long_mv = _number(path, line, "long_mv", row["long_mv"], minimum=0.0)
        short_mv = _number(path, line, "short_mv", row["short_mv"], minimum=0.0)
        if whole_fund:
            nav = _number(path, line, "nav", row["nav"], minimum=0.0, strict=True)
        elif row["nav"]:
            raise BackfillError(path, line, "nav", "must be empty for a slice scope (sector, sub_industry, instrument_type)")
        else:
            nav = 0.0
        daily[key][day] = exposure_metrics(ExposureSums(long_mv, short_mv, nav), with_leverage=whole_fund)
        rows += 1
    out: SeriesPoints = defaultdict(dict)
    for key, days in daily.items():
        scope_daily = {day: points_of({key: metrics}, "day") for day, metrics in days.items()}
        for day, points in scope_daily.items():
            for sid, value in points.items():
                out[sid][day] = value
        last_day: dict[date, date] = {}
        for day in days:
            week = week_of(day)
            if day > last_day.get(week, date.min):
                last_day[week] = day
        for week, day in last_day.items():
            for sid, value in points_of({key: days[day]}, "week").items():
                out[sid][week] = value
    return dict(out), rows


def read_observations(path: str | Path, *, advance: Callable[[int], None] | None = None) -> tuple[SeriesPoints, int]:
    """Return the daily observation series (``obs:day|series=X``) of a file and the number of rows read."""
    path = Path(path)
    out: SeriesPoints = defaultdict(dict)
    rows = 0
    for line, row in _rows(path, ("date", "series", "value"), advance):
        day = _date(path, line, "date", row["date"])
        name = row["series"]
        if not name:
            raise BackfillError(path, line, "series", "empty series name")
        if "|" in name or "=" in name:
            raise BackfillError(path, line, "series", f"{name!r} may not contain '|' or '='")
        sid = series_id("obs", "day", {"series": name})
        if day in out[sid]:
            raise BackfillError(path, line, "date", f"day {day} of series {name!r} appears twice")
        out[sid][day] = _number(path, line, "value", row["value"])
        rows += 1
    return dict(out), rows


# --- the load -----------------------------------------------------------------------------


def _weekly_of_daily(daily: SeriesPoints) -> SeriesPoints:
    out: SeriesPoints = {}
    for sid, points in daily.items():
        metric, _, scope = parse_series_id(sid)
        out[series_id(metric, "week", scope)] = dict(weekly_last(points.items()))
    return out


def _merge(into: SeriesPoints, new: Mapping[str, Mapping[date, float]]) -> None:
    for sid, points in new.items():
        into.setdefault(sid, {}).update(points)


async def backfill(
    state: State,
    *,
    closes: Iterable[tuple[str | Path, str]] = (),
    flows: Iterable[str | Path] = (),
    exposures: Iterable[str | Path] = (),
    observations: Iterable[str | Path] = (),
    progress: bool = False,
) -> BackfillSummary:
    """Load history files into ``state``; return what was written.

    ``closes`` are ``(path, symbol)`` pairs of CBOE-format daily closes; ``flows``,
    ``exposures`` and ``observations`` are paths (see the module docstring for the
    formats). Idempotent: the points are upserted by period. With ``progress`` a
    rich progress bar shows the bytes read and the series written.
    """
    started = time.perf_counter()
    closes = [(Path(p), s) for p, s in closes]
    jobs: list[tuple[str, Path, str | None]] = [("closes", p, s) for p, s in closes]
    jobs += [("flows", Path(p), None) for p in flows]
    jobs += [("exposures", Path(p), None) for p in exposures]
    jobs += [("observations", Path(p), None) for p in observations]
    summary = BackfillSummary(files=len(jobs))

    bar: Any = None
    if progress:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
        bar.start()
    try:
        read_task = None
        if bar is not None:
            total = sum(p.stat().st_size for _, p, _ in jobs if p.is_file())
            read_task = bar.add_task("reading history", total=total)

        def advance(n: int) -> None:
            if bar is not None:
                bar.advance(read_task, n)

        close_days: dict[str, dict[date, float]] = {}
        flow_points: SeriesPoints = {}
        exposure_points: SeriesPoints = {}
        obs_daily: SeriesPoints = {}
        for kind, path, symbol in jobs:
            if bar is not None:
                bar.update(read_task, description=f"reading {path.name}")
            if kind == "closes":
                assert symbol is not None
                days, rows = read_closes(path, symbol, advance=advance)
                close_days.setdefault(symbol, {}).update(days)
            elif kind == "flows":
                points, rows = read_flows(path, advance=advance)
                _merge(flow_points, points)
            elif kind == "exposures":
                points, rows = read_exposures(path, advance=advance)
                _merge(exposure_points, points)
            else:
                points, rows = read_observations(path, advance=advance)
                _merge(obs_daily, points)
            summary.rows += rows

        series: SeriesPoints = {}
        for symbol, days in close_days.items():
            scope = {"symbol": symbol}
            weekly = weekly_last(days.items())
            series[series_id("close", "day", scope)] = days
            series[series_id("close", "week", scope)] = dict(weekly)
            series[series_id("return", "week", scope)] = dict(weekly_returns(weekly))
        _merge(series, flow_points)
        _merge(series, exposure_points)
        _merge(series, obs_daily)
        _merge(series, _weekly_of_daily(obs_daily))

        write_task = bar.add_task("writing series", total=len(series)) if bar is not None else None
        for sid in sorted(series):
            points = sorted(series[sid].items())
            if points:
                await state.put_series(sid, points)
                metric, granularity, _ = parse_series_id(sid)
                family = f"{metric}:{granularity}"
                summary.points[family] = summary.points.get(family, 0) + len(points)
                summary.series += 1
            if bar is not None:
                bar.advance(write_task, 1)
    finally:
        if bar is not None:
            bar.stop()
    summary.seconds = time.perf_counter() - started
    return summary
