"""Admission: route each alert, drop what is silenced, inhibited or a realert, and store the rest.

What passes is claimed per receiver (so it is queued once, across workers and restarts) and either queued
as a message at once or buffered in its route's group when the route has a ``group_wait`` (``grouping``).

A provisional finding goes only to routes that match ``provisional: true`` (``Route.provisional``);
elsewhere it is dropped (``provisional_skipped``). It is never taken for a final alert: it is no
inhibition source and keeps no realert time, so the week's final alert is neither muted nor held back by it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from signal_monitor.delivery.inhibition import Inhibitor
from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.realert import realert_key
from signal_monitor.delivery.routing import Route, Routes, format_duration
from signal_monitor.delivery.silences import SilenceStore, silenced_by
from signal_monitor.delivery.stages.message import new_message
from signal_monitor.rules.alert import Alert, base_key

log = logging.getLogger("signal_monitor.delivery")


def claim_key(alert: Alert) -> str:
    """Return the key an alert is claimed under: its dedup key, with ``:v<revision>`` for a correction."""
    suffix = f":v{alert.revision}"
    if alert.revision > 1 and not alert.dedup_key.endswith(suffix):
        return alert.dedup_key + suffix
    return alert.dedup_key


class Admission:
    """Decides which receivers get an alert and stores it for them in the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        routes: Routes,
        silences: SilenceStore,
        inhibitor: Inhibitor,
        claim_ttl_s: float,
        clock: Callable[[], float],
        on_queued: Callable[[str], None] | None = None,
    ) -> None:
        self.outbox = outbox
        #: told each destination as soon as a message is queued for it (the dispatcher starts its loop then)
        self.on_queued = on_queued
        self.routes = routes
        self.silences = silences
        self.inhibitor = inhibitor
        self.claim_ttl_s = claim_ttl_s
        self.clock = clock

    async def admit(self, alerts: list[Alert]) -> set[str]:
        """Route and filter ``alerts``; queue or buffer (in a group) what is to be sent.

        Return the destinations a message was queued for (not those of a group buffer: a digest is due later).
        """
        queued: set[str] = set()
        silences = await self.silences.active()
        # inhibition sources first, so a critical mutes the warnings of the same batch
        ordered = sorted(alerts, key=lambda a: 0 if self.inhibitor.is_source(a) else 1)
        for alert in ordered:
            now = self.clock()
            routes = self.routes.match(alert)
            if alert.provisional:
                routes = [route for route in routes if route.provisional]
                if not routes:
                    await self.outbox.count("provisional_skipped")
                    continue
            else:
                await self.inhibitor.record(alert)
            silence = silenced_by(alert, silences, now)
            if silence is not None:
                await self.outbox.count("silenced")
                log.info("silenced: %s %s (silence %s: %s)", alert.rule, alert.dedup_key, silence.id, silence.reason)
                continue
            source = await self.inhibitor.muted_by(alert)
            if source is not None:
                await self.outbox.count("inhibited")
                log.info("inhibited: %s %s (by a %s alert of the same scope)", alert.rule, alert.dedup_key, source)
                continue
            for route in routes:
                if await self._admit_to(alert, route, now):
                    queued.add(route.receiver)
                    if self.on_queued is not None:
                        self.on_queued(route.receiver)
        return queued

    async def _admit_to(self, alert: Alert, route: Route, now: float) -> bool:
        """Claim ``alert`` for the receiver of ``route`` and queue or buffer it, unless a realert or resolved skip.

        Return whether a message was queued now.
        """
        receiver = route.receiver
        noise = self.routes.noise(route, alert)
        key = claim_key(alert)
        if not alert.fired:
            if not noise.resolved or not await self.outbox.claimed(receiver, base_key(key)):
                await self.outbox.count("resolved_skipped")
                return False
        realert = 0.0 if (alert.correction or not alert.fired or alert.provisional) else noise.realert
        record = alert.model_dump(mode="json")
        common: dict[str, Any] = {
            "receiver": receiver,
            "dedup": key,
            "claim_ttl_s": self.claim_ttl_s,
            "realert_key": realert_key(self.outbox.prefix, receiver, alert),
            "realert_s": realert,
            "now": now,
        }
        if noise.group_wait > 0:
            entry = {"alert": record, "receiver": receiver, "route": route.name, "group_max": noise.group_max}
            result = await self.outbox.admit(**common, group=route.name, entry=entry, due=now + noise.group_wait)
        else:
            result = await self.outbox.admit(**common, message=new_message(receiver, route.name, [record], now))
        if result == "realert":
            log.info(
                "realert: %s for %s went to %s less than %s ago; dropped",
                alert.rule,
                alert.scope,
                receiver,
                format_duration(realert),
            )
        elif result == "duplicate":
            log.debug("duplicate: %s for %s was queued before", key, receiver)
        return result == "ok" and noise.group_wait <= 0
