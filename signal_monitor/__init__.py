"""signal-monitor: a streaming monitor of sector flows, leverage and volatility signals."""

__version__ = "0.1.0"
