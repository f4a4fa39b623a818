"""The exception tree of signal-monitor.

``SignalMonitorError`` is the root. The control-flow signal ``InvalidEvent`` (an
event to skip, with the reason it goes to the dead-letter topic under) lives
apart from real failures (an invalid configuration, an embedded service that
does not start) so a caller can tell "skip this" from "this is wrong". A store
that does not answer raises nothing of ours: :mod:`signal_monitor.state.retry`
waits it out.
"""

from __future__ import annotations


class SignalMonitorError(Exception):
    """Base class of every error raised by signal-monitor."""


class ConfigError(SignalMonitorError):
    """Settings or a configuration file are invalid; start-up stops."""


class ConfigFileError(ConfigError):
    """A configuration file is invalid: names the file, the entry (``where``) and the field."""

    def __init__(self, path: str, where: str | None, field: str | None, message: str) -> None:
        self.path = path
        self.where = where
        self.field = field
        self.message = message
        text = path
        if where:
            text += f", {where}"
        if field:
            text += f", field {field!r}"
        super().__init__(f"{text}: {message}")


class RuleFileError(ConfigFileError):
    """A rule file is invalid: names the file, the rule id and the field."""

    def __init__(self, path: str, rule_id: str | None, field: str | None, message: str) -> None:
        self.rule_id = rule_id
        super().__init__(path, f"rule {rule_id!r}" if rule_id else None, field, message)


class RouteFileError(ConfigFileError):
    """A routes file is invalid: names the file, the route (or receiver) and the field."""


class InvalidEvent(SignalMonitorError):
    """An input message cannot be applied; it goes to the dead-letter topic.

    ``reason`` is a short stable code (counted per reason), ``detail`` a
    human-readable explanation.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class EmbeddedServiceError(SignalMonitorError):
    """An embedded broker or Redis could not be started."""
