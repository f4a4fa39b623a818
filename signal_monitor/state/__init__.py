"""State: the abstract interface the agents and rules use, and its backends (memory, Redis)."""

from signal_monitor.state.base import Batch, Point, State

__all__ = ["Batch", "Point", "State"]
