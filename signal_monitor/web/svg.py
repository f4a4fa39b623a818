"""What the dashboard's SVG charts share: their width, how a coordinate is written, and the axes of a chart of
values by date (the scales, the value grid at round ticks, the date labels)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 760
E = html.escape


def num(v: float) -> str:
    """Write an SVG coordinate (one decimal)."""
    return f"{v:.1f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Return about ``n`` round values (steps of 1, 2, 2.5 or 5 times a power of ten) from ``lo`` to ``hi``."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


@dataclass(frozen=True)
class DateAxes:
    """The axes of a chart of values by date, ``WIDTH`` wide and ``height`` high within its margins."""

    left: int
    right: int
    top: int
    bottom: int
    height: int
    first: int  #: the first date's ordinal (the left edge)
    last: int  #: the last date's ordinal (the right edge; a day after the first when there is one date)
    lo: float  #: the lowest value drawn, less the padding (the bottom edge)
    hi: float  #: the highest value drawn, plus the padding (the top edge)

    @classmethod
    def fit(
        cls, dates: Sequence[date], values: Iterable[float], *, pad: float, height: int,
        left: int, right: int, top: int, bottom: int,
    ) -> DateAxes:
        """Fit the axes to ``dates`` (in order, at least one) and to every value drawn, with ``pad`` of the values'
        range above and below (5% of the value, else 1, when they are all one value)."""
        extent = list(values)
        lo, hi = min(extent), max(extent)
        room = (hi - lo) * pad or abs(hi) * 0.05 or 1.0
        first, last = dates[0].toordinal(), dates[-1].toordinal()
        return cls(left, right, top, bottom, height, first, last if last > first else first + 1, lo - room, hi + room)

    def x(self, d: date) -> float:
        """Return where ``d`` is across."""
        return self.left + (d.toordinal() - self.first) / (self.last - self.first) * (WIDTH - self.left - self.right)

    def y(self, v: float) -> float:
        """Return where the value ``v`` is down."""
        return self.top + (self.hi - v) / (self.hi - self.lo) * (self.height - self.top - self.bottom)

    def value_grid(self, label: Callable[[float], str]) -> list[str]:
        """Return a grid line at each round value of the range, with its ``label`` (escaped here) on the left."""
        parts = []
        for tick in nice_ticks(self.lo, self.hi):
            y = self.y(tick)
            parts.append(f'<line class="grid" x1="{self.left}" x2="{WIDTH - self.right}" y1="{num(y)}" '
                         f'y2="{num(y)}"/><text class="tick" x="{self.left - 6}" y="{num(y + 4)}" text-anchor="end">'
                         f'{E(label(tick))}</text>')
        return parts

    def date_labels(self, dates: Sequence[date], *, fmt: str, y: int) -> list[str]:
        """Return the labels (``fmt``) of about six of ``dates``, evenly picked, at the height ``y``."""
        step = max(1, len(dates) // 6)
        return [f'<text class="tick" x="{num(self.x(d))}" y="{y}" text-anchor="middle">{d:{fmt}}</text>'
                for d in dates[::step]]
