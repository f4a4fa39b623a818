"""Realert, with ElastAlert's semantics: after an alert of a rule and scope is queued for a receiver, later
alerts of the same rule and scope are dropped for the route's (or the rule's) ``realert`` interval.
Corrections and resolved notices pass.

The outbox's admission script makes the decision atomically with the claim (``outbox.py``); here are the key
it keeps the last queued time under, ``<key_prefix>:{delivery}:noise:realert:...`` (the hash tag of every
delivery key: see ``keys.py``), and the same decision as a pure function of the stored time and a clock.
"""

from __future__ import annotations

from signal_monitor.delivery.keys import delivery_base
from signal_monitor.rules.alert import Alert
from signal_monitor.series import scope_key


def realert_blocks(last_queued: float | None, now: float, interval: float) -> bool:
    """Return whether an alert is dropped: the same rule and scope were queued less than ``interval`` ago."""
    return interval > 0 and last_queued is not None and now - last_queued < interval


def realert_key(prefix: str, receiver: str, alert: Alert) -> str:
    """Return the Redis key holding when ``alert``'s rule and scope were last queued for ``receiver``."""
    return f"{delivery_base(prefix)}:noise:realert:{receiver}:{alert.rule}:{scope_key(alert.scope)}"
