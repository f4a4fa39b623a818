"""Embedded services for development, tests, the benchmark and the fault campaign.

An Apache Kafka broker (KRaft, one node, from Maven Central jars), a Tansu broker (no Java, memory
storage) and a redis-server, sharing one life cycle (process.py). Production code does not import
this package: only the CLI's demo path, the offline tools, bench, chaos and tests do.
"""

from signal_monitor.embedded.kafka import EmbeddedKafka
from signal_monitor.embedded.probe import kafka_answers
from signal_monitor.embedded.process import free_port
from signal_monitor.embedded.redis import EmbeddedRedis
from signal_monitor.embedded.services import (
    BrokerKind,
    EmbeddedBroker,
    default_broker_kind,
    embedded_broker,
    ensure_services,
)
from signal_monitor.embedded.tansu import EmbeddedTansu

__all__ = [
    "BrokerKind",
    "EmbeddedBroker",
    "EmbeddedKafka",
    "EmbeddedRedis",
    "EmbeddedTansu",
    "default_broker_kind",
    "embedded_broker",
    "ensure_services",
    "free_port",
    "kafka_answers",
]
