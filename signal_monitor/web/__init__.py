"""The worker's web endpoints: Prometheus metrics (``prometheus``) and the read-only dashboard (``dashboard``).

Both are served by Faust's web server, bound to ``SM_WEB_HOST`` (127.0.0.1 by
default) on ``SM_WEB_PORT`` when ``SM_WEB_ENABLED`` is true.
"""

from __future__ import annotations

import logging
from typing import Any

from signal_monitor.config.settings import Settings

log = logging.getLogger(__name__)


def install_web(app: Any, settings: Settings) -> bool:
    """Register ``/metrics``, ``/``, ``/api/*`` and ``/static/`` on the app; idempotent.

    Returns False, registering nothing, when the web server is disabled. ``/metrics`` reports
    the status collector's figures: ``create_app`` installs the status publisher first.
    """
    if not settings.web_enabled:
        return False
    if getattr(app, "sm_web_installed", False):
        return True
    from signal_monitor.web.dashboard import install_dashboard
    from signal_monitor.web.prometheus import install_metrics

    install_metrics(app)
    install_dashboard(app, settings)
    app.sm_web_installed = True
    log.info("web: dashboard and /metrics on http://%s:%d/", settings.web_host, settings.web_port)
    return True
