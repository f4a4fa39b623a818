"""The worker context: the parts of one worker that ``create_app`` builds once and hands on explicitly.

The status collector and publisher, ``/metrics`` and the dashboard read the worker through it instead of
attributes hung on the Faust app; the app holds it as ``MonitorApp.context``, its one attribute of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signal_monitor.agents.closer import PeriodCloser
    from signal_monitor.agents.ingest import IngestStats
    from signal_monitor.rules.model import RuleSet
    from signal_monitor.state.base import State
    from signal_monitor.status.collector import DeliveryStats, RuleStats
    from signal_monitor.status.publisher import StatusPublisher
    from signal_monitor.web.dashboard import Dashboard


@dataclass
class Installed:
    """What is installed on the app from the context, each set once by its install function (None before)."""

    status: StatusPublisher | None = None  #: by ``status.publisher.install``
    dashboard: Dashboard | None = None  #: by ``web.install_web``, when the web server is on


@dataclass(frozen=True, kw_only=True)
class WorkerContext:
    """One worker's identity and shared parts; fixed once built (``installed`` records what was added since)."""

    worker_id: str
    version: str
    app_id: str
    state: State  #: the store
    stats: IngestStats  #: the ingestors' counters, shared by all of them
    inputs: tuple[str, ...]  #: the input topics' names
    closer: PeriodCloser  #: watermark, period close and rules
    rules: RuleSet | None  #: the parsed rule set; None when rules are disabled
    rules_stats: RuleStats  #: reports how many rules are loaded
    delivery_stats: DeliveryStats | None = None  #: the dispatcher's last snapshot; None when delivery is off
    installed: Installed = field(default_factory=Installed)
