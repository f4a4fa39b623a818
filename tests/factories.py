"""Builders of valid events for tests: one place that knows a complete event."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from signal_monitor.streams.events import Trade

UTC = timezone.utc


def ts(*args: int) -> datetime:
    """Return a UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def trade_fields(trade_id: str, at: datetime | str = "2025-06-04T14:00:00Z", **over: Any) -> dict[str, Any]:
    """Return the JSON fields of a valid trade (hedge fund, macro, an Energy ETF, buy_long 10 x 100)."""
    fields: dict[str, Any] = {
        "ts": at,
        "trade_id": trade_id,
        "fund_id": "F1",
        "fund_type": "hedge_fund",
        "strategy": "macro",
        "symbol": "XLE",
        "instrument_type": "etf",
        "sector": "Energy",
        "action": "buy_long",
        "quantity": 10,
        "price": 100.0,
        "notional": 1000.0,
    }
    fields.update(over)
    return fields


def trade(trade_id: str, at: datetime, **over: Any) -> Trade:
    """Return a valid Trade model."""
    return Trade(**trade_fields(trade_id, at, **over))
