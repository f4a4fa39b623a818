"""The benchmark's output: a rich table of every figure, then the headline figures as one JSON line, last."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: The keys of the last line, in this order (issues 6, 12 and 16): nothing more, nothing less.
HEADLINE_KEYS: tuple[str, ...] = (
    "raw_consume_per_s",
    "consumer_perf_per_s",
    "faust_empty_agent_per_s",
    "naive_agent_per_s",
    "quix_streams_per_s",
    "kafka_streams_per_s",
    "kafka_streams_batched_per_s",
    "events_per_s_single",
    "events_per_s_batched",
    "alert_latency_p99_ms",
    "rss_start_mb",
    "rss_end_mb",
    "rss_growth_pct",
    "broker",
)
#: Keys whose value is text (the broker's label), not a figure.
TEXT_KEYS: frozenset[str] = frozenset({"broker"})


def median(values: Sequence[float]) -> float:
    """Return the median of ``values`` (NaN when empty)."""
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values`` by linear interpolation (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def _rounded(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 1)


def headline_json(figures: Mapping[str, float | str | None]) -> str:
    """Return the last line: one JSON object with exactly ``HEADLINE_KEYS``, numbers rounded to 0.1, null when missing.

    Extra figures in ``figures`` are left out; a missing or non-finite one is ``null``; the
    ``TEXT_KEYS`` (the broker, "apache-kafka 4.1.1") are strings, or ``null`` when missing.
    """
    line: dict[str, float | str | None] = {}
    for key in HEADLINE_KEYS:
        value = figures.get(key)
        if key in TEXT_KEYS:
            line[key] = str(value) if value is not None else None
        else:
            line[key] = _rounded(value if not isinstance(value, str) else None)
    return json.dumps(line, separators=(", ", ": "))


@dataclass
class Row:
    """One line of the table: a figure, its repetitions and a note."""

    name: str
    value: float | None
    unit: str
    reps: list[float] = field(default_factory=list)
    note: str = ""
    headline: str = ""  #: the JSON key this row feeds, if any


def _fmt(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if unit in ("ms", "MiB", "x", "µs", "%", "s"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def print_table(rows: Sequence[Row], *, title: str, header: Sequence[str] = ()) -> None:
    """Print the figures as a rich table (to stdout), preceded by ``header`` lines."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    for line in header:
        console.print(line, markup=False, highlight=False)
    table = Table(title=title, show_lines=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("repetitions", justify="right")
    table.add_column("note")
    for row in rows:
        reps = " ".join(_fmt(r, row.unit) for r in row.reps)
        table.add_row(row.name, _fmt(row.value, row.unit), row.unit, reps, row.note)
    console.print(table)
