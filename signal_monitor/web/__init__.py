"""The worker's web endpoints: Prometheus metrics (``prometheus``) and the read-only dashboard (``dashboard``).

Both are served by Faust's web server, bound to ``SM_WEB_HOST`` (127.0.0.1 by
default) on ``SM_WEB_PORT`` when ``SM_WEB_ENABLED`` is true.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from signal_monitor.config.settings import Settings

if TYPE_CHECKING:
    from signal_monitor.worker import WorkerContext

log = logging.getLogger(__name__)


def install_web(app: Any, context: WorkerContext, settings: Settings) -> bool:
    """Register ``/metrics``, ``/``, ``/api/*`` and ``/static/`` on the app; idempotent.

    Returns False, registering nothing, when the web server is disabled. ``/metrics`` reports
    the status publisher's figures: ``create_app`` installs it first (``status.publisher.install``).
    """
    if not settings.web_enabled:
        return False
    if context.installed.dashboard is not None:
        return True
    publisher = context.installed.status
    if publisher is None:
        raise RuntimeError("install the status publisher (status.publisher.install) before the web endpoints")
    from signal_monitor.status.reader import read_status
    from signal_monitor.web.dashboard import Dashboard, DashboardOptions, install_dashboard
    from signal_monitor.web.prometheus import install_metrics

    install_metrics(app, publisher)
    dashboard = Dashboard(
        context,
        options=DashboardOptions.from_settings(settings),
        read_status=functools.partial(read_status, settings, timeout_s=5.0),
        publisher=publisher,
    )
    install_dashboard(app, dashboard)
    context.installed.dashboard = dashboard
    log.info("web: dashboard and /metrics on http://%s:%d/", settings.web_host, settings.web_port)
    return True
