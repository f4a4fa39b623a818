"""Alert delivery: routing, noise control, a durable Redis outbox, and the Slack and console receivers."""

from signal_monitor.delivery.dispatcher import DeliveryOptions, Dispatcher, SlackDefaults, build_sender
from signal_monitor.delivery.outbox import Outbox, Parked
from signal_monitor.delivery.routing import DEFAULT_ROUTES_PATH, RouteFileError, Routes, load_routes, parse_routes
from signal_monitor.delivery.silences import Silence, SilenceStore
from signal_monitor.delivery.slack import Outcome, build_message, redact_webhook
from signal_monitor.delivery.stages.admission import claim_key

__all__ = [
    "DEFAULT_ROUTES_PATH",
    "DeliveryOptions",
    "Dispatcher",
    "Outbox",
    "Outcome",
    "Parked",
    "RouteFileError",
    "Routes",
    "Silence",
    "SlackDefaults",
    "SilenceStore",
    "build_message",
    "build_sender",
    "claim_key",
    "load_routes",
    "parse_routes",
    "redact_webhook",
]
