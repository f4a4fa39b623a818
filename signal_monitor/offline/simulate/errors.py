"""The simulation's error."""

from __future__ import annotations

from signal_monitor.errors import SignalMonitorError


class SimulateError(SignalMonitorError):
    """The simulation cannot run (a missing input, or a design that does not hold)."""
