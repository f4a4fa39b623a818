"""install_web: the worker's web routes, registered once, and only with the web server on."""

from __future__ import annotations

from pathlib import Path

from signal_monitor.config.settings import Settings
from signal_monitor.web import WebOptions, install_web


def test_install_web_registers_nothing_when_the_web_server_is_off(tmp_path: Path) -> None:
    from signal_monitor.app import create_app

    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_enabled=False, web_enabled=False)
    app = create_app(settings)
    off = WebOptions.from_settings(settings)
    assert install_web(app, app.context, off) is False and app.context.installed.dashboard is None
    assert app.context.installed.status is not None, "create_app publishes status whether or not the web server runs"
    on = WebOptions.from_settings(settings.model_copy(update={"web_enabled": True}))
    assert install_web(app, app.context, on) is True
    dashboard = app.context.installed.dashboard
    assert dashboard is not None and install_web(app, app.context, on) is True
    assert app.context.installed.dashboard is dashboard  # installed once
    paths = {view.view_path for view in app.web.views.values()}
    assert {"/", "/metrics", "/api/status", "/api/flows", "/api/leverage", "/api/vix", "/api/alerts"} <= paths
    assert {"/notes", "/notes/{week}"} <= paths
