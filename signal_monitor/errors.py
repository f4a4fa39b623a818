"""The exception tree of signal-monitor.

``SignalMonitorError`` is the root. Control-flow signals (an event to skip, a
dependency to retry later) live apart from real failures so a caller can tell
"try again" from "this is wrong".
"""

from __future__ import annotations


class SignalMonitorError(Exception):
    """Base class of every error raised by signal-monitor."""


class ConfigError(SignalMonitorError):
    """Settings or a configuration file are invalid; start-up stops."""


class RuleFileError(ConfigError):
    """A rule file is invalid: names the file, the rule id and the field."""

    def __init__(self, path: str, rule_id: str | None, field: str | None, message: str) -> None:
        self.path = path
        self.rule_id = rule_id
        self.field = field
        self.message = message
        where = path
        if rule_id:
            where += f", rule {rule_id!r}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


class InvalidEvent(SignalMonitorError):
    """An input message cannot be applied; it goes to the dead-letter topic.

    ``reason`` is a short stable code (counted per reason), ``detail`` a
    human-readable explanation.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class DependencyUnavailable(SignalMonitorError):
    """A dependency (Redis, the broker) does not answer; retry later."""


class StaleBatch(SignalMonitorError):
    """A batch's offsets are already applied in the store (another writer, or a replay)."""


class EmbeddedServiceError(SignalMonitorError):
    """An embedded broker or Redis could not be started."""
