"""The outbox message: what admission and grouping queue for a destination and sending posts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any


def new_message(receiver: str, route: str, alerts: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """Return a message of ``alerts`` (as JSON records) for ``receiver``; a digest when it holds more than one."""
    title = f"{len(alerts)} alerts" if len(alerts) > 1 else None
    return {
        "id": uuid.uuid4().hex,
        "dest": receiver,
        "receiver": receiver,
        "route": route,
        "title": title,
        "alerts": alerts,
        "created_at": now,
    }


def summary(message: Mapping[str, Any]) -> str:
    """Name a message in a log line: its rule and dedup key, the size of its digest, or the note's week."""
    if message.get("kind") == "note":
        return f"the note of the week ending {message.get('week')}"
    alerts = message.get("alerts") or []
    if len(alerts) == 1:
        return f"{alerts[0].get('rule')} ({alerts[0].get('dedup_key')})"
    return f"a digest of {len(alerts)} alerts"


def rule_of(message: Mapping[str, Any]) -> str:
    """Return the rule a message is recorded under as the last sent: its alert's, ``digest of <n>`` or ``note``."""
    if message.get("kind") == "note":
        return "note"
    alerts = message.get("alerts") or []
    return str(alerts[0].get("rule", "")) if len(alerts) == 1 else f"digest of {len(alerts)}"
