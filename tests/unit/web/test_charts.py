"""The dashboard's chart routes on the worker's web app (aiohttp test server): page, PNG, JSON, errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from signal_monitor.charts.links import chart_path
from signal_monitor.config.settings import Settings
from signal_monitor.rules.alert import Alert, dedup_key
from signal_monitor.state.memory import MemoryState
from signal_monitor.status.reader import StatusSnapshot
from signal_monitor.web import WebOptions, install_web

DAYS = [date(2025, 3, 3) + timedelta(days=i) for i in range(90)]
PERIOD = DAYS[80]


def _alert(period: date, *, fired: bool = True) -> Alert:
    scope = {"symbol": "VIX"}
    return Alert(rule="vix_below_17", scope=scope, granularity="day", period_start=period, period_end=period,
                 value=16.42, threshold=17.0, severity="warning", dedup_key=dedup_key("vix_below_17", scope, period),
                 text="The VIX closed at 16.42, below 17.", fired=fired, fired_at=datetime(2025, 6, 6, 21, tzinfo=UTC))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient, list[dict[str, Any]]]]:
    from signal_monitor.app import create_app

    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        web_enabled=True, redis_cluster=False)
    app = create_app(settings)
    assert install_web(app, app.context, WebOptions.from_settings(settings))
    dash = app.context.installed.dashboard
    assert dash is not None
    state = MemoryState()
    closes = [19.0 + (i % 3) for i in range(90)]
    closes[80] = 16.42
    await state.put_series("close:day|symbol=VIX", list(zip(DAYS, closes, strict=True)))
    records: list[dict[str, Any]] = [
        _alert(PERIOD).model_dump(mode="json"),
        _alert(DAYS[60]).model_dump(mode="json"),
        {"rule": "legacy", "severity": "info", "text": "an old record without a period", "dedup_key": "0" * 16},
    ]

    async def alerts(limit: int = 50) -> list[dict[str, Any]]:
        return records[:limit]

    dash.state = state
    dash.alerts = alerts  # type: ignore[method-assign]
    dash.read_status = StatusSnapshot
    async with TestClient(TestServer(app.web.web_app)) as test_client:
        yield test_client, records


async def test_the_png_of_an_alert(client: tuple[TestClient, list[dict[str, Any]]]) -> None:
    http, _ = client
    response = await http.get(f"/charts/{_alert(PERIOD).dedup_key}.png")
    body = await response.read()
    assert response.status == 200 and response.content_type == "image/png"
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and len(body) > 10_000


async def test_the_json_and_the_page_carry_the_formatted_figures(client: tuple[TestClient, list[dict[str, Any]]]) -> None:
    http, _ = client
    key = _alert(PERIOD).dedup_key
    data = await (await http.get(f"/api/charts/{key}")).json()
    assert data["key"] == key and data["period_text"] == PERIOD.isoformat()
    assert data["fired"] == {"period": PERIOD.isoformat(), "period_text": PERIOD.isoformat(), "value": 16.42,
                             "text": "16.42"}
    assert [(lv["value"], lv["text"]) for lv in data["levels"]] == [(17.0, "17"), (18.0, "18")]
    assert [m["period"] for m in data["markers"]] == [DAYS[60].isoformat(), PERIOD.isoformat()]  # both alerts
    page = await (await http.get(f"/charts/{key}")).text()
    points = re.findall(r'<circle class="pt" data-period="([\d-]+)" data-label="[^"]*" data-value="[^"]*" '
                        r'data-text="([^"]*)"', page)
    assert (PERIOD.isoformat(), "16.42") in points and len(points) == len(data["points"])
    assert "/static/alert_charts.js" in page and f'href="/charts/{key}.png"' in page


async def test_an_alert_gone_from_the_list_is_found_by_its_link(client: tuple[TestClient, list[dict[str, Any]]]) -> None:
    http, records = client
    alert = _alert(PERIOD)
    records.clear()
    assert (await http.get(f"/charts/{alert.dedup_key}.png")).status == 404
    response = await http.get(chart_path(alert, png=True))
    assert response.status == 200 and (await response.read())[:4] == b"\x89PNG"
    bad = await http.get(f"/charts/{alert.dedup_key}?rule=vix_below_17&period=last-friday&scope=symbol=VIX")
    assert bad.status == 400 and "ISO date" in await bad.text()
    unknown = await http.get(f"/charts/{alert.dedup_key}?rule=no_such_rule&period=2025-06-06")
    assert unknown.status == 404 and "no_such_rule" in await unknown.text()


async def test_the_page_shows_each_alerts_period_and_its_chart(client: tuple[TestClient, list[dict[str, Any]]]) -> None:
    http, _ = client
    page = await (await http.get("/")).text()
    key = _alert(PERIOD).dedup_key
    assert f'<figure class="alert-chart" id="chart-{key}"' in page
    assert page.count('<figure class="alert-chart"') == 2  # the record without a period has no chart
    assert f'<td class="period">{PERIOD.isoformat()}</td>' in page
    api = await (await http.get("/api/alerts")).json()
    assert [a["period_text"] for a in api["alerts"]] == [PERIOD.isoformat(), DAYS[60].isoformat(), ""]
