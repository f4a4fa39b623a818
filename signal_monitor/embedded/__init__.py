"""Embedded services for development and tests: a Tansu Kafka broker and a redis-server."""

from signal_monitor.embedded.broker import EmbeddedBroker
from signal_monitor.embedded.process import free_port
from signal_monitor.embedded.redis import EmbeddedRedis
from signal_monitor.embedded.services import ensure_services, kafka_answers, redact_url, redis_answers

__all__ = [
    "EmbeddedBroker",
    "EmbeddedRedis",
    "ensure_services",
    "free_port",
    "kafka_answers",
    "redact_url",
    "redis_answers",
]
