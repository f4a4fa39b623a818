"""Status topic, status command, /metrics and the dashboard, against a real worker process.

One worker (status every second, web server on a free port) runs for the whole
module against the session broker and a private Redis that requires a password;
the Slack secrets are set too, so the tests can look for them where they must
not be. Series are backfilled before the worker starts; trades and bad messages
are streamed through Kafka. The dashboard is loaded in headless Chromium driven
over the DevTools protocol: no console error, the charts hold the backfilled
figures, a screenshot lands in ``artifacts/``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote
from typing import Any

import pytest
import redis

from signal_monitor.config.settings import DEFAULT_RULES_PATH, Settings
from signal_monitor.embedded import EmbeddedRedis
from signal_monitor.embedded.process import free_port
from signal_monitor.notes.compose import compose
from signal_monitor.rules.alert import Alert, dedup_key
from signal_monitor.rules.model import load_rules
from signal_monitor.state.redis import RedisState
from signal_monitor.status.reader import read_messages, read_status
from signal_monitor.status.recent_alerts import remember_alert
from signal_monitor.status.record import SCHEMA_PATH
from signal_monitor.status.view import assess
from tests.integration.harness import UTC, Names, Worker, as_messages, caught_up, create_topics, make_trades, produce, wait_for

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
MONDAY = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)
NOTE_WEEK = date(2025, 6, 6)
SECTORS = {"Industrials": 2.41e9, "Health Care": -1.2e9, "Information Technology": 0.8e9, "Energy": -0.35e9}
TRADES = 60
BAD = [b'{"trade_id": "broken",', b"not json at all"]
GROSS_LAST, NET_LAST, VIX_LAST = 2.106, 0.512, 16.77
#: alerts with a chart: rule, scope, granularity, value (the series' value in the note's week)
CHARTED = (("gross_leverage_percentile", {"strategy": "fundamental_long_short"}, "week", GROSS_LAST),
           ("vix_below_17", {"symbol": "VIX"}, "day", VIX_LAST))


@dataclass
class Scenario:
    """The running worker and what was put in front of it."""

    names: Names
    settings: Settings
    worker: Worker
    web: str
    secrets: list[str]
    flows: dict[str, dict[date, float]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _weekly(end: date, n: int, last: float, amplitude: float, center: float) -> list[tuple[date, float]]:
    points = [(end - timedelta(weeks=n - 1 - i), round(center + amplitude * math.sin(i / 9.0), 4)) for i in range(n - 1)]
    return points + [(end, last)]


def _business_days(end: date, n: int) -> list[date]:
    out: list[date] = []
    day = end
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    return out[::-1]


async def _backfill(url: str, password: str, names: Names, scenario: Scenario) -> None:
    state = RedisState.from_url(url, password=password, prefix=names.key_prefix, topic_prefix=names.topic_prefix)
    try:
        for s, (sector, value) in enumerate(SECTORS.items()):
            points = {NOTE_WEEK - timedelta(weeks=k): value * (1 - 0.2 * k) + s * 1e7 * k for k in range(6)}
            scenario.flows[sector] = points
            await state.put_series(f"net_buying:week|fund_type=hedge_fund|sector={sector}", sorted(points.items()))
        await state.put_series("gross_leverage:week|strategy=fundamental_long_short",
                               _weekly(NOTE_WEEK, 220, GROSS_LAST, 0.06, 2.0))
        await state.put_series("net_leverage:week|strategy=fundamental_long_short",
                               _weekly(NOTE_WEEK, 220, NET_LAST, 0.05, 0.5))
        days = _business_days(NOTE_WEEK, 300)
        vix = [(d, round(19 + 3 * math.sin(i / 11.0), 2)) for i, d in enumerate(days[:-1])] + [(days[-1], VIX_LAST)]
        await state.put_series("close:day|symbol=VIX", vix)
        for i, rule in enumerate(("vix_below_17", "gross_leverage_largest_drop")):
            alert = {"rule": rule, "scope": {"symbol": "VIX"} if i == 0 else {"strategy": "fundamental_long_short"},
                     "severity": "warning", "fired_at": f"2025-06-0{6 - i}T21:0{i}:00+00:00",
                     "dedup_key": uuid.uuid4().hex[:16], "text": f"test alert {rule} <b>not bold</b>"}
            scenario.alerts.append(alert)
            await remember_alert(state.client, names.key_prefix, json.dumps(alert))
        # two alerts of the shipped rules over the series above, as the worker records them: each has a chart
        for rule, scope, granularity, value in CHARTED:
            full = Alert(rule=rule, scope=scope, granularity=granularity, period_start=NOTE_WEEK - timedelta(days=4)
                         if granularity == "week" else NOTE_WEEK, period_end=NOTE_WEEK, value=value, threshold=None,
                         severity="info", dedup_key=dedup_key(rule, scope, NOTE_WEEK), text=f"{rule} fired",
                         fired_at=datetime(2025, 6, 6, 21, 30, tzinfo=timezone.utc)).model_dump(mode="json")
            scenario.alerts.append(full)
            await remember_alert(state.client, names.key_prefix, json.dumps(full))
        # the week's note of those two alerts, as the worker stores it at the week's close
        charted = [Alert.model_validate(a) for a in scenario.alerts if a.get("period_end")]
        note = compose(NOTE_WEEK, charted, rules=load_rules(DEFAULT_RULES_PATH))
        await state.put_note(NOTE_WEEK, note.model_dump_json())
    finally:
        await state.close()


@pytest.fixture(scope="module")
def scenario(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Start a password-protected Redis, backfill it, start the worker, stream events, wait for their status."""
    workdir = tmp_path_factory.mktemp("status")
    password = f'pw-"\\{uuid.uuid4().hex}'  # JSON escapes " and \\: masked in the values, not in the JSON
    secrets = [password, f"https://hooks.slack.com/services/T0/B0/{uuid.uuid4().hex}", f"xoxb-{uuid.uuid4().hex}"]
    server = EmbeddedRedis(workdir / "redis").start()
    worker: Worker | None = None
    try:
        redis.Redis.from_url(server.url).config_set("requirepass", password)
        names = Names(f"smtest:{uuid.uuid4().hex[:8]}")
        create_topics(broker, names)
        port = free_port()
        env = {
            "SM_WEB_ENABLED": "true", "SM_WEB_PORT": str(port), "SM_WEB_HOST": "127.0.0.1", "SM_STATUS_INTERVAL_S": "1",
            "SM_REDIS_PASSWORD": password, "SLACK_WEBHOOK_URL": secrets[1], "SLACK_BOT_TOKEN": secrets[2],
        }
        settings = Settings(kafka_bootstrap=broker, redis_url=server.url, key_prefix=names.key_prefix,
                            topic_prefix=names.topic_prefix, app_id=names.app_id, status_interval_s=1.0)
        worker = Worker(broker, server.url, names, workdir, env=env, tag="st")
        scen = Scenario(names, settings, worker, f"http://127.0.0.1:{port}", secrets)
        asyncio.run(_backfill(server.url, password, names, scen))
        worker.start()
        produce(broker, names.topic("trades"),
                as_messages(make_trades(TRADES, seed=11, start=MONDAY, span=timedelta(days=3))) + [(b"F1", b) for b in BAD])
        wait_for(caught_up(broker, f"redis://:{quote(password, safe='')}@127.0.0.1:{server.port}/0", names.key_prefix,
                           names.topic("trades")), timeout=90, what="the worker to catch up")
        trades = names.topic("trades")

        def reported() -> bool:
            # A periodic record after the first one, with every event and no lag left: what the tests read.
            latest = read_status(settings, timeout_s=5).latest.get("st")
            if latest is None or latest.topics[trades].events != TRADES or sum(latest.dlq.values()) != len(BAD):
                return False
            records = [json.loads(v) for v in _raw_status(settings)]
            return (
                len(records) >= 2
                and records[-1]["reason"] == "interval"
                and all(p["lag"] == 0 for p in records[-1]["lag"] if p["topic"] == trades)
            )

        wait_for(reported, timeout=60, what="a periodic status record with every event and no lag")
        yield scen
    finally:
        if worker is not None:
            worker.stop()
        server.stop()


def _raw_status(settings: Settings) -> list[bytes]:
    messages, complete = read_messages(settings)
    assert complete, "the status topic was not read to its end"
    return [value for _, value in messages if value is not None]


def test_published_records_validate_against_the_committed_schema(scenario: Scenario) -> None:
    import jsonschema  # a test dependency: a missing one fails here rather than skipping

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    raw = _raw_status(scenario.settings)
    records = [json.loads(v) for v in raw]
    assert len(records) >= 2
    for record in records:
        errors = sorted(validator.iter_errors(record), key=str)
        assert not errors, f"{record['reason']} record does not match schema.json: {errors[0].message}"
    assert {"assigned", "interval"} <= {r["reason"] for r in records}
    last = records[-1]
    inputs = {scenario.names.topic(k) for k in ("trades", "quotes", "exposures", "observations")}
    assert {p["topic"] for p in last["partitions"]} == inputs and len(last["partitions"]) == 16
    assert last["topics"][scenario.names.topic("trades")]["events"] == TRADES
    assert last["dlq"] == {"malformed_json": len(BAD)}
    assert last["redis"]["ok"] is True
    assert all(p["lag"] == 0 for p in last["lag"] if p["topic"] == scenario.names.topic("trades"))
    assert last["last_alert"]["rule"] == scenario.alerts[-1]["rule"]


def test_no_secret_reaches_the_status_topic(scenario: Scenario) -> None:
    raw = b"\n".join(_raw_status(scenario.settings))
    assert raw, "no status record to search"
    for secret in scenario.secrets:
        assert secret.encode() not in raw
        assert json.dumps(secret)[1:-1].encode() not in raw  # nor as JSON escapes it
    assert b"hooks.slack.com" not in raw and b"xoxb-" not in raw


def test_status_reader_and_view_list_the_worker_as_fresh(scenario: Scenario) -> None:
    from click.testing import CliRunner

    from signal_monitor.status.cli import status

    looked = datetime.now(timezone.utc)
    snap = read_status(scenario.settings)
    assessment = assess(snap, looked)
    assert [w.worker_id for w in assessment.workers] == ["st"]
    codes = {f.code for f in assessment.worker_flags["st"]}
    assert "stale" not in codes and "redis_down" not in codes, assessment.worker_flags["st"]
    env = {"KAFKA_BOOTSTRAP": scenario.settings.kafka_bootstrap, "SM_TOPIC_PREFIX": scenario.names.topic_prefix,
           "SM_STATUS_INTERVAL_S": "1"}
    result = CliRunner().invoke(status, ["--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    (entry,) = out["workers"]
    assert entry["record"]["worker_id"] == "st"
    assert entry["record"]["topics"][scenario.names.topic("trades")]["events"] == TRADES
    table = CliRunner().invoke(status, [], env={**env, "COLUMNS": "250"})
    assert table.exit_code == 0 and "st" in table.output and "workers" in table.output, table.output


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_the_events(scenario: Scenario) -> None:
    samples = _metrics(scenario.web)
    trades = scenario.names.topic("trades")
    assert samples[("sm_events_total", (("topic", trades),))] == TRADES
    assert samples[("sm_events_total", (("topic", scenario.names.topic("quotes")),))] == 0
    assert samples[("sm_dead_letters_total", (("reason", "malformed_json"),))] == len(BAD)
    assert samples[("sm_redis_up", ())] == 1.0
    assert samples[("sm_partitions_assigned", ())] == 16
    assert samples[("sm_consumer_lag", (("partition", "0"), ("topic", trades)))] == 0
    assert ("sm_batch_seconds_count", ()) in samples and ("sm_alert_latency_seconds_count", ()) in samples
    assert samples[("sm_status_records_total", ())] >= 2


# --- the dashboard in a real browser -----------------------------------------------------------


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result, keeping the events that arrive meanwhile."""
        self._next += 1
        ident = self._next
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 30)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    async def evaluate(self, expression: str) -> Any:
        """Return the JSON value of a JavaScript expression in the page."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Return the console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out


def chromium_binary() -> str:
    """Return the Chromium executable; fail (not skip) when it is missing."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: the dashboard test needs Debian's chromium package "
                "(apt-get install -y chromium; .ci/run installs it)")


async def _drive(browser_dir: Path, url: str, screenshot: Path) -> tuple[dict[str, Any], list[str]]:
    return await _visit(browser_dir, url, screenshot, DASHBOARD_DOM)


#: What the dashboard test reads of the page.
DASHBOARD_DOM = """(() => ({
    ready: document.body.dataset.ready,
    bars: [...document.querySelectorAll('svg.bars rect.bar')].map(r =>
        [r.closest('g.sector').dataset.sector, r.dataset.week, Number(r.dataset.value)]),
    series: Object.fromEntries([...document.querySelectorAll('g.series')].map(g =>
        [g.dataset.series, {count: Number(g.dataset.count), last: g.dataset.last,
                            lastValue: Number(g.dataset.lastValue)}])),
    bands: document.querySelectorAll('polygon.band').length,
    thresholds: [...document.querySelectorAll('line.threshold')].map(l => Number(l.dataset.value)),
    alerts: [...document.querySelectorAll('#alerts-body tr.alert')].map(r => r.dataset.rule),
    alertText: document.querySelector('#alerts-body').textContent,
    workers: [...document.querySelectorAll('#workers-body tr.worker')].map(r =>
        ({id: r.dataset.worker, cls: r.className, source: r.dataset.source || '',
          events: Number(r.dataset.events)})),
}))()"""


@contextlib.asynccontextmanager
async def _opened(browser_dir: Path, url: str, *, height: int, ready: str = "true") -> Any:
    """Open ``url`` in the browser's page over DevTools; yield the session once the page and ``ready`` hold."""
    import aiohttp

    port_file = browser_dir / "DevToolsActivePort"
    wait_for(port_file.exists, timeout=30, what="Chromium's DevTools port", interval=0.1)
    port = port_file.read_text().split()[0]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                await tools.call(domain)
            await tools.call("Emulation.setDeviceMetricsOverride", width=1100, height=height, deviceScaleFactor=1, mobile=False)
            await tools.call("Page.navigate", url=url)
            for _ in range(150):  # the dashboard's script sets data-ready after its first refresh
                if await tools.evaluate("document.readyState === 'complete' && document.body "
                                        f"&& document.body.dataset.ready !== '0' && ({ready})"):
                    break
                await asyncio.sleep(0.2)
            yield tools


async def _finish(tools: DevTools, screenshot: Path) -> list[str]:
    """Save a screenshot of the whole page; return the console errors, late ones included."""
    shot = await tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    await asyncio.sleep(0.3)  # let late console events arrive before reading them
    await tools.evaluate("1")
    return tools.errors()


async def _visit(browser_dir: Path, url: str, screenshot: Path, expression: str) -> tuple[dict[str, Any], list[str]]:
    """Load ``url`` in the browser, evaluate ``expression`` once the page is ready, save a screenshot."""
    async with _opened(browser_dir, url, height=1800) as tools:
        dom = await tools.evaluate(expression)
        return dom, await _finish(tools, screenshot)


@contextlib.contextmanager
def headless_chromium(tmp_path: Path) -> Iterator[Path]:
    """Run headless Chromium with a DevTools port; yield its profile directory (which names the port)."""
    binary = chromium_binary()
    browser_dir = tmp_path / "chromium"
    browser = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={browser_dir}", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "chromium.log", "wb"), start_new_session=True,
    )
    try:
        yield browser_dir
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(timeout=10)


def test_dashboard_in_headless_chromium(scenario: Scenario, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    with headless_chromium(tmp_path) as browser_dir:
        dom, errors = asyncio.run(_drive(browser_dir, scenario.web + "/", screenshot))
    assert not errors, errors
    assert dom["ready"] == "1", "the page's script did not finish its first refresh"
    bars = {(s, w): v for s, w, v in dom["bars"]}
    weeks = sorted({w for _, w in bars})
    assert weeks == [(NOTE_WEEK - timedelta(weeks=k)).isoformat() for k in (3, 2, 1, 0)]
    for sector, points in scenario.flows.items():
        for week in weeks:
            assert bars[(sector, week)] == pytest.approx(points[date.fromisoformat(week)]), (sector, week)
    gross = dom["series"]["gross_leverage:week|strategy=fundamental_long_short"]
    net = dom["series"]["net_leverage:week|strategy=fundamental_long_short"]
    vix = dom["series"]["close:day|symbol=VIX"]
    assert (gross["count"], gross["last"], gross["lastValue"]) == (104, NOTE_WEEK.isoformat(), GROSS_LAST)
    assert (net["count"], net["lastValue"]) == (104, NET_LAST)
    assert (vix["count"], vix["last"], vix["lastValue"]) == (260, NOTE_WEEK.isoformat(), VIX_LAST)
    assert dom["bands"] == 2
    assert sorted(dom["thresholds"]) == [17.0, 18.0]
    assert dom["alerts"] == [a["rule"] for a in reversed(scenario.alerts)]
    assert "<b>not bold</b>" in dom["alertText"]
    (worker,) = dom["workers"]
    assert worker["id"] == "st" and worker["source"] == "api" and worker["events"] == TRADES
    assert "stale" not in worker["cls"].split()
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


# --- the alerts' charts in a real browser --------------------------------------------------------


async def _hover_charts(browser_dir: Path, url: str, screenshot: Path) -> tuple[dict[str, Any], list[str]]:
    """Load the page, move the mouse onto the fired point of each alert chart, read its tooltip, screenshot."""
    async with _opened(browser_dir, url, height=900, ready="'charts' in document.body.dataset") as tools:
        dom = await tools.evaluate("""(() => ({
            ready: document.body.dataset.ready,
            charts: [...document.querySelectorAll('figure.alert-chart')].map(f => ({
                key: f.dataset.key, rule: f.querySelector('svg').dataset.rule,
                count: Number(f.querySelector('svg').dataset.count),
                points: f.querySelectorAll('circle.pt').length,
                fired: f.querySelectorAll('circle.marker.current').length,
                period: f.querySelector('figcaption .period').textContent})),
            periods: [...document.querySelectorAll('#alerts-body tr.alert td.period')].map(td => td.textContent),
        }))()""")
        tips = {}
        for chart in dom["charts"]:
            sel = f"#chart-{chart['key']} circle.pt[data-period='{NOTE_WEEK.isoformat()}']"
            box = await tools.evaluate(f"""(() => {{
                const p = document.querySelector("{sel}");
                p.scrollIntoView({{block: 'center'}});
                const r = p.getBoundingClientRect();
                return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
            }})()""")
            await tools.call("Input.dispatchMouseEvent", type="mouseMoved", x=box["x"], y=box["y"])
            for _ in range(50):
                tip = await tools.evaluate(f"""(() => {{
                    const f = document.querySelector("#chart-{chart['key']}");
                    const t = f.querySelector('.chart-tip');
                    return {{hidden: t.hidden, text: t.innerText, hover: f.dataset.hover || ''}};
                }})()""")
                if not tip["hidden"]:
                    break
                await asyncio.sleep(0.1)
            tips[chart["rule"]] = tip
        dom["tips"] = tips
        return dom, await _finish(tools, screenshot)


def test_the_weeks_note_in_headless_chromium(scenario: Scenario, tmp_path: Path) -> None:
    """The note's page as a desk sees it: its headline and sections, no console errors."""
    screenshot = REPO / ".run" / "note.png"
    screenshot.parent.mkdir(exist_ok=True)
    screenshot.unlink(missing_ok=True)
    expression = """(() => ({
        headline: document.querySelector('p.headline').textContent,
        sections: [...document.querySelectorAll('#note h2')].map(h => h.textContent),
        claims: [...document.querySelectorAll('#note li.claim')].map(li => li.dataset.rule),
    }))()"""
    with headless_chromium(tmp_path) as browser_dir:
        index, errors = asyncio.run(_visit(browser_dir, scenario.web + "/notes", tmp_path / "notes.png",
                                           "[...document.querySelectorAll('#notes a')].map(a => a.textContent)"))
        assert not errors, errors
        assert any("2025-06-06" in text for text in index)
        dom, errors = asyncio.run(_visit(browser_dir, f"{scenario.web}/notes/2025-06-06", screenshot, expression))
    assert not errors, errors
    # the gross-leverage percentile (the note's "Leverage") and the VIX below 17 (its "Volatility")
    assert dom["sections"] == ["Leverage", "Volatility"]
    assert sorted(dom["claims"]) == ["gross_leverage_percentile", "vix_below_17"]
    assert dom["headline"] == "gross_leverage_percentile fired"  # ranked ahead of the VIX in rules.yaml
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alert_charts_in_headless_chromium(scenario: Scenario, tmp_path: Path) -> None:
    shots = REPO / ".run"
    shots.mkdir(exist_ok=True)
    screenshot = shots / "alert-charts.png"
    screenshot.unlink(missing_ok=True)
    with headless_chromium(tmp_path) as browser_dir:
        dom, errors = asyncio.run(_hover_charts(browser_dir, scenario.web + "/", screenshot))
    assert not errors, errors
    assert dom["ready"] == "1"
    charts = {c["rule"]: c for c in dom["charts"]}
    assert sorted(charts) == sorted(rule for rule, *_ in CHARTED)  # the records without a period have none
    gross, vix = charts["gross_leverage_percentile"], charts["vix_below_17"]
    assert gross["count"] == gross["points"] == 27  # 26 weeks before the note's week, and the week itself
    assert vix["count"] == vix["points"] > 60
    assert gross["fired"] == vix["fired"] == 1
    assert gross["period"] == "week ending 2025-06-06" and vix["period"] == "2025-06-06"
    assert "week ending 2025-06-06" in dom["periods"] and "2025-06-06" in dom["periods"]
    # the tooltips: the period and the value as the desk's note spells them (210.6 %, the VIX at 16.77)
    gross_tip, vix_tip = dom["tips"]["gross_leverage_percentile"], dom["tips"]["vix_below_17"]
    assert gross_tip["hover"] == vix_tip["hover"] == NOTE_WEEK.isoformat()
    assert gross_tip["text"].splitlines()[0] == "week ending 2025-06-06: 210.6%"
    assert "5th–95th percentile over 3 years" in gross_tip["text"]
    assert vix_tip["text"].splitlines()[0] == "2025-06-06: 16.77"
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    key = dedup_key("vix_below_17", {"symbol": "VIX"}, NOTE_WEEK)
    with urllib.request.urlopen(f"{scenario.web}/charts/{key}.png", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("image/png")
        assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"
