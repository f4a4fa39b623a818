"""The dashboard without a server: its figures, SVG charts and page, and the rule thresholds it draws."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

from signal_monitor.config.settings import Settings
from signal_monitor.state.memory import MemoryState
from signal_monitor.web.dashboard import (
    FlowChart,
    LineChart,
    flow_chart,
    flows_svg,
    leverage_charts,
    line_svg,
    percentile,
    render_page,
    rolling_band,
    vix_chart,
    vix_thresholds,
)

FRIDAY = date(2025, 6, 6)


def test_percentile_interpolates_and_the_band_trails_three_years() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([1, 2], 25) == 1.25
    weeks = [(FRIDAY - timedelta(weeks=300 - i), float(i)) for i in range(301)]
    band = rolling_band(weeks, since=FRIDAY - timedelta(weeks=1), band=(0.0, 100.0))
    assert [d for d, _, _ in band] == [FRIDAY - timedelta(weeks=1), FRIDAY]
    _, low, high = band[-1]
    assert high == 300.0 and 300 - 157 <= low <= 300 - 155  # the window holds 3 years of weekly points


def test_flow_bars_hold_every_value_sorted_by_this_week() -> None:
    weeks = [FRIDAY - timedelta(weeks=1), FRIDAY]
    chart = FlowChart("hedge_fund", weeks, {"Energy": [1e9, -2e9], "Tech & <Co>": [None, 3.5e9]})
    svg = flows_svg(chart)
    bars = re.findall(r'data-week="([\d-]+)" data-value="([^"]+)"', svg)
    assert sorted(bars) == sorted([("2025-05-30", "1000000000.0"), ("2025-06-06", "-2000000000.0"),
                                   ("2025-06-06", "3500000000.0")])
    assert "Tech &amp; &lt;Co&gt;" in svg and "<Co>" not in svg
    assert svg.index("Tech &amp;") < svg.index('data-sector="Energy"')
    assert "-$2.00B" in svg and "$3.50B" in svg


def test_line_chart_draws_series_band_and_thresholds() -> None:
    points = [(FRIDAY - timedelta(days=i), 15.0 + i) for i in range(10, -1, -1)]
    svg = line_svg(LineChart("close:day|symbol=VIX", "VIX", "level", points, thresholds=[(17.0, "17"), (18.0, "18")]))
    assert 'data-count="11"' in svg and 'data-last-value="15.0"' in svg and 'data-last="2025-06-06"' in svg
    assert svg.count('class="threshold"') == 2 and svg.count("<path") == 1
    assert 'data-count="0"' in line_svg(LineChart("x:day", "X", "level"))


async def test_charts_read_the_series_from_the_state() -> None:
    state = MemoryState()
    for k, sector in enumerate(("Energy", "Industrials")):
        await state.put_series(f"net_buying:week|fund_type=hedge_fund|sector={sector}",
                               [(FRIDAY - timedelta(weeks=w), (k + 1) * 1e8 * (w + 1)) for w in range(6)])
    await state.put_series("net_buying:week|fund_type=long_only|sector=Energy", [(FRIDAY, 1.0)])
    await state.put_series("gross_leverage:week|strategy=fundamental_long_short",
                           [(FRIDAY - timedelta(weeks=w), 2.0 + w / 1000) for w in range(200)])
    await state.put_series("close:day|symbol=VIX", [(FRIDAY - timedelta(days=d), 20.0 - d / 100) for d in range(400)])
    flows = await flow_chart(state, weeks=4)
    assert flows.weeks == [FRIDAY - timedelta(weeks=w) for w in (3, 2, 1, 0)]
    assert flows.sectors == {"Energy": [4e8, 3e8, 2e8, 1e8], "Industrials": [8e8, 6e8, 4e8, 2e8]}
    gross, net = await leverage_charts(state, weeks=52)
    assert len(gross.points) == 52 and gross.points[-1] == (FRIDAY, 2.0) and len(gross.band) == 52
    assert net.points == [] and 'class="chart empty"' in line_svg(net)
    vix = await vix_chart(state, days=260)
    assert len(vix.points) == 260 and vix.points[-1] == (FRIDAY, 20.0)


def test_vix_thresholds_come_from_the_rule_file(tmp_path: Path) -> None:
    assert vix_thresholds(Settings()) == (17.0, 18.0)
    rules = tmp_path / "rules.yaml"
    rules.write_text("""version: 1
rules:
  - id: vix_below_20
    description: The VIX closed below 20.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: below, level: 20.0, rearm: 22.5}
""")
    assert vix_thresholds(Settings(rules_path=rules)) == (20.0, 22.5)
    assert vix_thresholds(Settings(rules_path=rules, rules_enabled=False)) == (17.0, 18.0)


def test_the_page_escapes_alert_text_and_links_its_assets() -> None:
    page = render_page(
        worker_id="w<1>", flows=FlowChart("hedge_fund"), leverage=[LineChart("gross_leverage:week|strategy=x", "G", "pct")],
        vix=LineChart("close:day|symbol=VIX", "VIX", "level", thresholds=[(17.0, "17")]),
        alerts=[{"rule": "r", "severity": "warning", "text": "<script>alert(1)</script>", "scope": {"symbol": "VIX"}}],
        status={"workers": []}, now=datetime(2025, 6, 6, 21, 0), refresh_s=10,
    )
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page and "w&lt;1&gt;" in page
    assert '/static/dashboard.js' in page and '/static/dashboard.css' in page
    assert '<a href="/notes">notes</a>' in page  # the week's notes (web/notes.py)
    for asset in ("dashboard.js", "dashboard.css"):
        assert (Path(__file__).resolve().parents[3] / "signal_monitor" / "web" / "static" / asset).is_file()


def test_the_page_marks_provisional_findings_superseded_or_withdrawn() -> None:
    alerts = [
        {"rule": "hf", "severity": "info", "text": "final", "provisional": False, "supersedes": "p1"},
        {"rule": "lo", "severity": "info", "text": "no longer", "provisional": True, "fired": False},
        {"rule": "hf", "severity": "info", "text": "on track", "provisional": True, "superseded_by": "abc"},
        {"rule": "nx", "severity": "info", "text": "on track too", "provisional": True},
    ]
    page = render_page(
        worker_id="w", flows=FlowChart("hedge_fund"), leverage=[], vix=LineChart("close:day|symbol=VIX", "VIX", "level"),
        alerts=alerts, status={"workers": []}, now=datetime(2025, 6, 6, 21, 0), refresh_s=10,
    )
    rows = re.findall(r'<tr class="alert ([^"]*)"[^>]*><td class="period">[^<]*</td><td>[^<]*</td><td>([^<]*)</td>', page)
    assert rows == [
        ("info", "info"),
        ("info provisional withdrawn", "info · provisional, withdrawn"),
        ("info provisional superseded", "info · provisional, superseded"),
        ("info provisional", "info · provisional"),
    ]
