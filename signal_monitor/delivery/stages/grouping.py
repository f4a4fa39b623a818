"""Grouping: a route with a ``group_wait`` buffers its alerts; once due, the buffer becomes digest messages.

An alert silenced or inhibited while it waited in its group is left out of the digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from signal_monitor.delivery.inhibition import Inhibitor
from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.silences import SilenceStore, silenced_by
from signal_monitor.delivery.stages.message import new_message
from signal_monitor.rules.alert import Alert

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """Split ``items`` into lists of at most ``size``, in order (a group's digests of ``group_max`` alerts)."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def load_entry(text: str) -> dict[str, Any] | None:
    """Return a group buffer's entry (an alert and its receiver), or None when it does not read as one."""
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "alert" in entry and "receiver" in entry else None


class Grouping:
    """Turns due group buffers into digest messages in the outbox."""

    def __init__(
        self, outbox: Outbox, *, silences: SilenceStore, inhibitor: Inhibitor, clock: Callable[[], float]
    ) -> None:
        self.outbox = outbox
        self.silences = silences
        self.inhibitor = inhibitor
        self.clock = clock

    async def flush(self, *, force: bool = False) -> int:
        """Turn group buffers that are due (all when ``force``) into digest messages; return the messages queued."""
        groups = await self.outbox.due_groups(None if force else self.clock())
        if not groups:
            return 0
        silences = await self.silences.active()
        queued = 0
        for group in groups:
            raw = await self.outbox.group_entries(group)
            now = self.clock()
            kept: dict[str, list[dict[str, Any]]] = {}
            for text in raw:
                entry = load_entry(text)
                if entry is None:
                    await self.outbox.count("dropped")
                    continue
                alert = Alert.model_validate(entry["alert"])
                if silenced_by(alert, silences, now) is not None:
                    await self.outbox.count("silenced")
                    continue
                if await self.inhibitor.muted_by(alert) is not None:
                    await self.outbox.count("inhibited")
                    continue
                kept.setdefault(entry["receiver"], []).append(entry)
            messages = []
            for receiver, entries in kept.items():
                for part in chunks(entries, int(entries[0].get("group_max", 20))):
                    messages.append(new_message(receiver, group, [e["alert"] for e in part], now))
            if await self.outbox.flush_group(group, raw, messages, now):
                queued += len(messages)
        return queued
