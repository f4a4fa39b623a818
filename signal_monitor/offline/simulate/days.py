"""What every generator shares: the trading days and weeks, one random stream per component, the funds."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta

from signal_monitor.exchange_calendar import close_time, hours, trading_days
from signal_monitor.offline.simulate.numeric import _bridged, _ou
from signal_monitor.offline.simulate.universe import FIRST_STREAM_DAY, GROUPS, HF, HISTORY_START, NOTE_WEEK
from signal_monitor.periods import EASTERN, week_of


def _eastern(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=EASTERN)


def _close(day: date) -> datetime:
    """Return the close of ``day``'s session (13:00 on an early close), 16:00 on a day without one."""
    return _eastern(day, close_time(day))


def _session_s(day: date) -> int:
    """Return the length of ``day``'s session in seconds (6.5 h on a regular day)."""
    found = hours(day)
    if found is None:
        return 0
    return int((_eastern(day, found[1]) - _eastern(day, found[0])) / timedelta(seconds=1))


def _iso(ts: datetime) -> str:
    return ts.isoformat()


class Days:
    """The trading days from HISTORY_START to the note's week, the weeks they make up, the streams, the funds."""

    def __init__(self, seed: int, vix_rows: list[list[str]]) -> None:
        self.seed = seed
        self.vix_rows = vix_rows
        self.days = trading_days(HISTORY_START, NOTE_WEEK)
        self.day_index = {d: i for i, d in enumerate(self.days)}
        self.weeks = sorted({week_of(d) for d in self.days})
        self.week_index = {w: i for i, w in enumerate(self.weeks)}
        self.week_last: dict[date, date] = {}
        for d in self.days:
            self.week_last[week_of(d)] = d
        self.stream_days = [d for d in self.days if d >= FIRST_STREAM_DAY]

    def rng(self, name: str) -> random.Random:
        """Return the random stream of one component (independent of the others)."""
        return random.Random(f"signal-monitor:{self.seed}:{name}")

    def funds(self) -> list[tuple[str, str, str, float, float, float]]:
        """Return (fund_id, fund_type, strategy, nav weight, long tilt, short tilt) of every fund."""
        rng = self.rng("funds")
        out = []
        for ft, strategy, count, *_ in GROUPS:
            prefix = "HF" if ft == HF else "LO"
            start = sum(1 for f in out if f[1] == ft)
            for j in range(count):
                out.append((f"{prefix}-{start + j + 1:03d}", ft, strategy, math.exp(rng.gauss(0.0, 0.8)),
                            math.exp(rng.gauss(0.0, 0.15)), math.exp(rng.gauss(0.0, 0.2))))
        return out

    # --- weekly -> daily ----------------------------------------------------------------
    def daily(self, weekly: Sequence[float], *, jitter: float = 0.0, rng: random.Random | None = None,
              log: bool = False) -> list[float]:
        """Interpolate weekly values (at each week's last trading day) to every trading day.

        ``jitter`` adds relative noise on the days between, kept within the two week ends.
        """
        out = []
        for d in self.days:
            w = self.week_index[week_of(d)]
            cur_day = self.week_last[self.weeks[w]]
            cur = weekly[w]
            if w == 0 or d == cur_day:
                out.append(cur)
                continue
            prev_day = self.week_last[self.weeks[w - 1]]
            prev = weekly[w - 1]
            frac = (self.day_index[d] - self.day_index[prev_day]) / (self.day_index[cur_day] - self.day_index[prev_day])
            if log:
                value = math.exp(math.log(prev) + frac * (math.log(cur) - math.log(prev)))
            else:
                value = prev + frac * (cur - prev)
            if jitter and rng is not None:
                lo, hi = min(prev, cur), max(prev, cur)
                value *= 1.0 + rng.gauss(0.0, jitter)
                span = hi - lo
                # a day between two week ends never reaches the higher one (no daily record by accident)
                value = min(max(value, lo - 0.5 * span - 1e-12), hi - 0.05 * span - 1e-9 * abs(hi))
            out.append(value)
        return out

    def weekly_path(self, rng: random.Random, anchors: Mapping[date, float], *, sd: float, theta: float) -> list[float]:
        xs = [float(w.toordinal()) for w in self.weeks]
        return _bridged(xs, {float(k.toordinal()): v for k, v in anchors.items()}, _ou(rng, len(xs), sd, theta))

    def window(self, values: Sequence[float], end: date, years: int) -> list[float]:
        """Return the weekly values of the ``years`` up to and including week ``end``."""
        start = end.replace(year=end.year - years)
        return [v for w, v in zip(self.weeks, values) if start < w <= end]
