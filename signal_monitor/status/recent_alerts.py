"""The recent alerts: a capped Redis list ``<key_prefix>:recent_alerts`` of the alerts produced, newest first.

Whoever produces an alert calls :func:`remember_alert`; the status record reads
its newest entry (the last alert) and the dashboard the latest ones, each
provisional finding marked with what superseded it (:func:`mark_superseded`).
"""

from __future__ import annotations

import json
from typing import Any

RECENT_ALERTS_MAX = 200


def recent_alerts_key(prefix: str) -> str:
    """Return the Redis key of the recent-alerts list."""
    return f"{prefix}:recent_alerts"


async def remember_alert(client: Any, prefix: str, alert_json: str | bytes, *, cap: int = RECENT_ALERTS_MAX) -> None:
    """Push an alert's JSON onto the capped recent-alerts list (newest first); one round trip, cluster-safe."""
    key = recent_alerts_key(prefix)
    async with client.pipeline(transaction=False) as pipe:
        pipe.lpush(key, alert_json)
        pipe.ltrim(key, 0, cap - 1)
        await pipe.execute()


async def recent_alerts(client: Any, prefix: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Return up to ``limit`` recent alerts, newest first (entries that are not JSON objects are skipped)."""
    out = []
    for raw in await client.lrange(recent_alerts_key(prefix), 0, max(0, limit - 1)):
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def mark_superseded(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``alerts`` with each provisional finding that a later one supersedes marked ``superseded_by``.

    The week's final alert names the finding it replaces in ``supersedes``, and so does the
    withdrawal of a finding that did not hold (then ``superseded_by`` is the withdrawal's key).
    """
    by = {str(a["supersedes"]): str(a.get("dedup_key", "")) for a in alerts if a.get("supersedes")}
    return [
        {**a, "superseded_by": by[a["dedup_key"]]}
        if a.get("provisional") and a.get("fired", True) and a.get("dedup_key") in by
        else a
        for a in alerts
    ]
