"""Topic names, their roles and their creation through kafka-python's admin client."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from signal_monitor.config.settings import Settings

log = logging.getLogger(__name__)

#: Input topics and the message key each is partitioned by.
INPUTS: dict[str, str] = {
    "trades": "fund_id",
    "quotes": "symbol",
    "exposures": "fund_id",
    "observations": "series",
}
#: Output topics.
OUTPUTS: tuple[str, ...] = ("dlq", "alerts", "status")


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: its full name, partitions and config."""

    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Return every topic the monitor reads or writes, as it should be created."""
    specs = [TopicSpec(settings.topic(n), settings.topic_partitions, {}) for n in INPUTS]
    specs.append(TopicSpec(settings.topic("dlq"), 1, {"retention.ms": str(30 * 86400_000)}))
    specs.append(TopicSpec(settings.topic("alerts"), 1, {}))
    specs.append(TopicSpec(settings.topic("status"), 1, {"cleanup.policy": "compact"}))
    return specs


def kafka_client_options(settings: Settings) -> dict[str, object]:
    """Return kafka-python connection options (bootstrap, security) from the settings."""
    opts: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol.startswith("SASL"):
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            opts["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile:
        opts["ssl_cafile"] = settings.kafka_ssl_cafile
    return opts


def ensure_topics(settings: Settings, *, attempts: int = 10) -> list[str]:
    """Create the monitor's topics that do not exist yet; return the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            admin = KafkaAdminClient(client_id=f"{settings.app_id}-admin", **kafka_client_options(settings))
            break
        except KafkaError as exc:
            last = exc
            log.warning("broker not ready for topic creation (%s); %d attempts left", exc, attempts - attempt)
            time.sleep(min(2.0, 0.2 * attempt))
    else:
        raise RuntimeError(f"cannot reach the broker to create topics: {last}")
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(name=s.name, num_partitions=s.partitions, replication_factor=settings.topic_replication,
                     topic_configs=s.config)
            for s in topic_specs(settings)
            if s.name not in existing
        ]
        created = []
        for topic in new:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()
