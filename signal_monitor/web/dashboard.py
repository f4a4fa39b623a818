"""The read-only dashboard: server-rendered SVG charts of the series in Redis, the recent alerts and
the workers' status, served by the worker's web server.

* ``/``: the page. Charts are drawn here (no chart library): this week's and the
  previous weeks' net buying by sector, gross and net leverage with their rolling
  3-year 5th-95th percentile band, the VIX with the thresholds of its
  ``threshold_cross`` rule (17 / 18 by default). ``static/dashboard.js`` refreshes
  the alerts and the workers' table from the JSON endpoints.
* ``/charts/<dedup_key>`` (and ``.png``), ``/api/charts/<dedup_key>``: the alerts' charts
  (:mod:`signal_monitor.web.charts`); the page shows those of the newest alerts.
* ``/api/flows``, ``/api/leverage``, ``/api/vix``, ``/api/alerts``, ``/api/status``:
  the same data as JSON.
* ``/notes``, ``/notes/<week>``: the week's notes (:mod:`signal_monitor.web.notes`).

The recent alerts are read from their capped Redis list
(:mod:`signal_monitor.status.recent_alerts`).
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signal_monitor.config.settings import Settings
from signal_monitor.format import fmt_money, fmt_percent, fmt_price
from signal_monitor.series import series_id
from signal_monitor.state.base import Point, State
from signal_monitor.status.recent_alerts import RECENT_ALERTS_MAX, mark_superseded, recent_alerts
from signal_monitor.web.notes import install_notes
from signal_monitor.web.svg import WIDTH, DateAxes, num

if TYPE_CHECKING:
    from signal_monitor.rules.model import RuleSet
    from signal_monitor.status.publisher import StatusPublisher
    from signal_monitor.status.reader import StatusSnapshot
    from signal_monitor.worker import WorkerContext

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
#: The percentile band drawn around leverage (the default ``gross_leverage_percentile`` rule's bounds).
BAND = (5.0, 95.0)
BAND_YEARS = 3
DEFAULT_VIX_THRESHOLDS = (17.0, 18.0)


# --- figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values`` by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rolling_band(points: Sequence[Point], *, since: date, years: int = BAND_YEARS,
                 band: tuple[float, float] = BAND) -> list[tuple[date, float, float]]:
    """Return (period, low, high) for each point from ``since``: percentiles over the trailing ``years``."""
    out = []
    for i, (day, _) in enumerate(points):
        if day < since:
            continue
        start = day - timedelta(days=365 * years + years // 4)
        window = [v for d, v in points[: i + 1] if d > start]
        out.append((day, percentile(window, band[0]), percentile(window, band[1])))
    return out


@dataclass
class FlowChart:
    """Net buying by sector over the latest weeks (oldest first)."""

    fund_type: str
    weeks: list[date] = field(default_factory=list)
    sectors: dict[str, list[float | None]] = field(default_factory=dict)


@dataclass
class LineChart:
    """A series over time with an optional percentile band and horizontal thresholds."""

    series: str
    title: str
    unit: str  # "pct" (a fraction shown as %), "level"
    points: list[Point] = field(default_factory=list)
    band: list[tuple[date, float, float]] = field(default_factory=list)
    thresholds: list[tuple[float, str]] = field(default_factory=list)


async def flow_chart(state: State, *, fund_type: str = "hedge_fund", weeks: int = 4) -> FlowChart:
    """Return the net buying of each sector over the latest ``weeks`` weeks with data."""
    head = series_id("net_buying", "week", {"fund_type": fund_type}) + "|sector="
    ids = await state.series_ids(head)
    histories = {sid[len(head):]: await state.history(sid) for sid in ids}
    periods = sorted({d for pts in histories.values() for d, _ in pts})[-weeks:]
    chart = FlowChart(fund_type=fund_type, weeks=periods)
    for sector, pts in sorted(histories.items()):
        by_day = dict(pts)
        chart.sectors[sector] = [by_day.get(w) for w in periods]
    return chart


async def leverage_charts(state: State, *, strategy: str = "fundamental_long_short", weeks: int = 104) -> list[LineChart]:
    """Return gross and net leverage of a strategy over ``weeks`` weeks, with their rolling 3-year band."""
    charts = []
    for metric, title in (("gross_leverage", "Gross leverage"), ("net_leverage", "Net leverage")):
        sid = series_id(metric, "week", {"strategy": strategy})
        points = await state.history(sid)
        if not points:
            charts.append(LineChart(series=sid, title=title, unit="pct"))
            continue
        since = points[-1][0] - timedelta(weeks=weeks - 1)
        shown = [(d, v) for d, v in points if d >= since]
        charts.append(LineChart(series=sid, title=title, unit="pct", points=shown,
                                band=rolling_band(points, since=since)))
    return charts


async def vix_chart(state: State, *, days: int = 260, thresholds: Sequence[float] = DEFAULT_VIX_THRESHOLDS) -> LineChart:
    """Return the VIX daily closes of the latest ``days`` trading days with the alert thresholds."""
    sid = series_id("close", "day", {"symbol": "VIX"})
    points = (await state.history(sid))[-days:]
    lines = [(t, f"{t:g}") for t in thresholds]
    return LineChart(series=sid, title="VIX close", unit="level", points=points, thresholds=lines)


def vix_thresholds(settings: Settings, rules: RuleSet | None = None) -> tuple[float, ...]:
    """Return the level and re-arm of the rule set's VIX threshold-crossing rule (17 / 18 when none).

    ``rules``: the worker's parsed rule set; when not given, ``settings.rules_path`` is parsed.
    """
    if not settings.rules_enabled:
        return DEFAULT_VIX_THRESHOLDS
    if rules is None:
        try:
            from signal_monitor.rules.model import load_rules

            rules = load_rules(settings.rules_path)
        except Exception as exc:  # the dashboard still draws with the defaults
            log.warning("dashboard: cannot read the VIX thresholds from the rules: %s", exc)
            return DEFAULT_VIX_THRESHOLDS
    return rule_vix_thresholds(rules)


def rule_vix_thresholds(rules: RuleSet | None) -> tuple[float, ...]:
    """Return the level and re-arm of the VIX threshold-crossing rule of ``rules`` (17 / 18 when none, or no rules)."""
    if rules is None:
        return DEFAULT_VIX_THRESHOLDS
    try:
        for rule in rules:
            if rule.scope.get("symbol") == "VIX" and rule.metric == "close":
                for check in rule.checks:
                    level, rearm = getattr(check.params, "level", None), getattr(check.params, "rearm", None)
                    if check.kind == "threshold_cross" and level is not None and rearm is not None:
                        return (float(level), float(rearm))
    except Exception as exc:  # the dashboard still draws with the defaults
        log.warning("dashboard: cannot read the VIX thresholds from the rules: %s", exc)
    return DEFAULT_VIX_THRESHOLDS


# --- SVG -----------------------------------------------------------------------------------------

E = html.escape

def _fmt(value: float, unit: str) -> str:
    """Format a chart figure with the one formatter (the alerts' texts and figures use it too)."""
    if unit == "pct":
        return fmt_percent(value)
    if unit == "usd":
        return fmt_money(value)
    return fmt_price(value)


def line_svg(chart: LineChart, *, height: int = 230) -> str:
    """Return an SVG line chart of ``chart``: the series, its band, its thresholds, axes and a last-point marker."""
    left, right, top, bottom = 64, 16, 14, 30
    if not chart.points:
        return (f'<svg class="chart empty" data-series="{E(chart.series)}" data-count="0" width="{WIDTH}" height="60" '
                f'viewBox="0 0 {WIDTH} 60" role="img"><text x="12" y="34" class="nodata">no data for '
                f'{E(chart.series)}</text></svg>')
    dates = [d for d, _ in chart.points]
    values = [v for _, v in chart.points]
    extent = values + [b for _, lo, hi in chart.band for b in (lo, hi)] + [t for t, _ in chart.thresholds]
    axes = DateAxes.fit(dates, extent, pad=0.06, height=height, left=left, right=right, top=top, bottom=bottom)
    sx, sy = axes.x, axes.y
    parts = [f'<svg class="chart line" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{E(chart.title)}">']
    parts += axes.value_grid(lambda tick: _fmt(tick, chart.unit))
    parts += axes.date_labels(dates, fmt="%Y-%m", y=height - 10)
    if chart.band:
        upper = " ".join(f"{num(sx(d))},{num(sy(h))}" for d, _, h in chart.band)
        lower = " ".join(f"{num(sx(d))},{num(sy(lo_))}" for d, lo_, _ in reversed(chart.band))
        last_d, last_lo, last_hi = chart.band[-1]
        parts.append(f'<polygon class="band" points="{upper} {lower}" data-low="{last_lo!r}" data-high="{last_hi!r}">'
                     f'<title>{BAND[0]:g}th-{BAND[1]:g}th percentile over {BAND_YEARS} years: '
                     f'{E(_fmt(last_lo, chart.unit))} - {E(_fmt(last_hi, chart.unit))} on {last_d}</title></polygon>')
    for value, label in chart.thresholds:
        y = sy(value)
        parts.append(f'<line class="threshold" data-value="{value!r}" x1="{left}" x2="{WIDTH - right}" y1="{num(y)}" '
                     f'y2="{num(y)}"/><text class="threshold-label" x="{WIDTH - right - 4}" y="{num(y - 4)}" '
                     f'text-anchor="end">{E(label)}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{num(sx(d))},{num(sy(v))}" for i, (d, v) in enumerate(chart.points))
    last_d, last_v = chart.points[-1]
    parts.append(
        f'<g class="series" data-series="{E(chart.series)}" data-count="{len(chart.points)}" '
        f'data-first="{chart.points[0][0]}" data-last="{last_d}" data-last-value="{last_v!r}" '
        f'data-min="{min(values)!r}" data-max="{max(values)!r}"><path class="line" d="{path}"/>'
        f'<circle class="last" cx="{num(sx(last_d))}" cy="{num(sy(last_v))}" r="3.5">'
        f'<title>{last_d}: {E(_fmt(last_v, chart.unit))}</title></circle></g>'
    )
    parts.append(f'<text class="last-label" x="{left + 4}" y="{top + 12}">{E(chart.title)} {last_d}: '
                 f'{E(_fmt(last_v, chart.unit))}</text></svg>')
    return "".join(parts)


def flows_svg(chart: FlowChart) -> str:
    """Return an SVG of net buying by sector: one bar per week, this week's in colour, sorted by this week."""
    if not chart.weeks or not chart.sectors:
        return (f'<svg class="chart empty" data-count="0" width="{WIDTH}" height="60" viewBox="0 0 {WIDTH} 60" role="img">'
                f'<text x="12" y="34" class="nodata">no net buying series for fund_type={E(chart.fund_type)}</text></svg>')
    label_w, right, row_h, bar_h, top = 190, 90, 8 + 7 * len(chart.weeks), 6, 26
    rows = sorted(chart.sectors.items(), key=lambda kv: -(kv[1][-1] if kv[1][-1] is not None else -math.inf))
    height = top + row_h * len(rows) + 10
    biggest = max((abs(v) for vals in chart.sectors.values() for v in vals if v is not None), default=1.0) or 1.0
    zero = label_w + (WIDTH - label_w - right) / 2
    half = (WIDTH - label_w - right) / 2
    parts = [f'<svg class="chart bars" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="net buying by sector" data-weeks="{" ".join(w.isoformat() for w in chart.weeks)}">']
    n = len(chart.weeks)
    for i, week in enumerate(chart.weeks):
        lx = label_w + i * 150
        cls = "this-week" if i == n - 1 else f"week-{n - 1 - i}"
        parts.append(f'<rect class="legend {cls}" x="{lx}" y="6" width="10" height="10"/>'
                     f'<text class="legend-label" x="{lx + 14}" y="15">{week}{" (latest)" if i == n - 1 else ""}</text>')
    parts.append(f'<line class="zero" x1="{num(zero)}" x2="{num(zero)}" y1="{top - 4}" y2="{height - 6}"/>')
    for r, (sector, values) in enumerate(rows):
        y0 = top + r * row_h
        parts.append(f'<g class="sector" data-sector="{E(sector)}"><text class="sector-label" x="{label_w - 8}" '
                     f'y="{num(y0 + row_h / 2 + 4)}" text-anchor="end">{E(sector)}</text>')
        for i, (week, value) in enumerate(zip(chart.weeks, values, strict=True)):
            if value is None:
                continue
            w = abs(value) / biggest * half
            x = zero if value >= 0 else zero - w
            y = y0 + 4 + i * 7
            latest = i == n - 1
            cls = ("this-week " + ("pos" if value >= 0 else "neg")) if latest else f"week-{n - 1 - i}"
            parts.append(f'<rect class="bar {cls}" data-week="{week}" data-value="{value!r}" x="{num(x)}" y="{y}" '
                         f'width="{num(max(w, 0.5))}" height="{bar_h}"><title>{E(sector)}, week ending {week}: '
                         f'{E(_fmt(value, "usd"))}</title></rect>')
            if latest:
                tx = zero + w + 4 if value >= 0 else zero - w - 4
                anchor = "start" if value >= 0 else "end"
                parts.append(f'<text class="value" x="{num(tx)}" y="{y + bar_h}" text-anchor="{anchor}">'
                             f'{E(_fmt(value, "usd"))}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# --- the page ------------------------------------------------------------------------------------


def _alert_rows(alerts: Sequence[Mapping[str, Any]]) -> str:
    from signal_monitor.web.charts import period_text

    if not alerts:
        return '<tr class="none"><td colspan="6">no alerts yet</td></tr>'
    rows = []
    for a in alerts:
        scope = ", ".join(f"{k}={v}" for k, v in (a.get("scope") or {}).items())
        kind, marker = alert_marker(a)
        rows.append(
            f'<tr class="alert {E(str(a.get("severity", "")))}{kind}" data-rule="{E(str(a.get("rule", "")))}">'
            f'<td class="period">{E(period_text(a))}</td>'
            f'<td>{E(str(a.get("fired_at", "")))[:19]}</td><td>{E(str(a.get("severity", "")))}{E(marker)}</td>'
            f'<td>{E(str(a.get("rule", "")))}</td><td>{E(scope)}</td><td>{E(str(a.get("text", "")))}</td></tr>'
        )
    return "".join(rows)


def alert_marker(alert: Mapping[str, Any]) -> tuple[str, str]:
    """Return the extra row classes and the label after the severity of a recent alert (its provisional state)."""
    if not alert.get("provisional"):
        return "", ""
    if not alert.get("fired", True):
        return " provisional withdrawn", " · provisional, withdrawn"
    if alert.get("superseded_by"):
        return " provisional superseded", " · provisional, superseded"
    return " provisional", " · provisional"


def _worker_rows(status: Mapping[str, Any]) -> str:
    workers = status.get("workers") or []
    if not workers:
        return '<tr class="none"><td colspan="7">no status record yet</td></tr>'
    rows = []
    for w in workers:
        rec = w["record"]
        flags = w.get("flags") or []
        state = "stale" if w.get("stale") else ("flagged" if flags else "ok")
        lag = sum(p["lag"] for p in rec.get("lag", []) if p.get("lag") is not None)
        rate = sum(t.get("events_per_s", 0.0) for t in rec.get("topics", {}).values())
        events = sum(t.get("events", 0) for t in rec.get("topics", {}).values())
        redis = rec.get("redis", {})
        rows.append(
            f'<tr class="worker {state}" data-worker="{E(rec["worker_id"])}" data-events="{events}">'
            f'<td>{E(rec["worker_id"])}</td><td>{E(rec.get("published", ""))[:19]}</td>'
            f'<td>{len(rec.get("partitions", []))}</td><td>{lag}</td><td>{rate:.1f}</td>'
            f'<td>{"%.1f ms" % redis["rtt_ms"] if redis.get("ok") and redis.get("rtt_ms") is not None else "down"}</td>'
            f'<td>{E("; ".join(f["text"] for f in flags) or "ok")}</td></tr>'
        )
    return "".join(rows)


def render_page(
    *,
    worker_id: str,
    flows: FlowChart,
    leverage: Sequence[LineChart],
    vix: LineChart,
    alerts: Sequence[Mapping[str, Any]],
    status: Mapping[str, Any],
    now: datetime,
    refresh_s: float,
    alert_charts: str = "",
) -> str:
    """Return the dashboard's HTML; ``alert_charts``: the section of the alerts' charts (``web.charts``)."""
    fund = flows.fund_type.replace("_", " ")
    latest = flows.weeks[-1].isoformat() if flows.weeks else "-"
    before = max(0, len(flows.weeks) - 1)
    lev = "".join(f"<figure>{line_svg(c)}</figure>" for c in leverage)
    lev_scope = leverage[0].series.split("|", 1)[-1] if leverage else ""
    band = f"{BAND[0]:g}th-{BAND[1]:g}th percentile over {BAND_YEARS} years"
    thresholds = " / ".join(label for _, label in vix.thresholds)
    alert_head = "".join(f"<th>{h}</th>" for h in ("period", "fired", "severity", "rule", "scope", "text"))
    worker_head = "".join(f"<th>{h}</th>" for h in ("worker", "last record", "partitions", "lag", "events/s", "Redis", "flags"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>signal monitor</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
<link rel="stylesheet" href="/static/alert_charts.css">
<script src="/static/dashboard.js" defer></script>
<script src="/static/alert_charts.js" defer></script></head>
<body data-refresh-s="{refresh_s:g}" data-ready="0">
<header><h1>Signal monitor</h1><nav><a href="/notes">notes</a></nav>
<span class="meta">worker {E(worker_id)} · rendered {now:%Y-%m-%d %H:%M:%S} UTC</span></header>
<main>
<section id="flows"><h2>Net buying by sector · {E(fund)} · week ending {latest} and the {before} weeks before</h2>
{flows_svg(flows)}</section>
<section id="leverage"><h2>Leverage · {E(lev_scope)} · band: {band}</h2>
{lev}</section>
<section id="vix"><h2>VIX close · thresholds {E(thresholds)}</h2>{line_svg(vix)}</section>
<section id="alerts"><h2>Recent alerts</h2><table><thead><tr>{alert_head}</tr></thead>
<tbody id="alerts-body">{_alert_rows(alerts)}</tbody></table></section>
{alert_charts}
<section id="workers"><h2>Workers</h2><table><thead><tr>{worker_head}</tr></thead>
<tbody id="workers-body">{_worker_rows(status)}</tbody></table></section>
</main></body></html>
"""


# --- serving -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DashboardOptions:
    """What the dashboard needs of the settings."""

    key_prefix: str  #: SM_KEY_PREFIX, where the recent-alerts list is
    status_interval_s: float  #: SM_STATUS_INTERVAL_S: how often workers publish, so how often the page refreshes
    #: SM_RULES_PATH: the rules the alerts' charts are drawn by when this worker runs none (SM_RULES_ENABLED false)
    rules_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DashboardOptions:
        """Return the options of ``settings``."""
        return cls(key_prefix=settings.key_prefix, status_interval_s=settings.status_interval_s,
                   rules_path=settings.rules_path)


#: Reads the status topic to its current end (``status.reader.read_status`` of the worker's settings).
StatusSource = Callable[[], "StatusSnapshot"]


class Dashboard:
    """Reads what the page shows: series and alerts from Redis, the workers' status from the status topic."""

    def __init__(
        self,
        context: WorkerContext,
        *,
        options: DashboardOptions,
        read_status: StatusSource,
        publisher: StatusPublisher | None = None,
        status_ttl_s: float | None = None,
    ) -> None:
        self.context = context
        self.options = options
        self.read_status = read_status
        self.publisher = publisher
        self.state: State = context.state
        self.thresholds = rule_vix_thresholds(context.rules)
        self.status_ttl_s = status_ttl_s if status_ttl_s is not None else max(1.0, options.status_interval_s / 2)
        self._status: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return the recent alerts (none when the store has no list)."""
        client = getattr(self.state, "client", None)
        if client is None:
            return []
        return mark_superseded(await recent_alerts(client, self.options.key_prefix, limit=limit))

    async def status(self) -> dict[str, Any]:
        """Return the assessed status of every worker, read from the status topic at most every ``status_ttl_s``."""
        from signal_monitor.status.reader import StatusSnapshot
        from signal_monitor.status.view import as_json, assess

        async with self._lock:
            now = time.monotonic()
            if self._status is not None and now - self._status[0] < self.status_ttl_s:
                return self._status[1]
            try:
                snap = await asyncio.to_thread(self.read_status)
            except Exception as exc:  # show this worker's own record at least
                log.warning("dashboard: cannot read the status topic: %s", exc)
                snap = StatusSnapshot()
            own = self.publisher.last if self.publisher is not None else None
            if own is not None and own.worker_id not in snap.latest:
                snap.latest[own.worker_id] = own
            value = as_json(assess(snap))
            self._status = (now, value)
            return value

    async def page(self, *, fund_type: str = "hedge_fund", strategy: str = "fundamental_long_short") -> str:
        """Return the page's HTML."""
        from signal_monitor.web.charts import AlertCharts

        alerts = await self.alerts()
        return render_page(
            worker_id=self.context.worker_id,
            flows=await flow_chart(self.state, fund_type=fund_type),
            leverage=await leverage_charts(self.state, strategy=strategy),
            vix=await vix_chart(self.state, thresholds=self.thresholds),
            alerts=alerts,
            status=await self.status(),
            now=datetime.now(timezone.utc),
            refresh_s=max(5.0, self.options.status_interval_s),
            alert_charts=await AlertCharts(self).section(alerts),
        )


def _points_json(points: Sequence[Point]) -> list[list[Any]]:
    return [[d.isoformat(), v] for d, v in points]


def chart_json(chart: LineChart) -> dict[str, Any]:
    """Return a line chart as JSON data."""
    return {
        "series": chart.series,
        "points": _points_json(chart.points),
        "band": [[d.isoformat(), lo, hi] for d, lo, hi in chart.band],
        "thresholds": [t for t, _ in chart.thresholds],
    }


def _int(query: Mapping[str, str], name: str, default: int, *, lo: int = 1, hi: int = 10_000) -> int:
    try:
        return min(hi, max(lo, int(query.get(name, default))))
    except ValueError:
        return default


def install_dashboard(app: Any, dash: Dashboard) -> None:
    """Register ``/``, ``/api/*``, ``/notes`` and ``/static/`` of ``dash`` on the app's web server."""

    async def index(self: Any, request: Any) -> Any:
        """Serve the dashboard page."""
        q = request.query
        body = await dash.page(fund_type=q.get("fund_type", "hedge_fund"),
                               strategy=q.get("strategy", "fundamental_long_short"))
        return self.html(body, headers={"Cache-Control": "no-store"})

    async def api_flows(self: Any, request: Any) -> Any:
        """Serve net buying by sector as JSON."""
        q = request.query
        chart = await flow_chart(dash.state, fund_type=q.get("fund_type", "hedge_fund"), weeks=_int(q, "weeks", 4, hi=52))
        return self.json({"fund_type": chart.fund_type, "weeks": [w.isoformat() for w in chart.weeks],
                          "sectors": chart.sectors})

    async def api_leverage(self: Any, request: Any) -> Any:
        """Serve gross and net leverage with their bands as JSON."""
        q = request.query
        charts = await leverage_charts(dash.state, strategy=q.get("strategy", "fundamental_long_short"),
                                       weeks=_int(q, "weeks", 104, hi=520))
        return self.json({c.series.split(":", 1)[0]: chart_json(c) for c in charts})

    async def api_vix(self: Any, request: Any) -> Any:
        """Serve the VIX closes and thresholds as JSON."""
        chart = await vix_chart(dash.state, days=_int(request.query, "days", 260, hi=20_000), thresholds=dash.thresholds)
        return self.json(chart_json(chart))

    async def api_alerts(self: Any, request: Any) -> Any:
        """Serve the recent alerts as JSON, newest first, each with the period it is of (``period_text``)."""
        from signal_monitor.web.charts import period_text

        alerts = await dash.alerts(_int(request.query, "limit", 50, hi=RECENT_ALERTS_MAX))
        return self.json({"alerts": [{**a, "period_text": period_text(a)} for a in alerts]})

    async def api_status(self: Any, request: Any) -> Any:
        """Serve the workers' assessed status as JSON."""
        return self.json(await dash.status())

    for path, handler in (("/", index), ("/api/flows", api_flows), ("/api/leverage", api_leverage),
                          ("/api/vix", api_vix), ("/api/alerts", api_alerts), ("/api/status", api_status)):
        app.page(path, name=f"sm_{handler.__name__}")(handler)
    install_notes(app, dash.state)
    app.web.add_static("/static/", STATIC_DIR)
