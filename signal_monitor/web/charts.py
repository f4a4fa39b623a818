"""The dashboard's charts of alerts: an interactive SVG per recent alert, a chart page and its PNG.

* ``/charts/<dedup_key>``: the page of one alert's chart; ``/charts/<dedup_key>.png``: its PNG
  (matplotlib, :mod:`signal_monitor.charts.render`). The alert is looked up among the recent alerts;
  the query ``rule``, ``period`` (ISO date) and ``scope`` (``k=v|k=v``) name it when it has left them
  (the links the Slack messages carry have both).
* ``/api/charts/<dedup_key>``: the chart's data as JSON (:meth:`ChartData.to_json`).
* the page ``/`` shows the chart of each of the newest alerts that have one (``CHARTS_ON_PAGE``).

Both pictures draw what :func:`signal_monitor.charts.data.chart_data` returns. The SVG carries every
figure already formatted (``data-label``, ``data-text``); ``static/alert_charts.js`` shows them in a
tooltip as the pointer moves over a chart and prints no number of its own.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signal_monitor.charts.data import ChartData, NoChart, alert_chart, chart_data
from signal_monitor.format import fmt_period
from signal_monitor.series import parse_scope_key, scope_key
from signal_monitor.status.recent_alerts import RECENT_ALERTS_MAX
from signal_monitor.web.svg import WIDTH, DateAxes, num

if TYPE_CHECKING:
    from signal_monitor.rules.model import RuleSet
    from signal_monitor.web.dashboard import Dashboard

log = logging.getLogger(__name__)
#: Rule files read for charts by workers that run no rules, by path.
_FILE_RULES: dict[Path, RuleSet] = {}

E = html.escape
#: Charts of the newest alerts on the page.
CHARTS_ON_PAGE = 12
HEIGHT = 240
PNG_CACHE = "private, max-age=300"


def period_text(record: Mapping[str, Any]) -> str:
    """Return the period an alert record is of (``week ending 2025-06-06``), "" when it names none."""
    end, granularity = record.get("period_end"), record.get("granularity")
    try:
        return fmt_period(date.fromisoformat(str(end)), str(granularity)) if end else ""
    except ValueError:
        return ""


# --- the SVG ---------------------------------------------------------------------------------------


def alert_svg(data: ChartData, *, key: str = "") -> str:
    """Return the interactive SVG of a chart: series, band, levels, markers and one hover target per point."""
    left, right, top, bottom = 70, 16, 14, 28
    head = (f'<svg class="chart alert-chart" data-key="{E(key)}" data-rule="{E(data.rule)}" '
            f'data-count="{len(data.points)}" width="{WIDTH}" ')
    if not data.points:
        return (head + f'height="60" viewBox="0 0 {WIDTH} 60" role="img"><text x="12" y="34" class="nodata">'
                f'no points of {E(data.series)}</text></svg>')
    dates = [d for d, _ in data.points]
    extent = [v for _, v in data.points] + [lv.value for lv in data.levels]
    extent += [e for b in data.band for e in (b.low, b.high) if e is not None]
    axes = DateAxes.fit(dates, extent, pad=0.08, height=HEIGHT, left=left, right=right, top=top, bottom=bottom)
    sx, sy = axes.x, axes.y
    parts = [head + f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{E(data.title)}, {E(data.period_text(data.period))}">']
    parts += axes.value_grid(data.value_text)
    parts += axes.date_labels(dates, fmt="%Y-%m-%d", y=HEIGHT - 8)
    if data.band:
        both = [(b.period, b.low, b.high) for b in data.band if b.low is not None and b.high is not None]
        if both:
            upper = " ".join(f"{num(sx(d))},{num(sy(h))}" for d, _, h in both)
            lower = " ".join(f"{num(sx(d))},{num(sy(lo_))}" for d, lo_, _ in reversed(both))
            parts.append(f'<polygon class="pct-band" points="{upper} {lower}"><title>{E(data.band_label)}</title>'
                         f'</polygon>')
        else:
            edges = [(b.period, b.high if b.high is not None else b.low) for b in data.band]
            edge = " ".join(f"{num(sx(d))},{num(sy(e))}" for d, e in edges if e is not None)
            parts.append(f'<polyline class="pct-edge" points="{edge}"><title>{E(data.band_label)}</title></polyline>')
    for level in data.levels:
        y = sy(level.value)
        parts.append(f'<line class="level" data-value="{level.value!r}" x1="{left}" x2="{WIDTH - right}" '
                     f'y1="{num(y)}" y2="{num(y)}"/><text class="level-label" x="{WIDTH - right - 4}" '
                     f'y="{num(y - 4)}" text-anchor="end">{E(level.label)}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{num(sx(d))},{num(sy(v))}" for i, (d, v) in enumerate(data.points))
    parts.append(f'<path class="alert-line" d="{path}"/>')
    for m in data.markers:
        cls = "marker current" if m.current else "marker"
        parts.append(f'<circle class="{cls}" data-period="{m.period}" cx="{num(sx(m.period))}" '
                     f'cy="{num(sy(m.value))}" r="{5 if m.current else 4}"/>')
    alerts = {m.period: m.label for m in data.markers}
    band = {b.period: b for b in data.band}
    parts.append('<g class="points">')
    for d, v in data.points:
        extra = f' data-alert="{E(alerts[d])}"' if d in alerts else ""
        b = band.get(d)
        if b is not None:
            edges = " – ".join(data.value_text(e) for e in (b.low, b.high) if e is not None)
            extra += f' data-band="{E(data.band_label)}: {E(edges)}"'
        parts.append(f'<circle class="pt" data-period="{d}" data-label="{E(data.period_text(d))}" '
                     f'data-value="{v!r}" data-text="{E(data.value_text(v))}"{extra} cx="{num(sx(d))}" '
                     f'cy="{num(sy(v))}" r="3"/>')
    parts.append("</g></svg>")
    return "".join(parts)


def figure_html(data: ChartData, *, key: str) -> str:
    """Return a chart as a figure: caption (title, scope, period, a link to the PNG), SVG, a tooltip."""
    png = f"/charts/{E(key)}.png" if key else ""
    link = f' · <a class="png" href="{png}">PNG</a>' if png else ""
    return (f'<figure class="alert-chart" id="chart-{E(key)}" data-key="{E(key)}">'
            f'<figcaption><b>{E(data.title)}</b> · {E(data.scope_text)} · '
            f'<span class="period">{E(data.period_text(data.period))}</span>{link}</figcaption>'
            f'{alert_svg(data, key=key)}<div class="chart-tip" hidden></div></figure>')


def charts_section(figures: Sequence[str]) -> str:
    """Return the page's section of alert charts."""
    body = "".join(figures) or '<p class="none">no alert with a chart yet</p>'
    return f'<section id="alert-charts"><h2>Alert charts · hover a point for its value</h2>{body}</section>'


def chart_page(data: ChartData, *, key: str) -> str:
    """Return the page of one alert's chart."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{E(data.title)} · {E(data.period_text(data.period))}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
<link rel="stylesheet" href="/static/alert_charts.css">
<script src="/static/alert_charts.js" defer></script></head>
<body data-ready="1"><header><h1><a href="/">Signal monitor</a></h1>
<span class="meta">rule {E(data.rule)}</span></header>
<main>{figure_html(data, key=key)}</main></body></html>
"""


# --- finding the alert -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The alert a chart is asked for: its record when known, else its rule, scope and period."""

    rule: str
    scope: dict[str, str]
    period: date
    record: Mapping[str, Any] | None = None


class BadChartRequest(ValueError):
    """A chart request whose query does not name a rule, a period and a scope."""


def target_of(key: str, alerts: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> Target | None:
    """Return the alert ``key`` names among ``alerts``, else the one the query names (None: neither)."""
    for record in alerts:
        if record.get("dedup_key") == key:
            try:
                return Target(str(record["rule"]), dict(record.get("scope") or {}),
                              date.fromisoformat(str(record["period_end"])), record)
            except (KeyError, ValueError):
                return None
    if not query.get("rule") and not query.get("period"):
        return None
    try:
        period = date.fromisoformat(query.get("period", ""))
    except ValueError:
        raise BadChartRequest(f"period must be an ISO date (2025-06-06), not {query.get('period', '')!r}") from None
    try:
        scope = parse_scope_key(query.get("scope", ""))
    except ValueError:
        raise BadChartRequest(f"scope must read k=v|k=v, not {query.get('scope', '')!r}") from None
    if not query.get("rule"):
        raise BadChartRequest("name the rule (?rule=...) with the period")
    return Target(query["rule"], scope, period)


def _others(target: Target, alerts: Sequence[Mapping[str, Any]]) -> list[date]:
    """Return the periods of the recent alerts of the same rule and scope (markers on its chart)."""
    out = []
    key = scope_key(target.scope)
    for record in alerts:
        same = record.get("rule") == target.rule and scope_key(record.get("scope") or {}) == key
        if same and record.get("fired", True):
            try:
                out.append(date.fromisoformat(str(record.get("period_end"))))
            except ValueError:
                continue
    return out


class AlertCharts:
    """Reads the charts of the dashboard's alerts: the rule set, the state store and the recent alerts."""

    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def rules(self) -> RuleSet:
        """Return the worker's rule set; a worker that runs no rules reads the rule file (SM_RULES_PATH) once."""
        if self.dash.context.rules is not None:
            return self.dash.context.rules
        path = self.dash.options.rules_path
        if path is None:
            raise NoChart("this worker runs no rules and knows no rule file")
        cached = _FILE_RULES.get(path)
        if cached is None:
            from signal_monitor.rules.model import load_rules

            try:
                cached = _FILE_RULES[path] = load_rules(path)
            except Exception as exc:  # the page still renders, without charts
                raise NoChart(f"cannot read the rule file {path}: {exc}") from None
        return cached

    async def data(self, target: Target, alerts: Sequence[Mapping[str, Any]]) -> ChartData:
        """Return the chart of ``target`` with the other recent alerts of its rule and scope marked."""
        rules = self.rules()
        others = _others(target, alerts)
        if target.record is not None:
            return await alert_chart(self.dash.state, rules, target.record, others=others)
        try:
            rule = rules.get(target.rule)
        except KeyError:
            raise NoChart(f"rule {target.rule} is not in the rule set") from None
        return await chart_data(self.dash.state, rule, target.scope, target.period, others=others)

    async def section(self, alerts: Sequence[Mapping[str, Any]]) -> str:
        """Return the page's section: the chart of each of the newest ``CHARTS_ON_PAGE`` alerts that have one."""
        figures: list[str] = []
        seen: set[str] = set()
        for record in alerts:
            key = str(record.get("dedup_key", ""))
            if len(figures) >= CHARTS_ON_PAGE or not key or key in seen or not record.get("fired", True):
                continue
            seen.add(key)
            target = target_of(key, [record], {})
            if target is None:
                continue
            try:
                figures.append(figure_html(await self.data(target, alerts), key=key))
            except NoChart:
                continue
            except Exception as exc:  # one alert's chart never takes the page down
                log.warning("dashboard: cannot chart alert %s: %s: %s", key, type(exc).__name__, exc)
        return charts_section(figures)


def install_charts(app: Any, dash: Dashboard) -> None:
    """Register ``/charts/<key>`` (page, or ``.png``) and ``/api/charts/<key>`` of ``dash`` on the app."""
    charts = AlertCharts(dash)

    async def _find(self: Any, request: Any, key: str) -> tuple[ChartData | None, Any]:
        """Return the chart of ``key`` (or an error response)."""
        alerts = await dash.alerts(limit=RECENT_ALERTS_MAX)
        try:
            target = target_of(key, alerts, request.query)
        except BadChartRequest as exc:
            return None, self.text(f"{exc}\n", status=400)
        if target is None:
            return None, self.text(f"no recent alert has the key {key}: give ?rule=&period=&scope= to chart it\n",
                                   status=404)
        try:
            return await charts.data(target, alerts), None
        except NoChart as exc:
            return None, self.text(f"no chart: {exc}\n", status=404)

    async def chart(self: Any, request: Any, name: str) -> Any:
        """Serve the chart page of an alert, or its PNG (``<key>.png``)."""
        key, png = (name[:-4], True) if name.endswith(".png") else (name, False)
        data, error = await _find(self, request, key)
        if data is None:
            return error
        if png:
            from signal_monitor.charts.render import render_png_async

            return self.bytes(await render_png_async(data), content_type="image/png",
                              headers={"Cache-Control": PNG_CACHE})
        return self.html(chart_page(data, key=key), headers={"Cache-Control": "no-store"})

    async def api_chart(self: Any, request: Any, key: str) -> Any:
        """Serve the chart data of an alert as JSON, every figure formatted beside it."""
        data, error = await _find(self, request, key)
        if data is None:
            return error
        return self.json({"key": key, **data.to_json()})

    app.page("/charts/{name}", name="sm_chart")(chart)
    app.page("/api/charts/{key}", name="sm_api_chart")(api_chart)
