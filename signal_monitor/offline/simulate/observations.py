"""Observations: the weekly CFTC positioning of leveraged funds in VIX futures."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from signal_monitor.offline.simulate.days import Days, _eastern, _iso
from signal_monitor.offline.simulate.universe import CFTC_SERIES, FIRST_STREAM_DAY

# --- the design of the note's weeks: CFTC --------------------------------------------------

#: CFTC reports (as of Tuesday): change of the net position against the week before, USD
CFTC_STEPS: dict[date, float] = {
    date(2025, 4, 22): 2.1e6, date(2025, 4, 29): -2.6e6, date(2025, 5, 6): -3.4e6,
    date(2025, 5, 13): -2.2e6, date(2025, 5, 20): -3.6e6, date(2025, 5, 27): -2.5e6,
}


class Observations(Days):
    """The CFTC series as of each Tuesday, seen by the desk the following Monday."""

    def build_cftc(self) -> None:
        rng = self.rng("cftc")
        first = date(2020, 6, 2)
        as_of = []
        d = first
        while d <= date(2025, 5, 27):
            as_of.append(d)
            d += timedelta(days=7)
        values, x = [], -18e6
        for d in as_of:
            if d in CFTC_STEPS:
                x = values[-1] + CFTC_STEPS[d]
            else:
                x = x + 0.12 * (-20e6 - x) + rng.gauss(0.0, 2.4e6)
            values.append(x)
        self.cftc = [(d, d + timedelta(days=6), round(v)) for d, v in zip(as_of, values)]

    # --- outputs -----------------------------------------------------------------------
    def observation_events(self) -> list[dict[str, Any]]:
        events = []
        for as_of, seen, value in self.cftc:
            if seen >= FIRST_STREAM_DAY:
                events.append({
                    "ts": _iso(_eastern(seen, time(8, 0))), "series": CFTC_SERIES, "value": float(value), "unit": "usd",
                    "tags": {"as_of": as_of.isoformat(), "source": "CFTC COT, VIX futures, leveraged funds net"},
                })
        return events
