"""The PNG of an alert's chart, drawn server-side with matplotlib's Agg backend.

matplotlib is imported by the first :func:`render_png` call, never at import time: a worker that
draws no chart, and the command line, do not load it. The figure is built with the object API
(``matplotlib.figure.Figure`` on an Agg canvas), so drawing touches no global pyplot state and
charts may be drawn from worker threads (:func:`render_png_async`).
"""

from __future__ import annotations

import asyncio
import io
from datetime import date
from typing import Any

from signal_monitor.charts.data import ChartData, NoChart, alert_chart
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.model import RuleSet
from signal_monitor.state.base import State

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.6, 100
LINE, BAND, LEVEL, FIRED, MARK, MUTED = "#2357a5", "#2357a533", "#c0392b", "#d0021b", "#f5a623", "#6b7380"


def render_png(data: ChartData) -> bytes:
    """Return the PNG of a chart: the series, its band and levels, the alerts marked, the fired point labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(f"{data.title}\n{data.scope_text} · {data.period_text(data.period)}", fontsize=10, loc="left")
    if not data.points:
        ax.text(0.5, 0.5, f"no points of {data.series}", ha="center", va="center", color=MUTED,
                transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        days = [d for d, _ in data.points]
        ax.plot(days, [v for _, v in data.points], color=LINE, linewidth=1.6, label=data.series, zorder=3)
        _band(ax, data)
        for level in data.levels:
            ax.axhline(level.value, color=LEVEL, linewidth=1, linestyle=(0, (4, 3)), zorder=2)
            ax.annotate(level.label, xy=(1.0, level.value), xycoords=("axes fraction", "data"),
                        xytext=(-4, 3), textcoords="offset points", ha="right", fontsize=8, color=LEVEL)
        others = [m for m in data.markers if not m.current]
        if others:
            ax.scatter([m.period for m in others], [m.value for m in others], s=28, color=MARK, zorder=4,
                       label="other alerts")
        if data.fired is not None:
            day, value = data.fired
            ax.scatter([day], [value], s=70, color=FIRED, edgecolors="white", linewidths=1.2, zorder=5,
                       label="fired")
            ax.annotate(f"{data.value_text(value)}", xy=(day, value), xytext=(0, 9), textcoords="offset points",
                        ha="center", fontsize=9, fontweight="bold", color=FIRED)
        locator = AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: data.value_text(v)))
        ax.grid(True, color="#e6e9ee", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8, colors=MUTED)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _band(ax: Any, data: ChartData) -> None:
    """Shade the percentile band (both bounds) or draw its one edge."""
    if not data.band:
        return
    days: list[date] = [b.period for b in data.band]
    lows, highs = [b.low for b in data.band], [b.high for b in data.band]
    if all(v is not None for v in lows + highs):
        ax.fill_between(days, lows, highs, color=BAND, linewidth=0, label=data.band_label, zorder=1)
        return
    edge = highs if highs[0] is not None else lows
    ax.plot(days, edge, color=LEVEL, linewidth=1, linestyle=(0, (2, 2)), label=data.band_label, zorder=2)


async def render_png_async(data: ChartData) -> bytes:
    """Draw the PNG in a worker thread, off the event loop."""
    return await asyncio.to_thread(render_png, data)


async def alert_png(state: State, rules: RuleSet | None, alert: Alert) -> bytes | None:
    """Return the PNG of an alert's chart, read from ``state``; None when the alert has no chart."""
    try:
        data = await alert_chart(state, rules, alert)
    except NoChart:
        return None
    return await render_png_async(data)
