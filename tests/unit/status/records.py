"""Hand-made status records for the unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from signal_monitor.status.record import (
    PartitionLag,
    RedisHealth,
    StatusRecord,
    TopicFigures,
)

UTC = timezone.utc
T0 = datetime(2025, 6, 4, 18, 0, tzinfo=UTC)  # Wednesday 14:00 US/Eastern
INPUTS = ("signals.trades", "signals.quotes", "signals.exposures", "signals.observations")


def make_record(
    worker: str = "w1",
    *,
    published: datetime = T0,
    interval_s: float = 10.0,
    lag: dict[int, int | None] | None = None,
    newest: Mapping[str, datetime | None] | None = None,
    **over: Any,
) -> StatusRecord:
    """Return a status record with the given publication time, lag per trades partition and newest events."""
    newest = newest if newest is not None else {t: published - timedelta(seconds=30) for t in INPUTS}
    fields: dict[str, Any] = {
        "worker_id": worker,
        "host": "host-a",
        "version": "0.1.0",
        "app_id": "signal-monitor",
        "started": published - timedelta(hours=1),
        "published": published,
        "interval_s": interval_s,
        "lag": [
            PartitionLag(topic="signals.trades", partition=p, applied_offset=100,
                         end_offset=None if n is None else 101 + n, lag=n)
            for p, n in (lag or {0: 0}).items()
        ],
        "topics": {t: TopicFigures(events=10, events_per_s=1.0, newest_event=newest.get(t)) for t in INPUTS},
        "redis": RedisHealth(ok=True, rtt_ms=0.4),
    }
    fields.update(over)
    return StatusRecord(**fields)
