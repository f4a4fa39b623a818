"""The worker's web endpoints: Prometheus metrics (``prometheus``) and the read-only dashboard (``dashboard``).

Both are served by Faust's web server, bound to ``SM_WEB_HOST`` (127.0.0.1 by
default) on ``SM_WEB_PORT`` when ``SM_WEB_ENABLED`` is true.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signal_monitor.config.settings import Settings

if TYPE_CHECKING:
    from signal_monitor.web.dashboard import DashboardOptions, StatusSource
    from signal_monitor.worker import WorkerContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class WebOptions:
    """What the web endpoints need of the settings; ``from_settings`` reads them."""

    enabled: bool  #: SM_WEB_ENABLED
    host: str  #: SM_WEB_HOST
    port: int  #: SM_WEB_PORT
    dashboard: DashboardOptions
    read_status: StatusSource  #: reads the status topic for the dashboard's workers table

    @classmethod
    def from_settings(cls, settings: Settings) -> WebOptions:
        """Return the options of ``settings`` (the status topic is read with its Kafka connection)."""
        from signal_monitor.status.reader import read_status
        from signal_monitor.web.dashboard import DashboardOptions

        return cls(
            enabled=settings.web_enabled,
            host=settings.web_host,
            port=settings.web_port,
            dashboard=DashboardOptions.from_settings(settings),
            read_status=functools.partial(read_status, settings, timeout_s=5.0),
        )


def install_web(app: Any, context: WorkerContext, options: WebOptions) -> bool:
    """Register ``/metrics``, ``/``, ``/api/*``, ``/charts/*`` and ``/static/`` on the app; idempotent.

    Returns False, registering nothing, when the web server is disabled. ``/metrics`` reports
    the status publisher's figures: ``create_app`` installs it first (``status.publisher.install``).
    """
    if not options.enabled:
        return False
    if context.installed.dashboard is not None:
        return True
    publisher = context.installed.status
    if publisher is None:
        raise RuntimeError("install the status publisher (status.publisher.install) before the web endpoints")
    from signal_monitor.web.charts import install_charts
    from signal_monitor.web.dashboard import Dashboard, install_dashboard
    from signal_monitor.web.prometheus import install_metrics

    install_metrics(app, publisher)
    dashboard = Dashboard(context, options=options.dashboard, read_status=options.read_status, publisher=publisher)
    install_dashboard(app, dashboard)
    install_charts(app, dashboard)
    context.installed.dashboard = dashboard
    log.info("web: dashboard and /metrics on http://%s:%d/", options.host, options.port)
    return True
