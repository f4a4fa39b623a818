"""Settings and the shipped default configuration files."""

from signal_monitor.config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
