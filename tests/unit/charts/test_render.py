"""The PNG of a chart: a real PNG of a plausible size, for each kind of figure a chart draws."""

from __future__ import annotations

import struct
import subprocess
import sys
from datetime import date, timedelta

from signal_monitor.charts.data import BandPoint, ChartData, Level, Marker
from signal_monitor.charts.render import DPI, HEIGHT_IN, WIDTH_IN, render_png

FRIDAY = date(2025, 6, 6)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_MAGIC and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_a_chart_with_levels_band_and_markers_is_a_png_of_the_figure_size() -> None:
    points = [(FRIDAY - timedelta(weeks=30 - i), 2.0 + 0.01 * i) for i in range(31)]
    data = ChartData(
        rule="gross_leverage_percentile", title="Gross leverage at an extreme percentile",
        series="gross_leverage:week|strategy=fundamental_long_short", scope={"strategy": "fundamental_long_short"},
        granularity="week", period=FRIDAY, unit="leverage", points=points, fired=points[-1],
        levels=[Level(2.2, "level 220%")], band=[BandPoint(d, 1.9, v - 0.01) for d, v in points],
        band_label="5th–95th percentile over 3 years",
        markers=[Marker(points[-5][0], points[-5][1], "alert"), Marker(FRIDAY, points[-1][1], "fired", current=True)],
    )
    png = render_png(data)
    assert _size(png) == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))
    assert len(png) > 15_000  # lines, a band, markers and labels: far more than a blank canvas
    blank = render_png(ChartData(rule="r", title="t", series="s:week", scope={}, granularity="week",
                                 period=FRIDAY, unit="number"))
    assert _size(blank) == _size(png) and len(blank) < len(png)


def test_one_sided_band_and_no_fired_point_still_draw() -> None:
    points = [(FRIDAY - timedelta(days=20 - i), 15.0 + i % 4) for i in range(21)]
    data = ChartData(rule="r", title="t", series="close:day|symbol=VIX", scope={"symbol": "VIX"}, granularity="day",
                     period=FRIDAY + timedelta(days=30), unit="price", points=points,
                     band=[BandPoint(d, None, 18.0) for d, _ in points], band_label="95th percentile over 1 year")
    assert render_png(data)[:8] == PNG_MAGIC


def test_importing_the_chart_modules_does_not_load_matplotlib() -> None:
    code = ("import sys, signal_monitor.charts.render, signal_monitor.cli, signal_monitor.web.dashboard;"
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
