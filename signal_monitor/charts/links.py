"""Where the dashboard serves the chart of an alert: ``/charts/<dedup_key>`` (the page) and ``.png`` (the image).

The path carries the alert's rule, period and scope in its query too, so a link still finds the
chart once the alert has left the dashboard's list of recent alerts.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from signal_monitor.rules.alert import Alert
from signal_monitor.series import scope_key


def chart_path(alert: Alert, *, png: bool = False) -> str:
    """Return the dashboard path of an alert's chart page (``png``: of its image)."""
    query = urlencode({"rule": alert.rule, "period": alert.period_end.isoformat(), "scope": scope_key(alert.scope)})
    return f"/charts/{quote(alert.dedup_key, safe='')}{'.png' if png else ''}?{query}"


def chart_url(base_url: str, alert: Alert, *, png: bool = False) -> str | None:
    """Return the public URL of an alert's chart on the dashboard at ``base_url`` (None when it is empty)."""
    base = base_url.strip().rstrip("/")
    return f"{base}{chart_path(alert, png=png)}" if base else None
