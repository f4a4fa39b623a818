"""Find or start the Kafka broker and the Redis a worker needs: configured ones, else embedded ones."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Literal

from signal_monitor.config.settings import Settings
from signal_monitor.embedded.kafka import EmbeddedKafka, java_available
from signal_monitor.embedded.probe import kafka_answers
from signal_monitor.embedded.redis import EmbeddedRedis
from signal_monitor.embedded.tansu import EmbeddedTansu
from signal_monitor.errors import EmbeddedServiceError
from signal_monitor.redaction import redact_url
from signal_monitor.state.connect import DEFAULT_REDIS_URL, settings_redis_answers

log = logging.getLogger("signal_monitor.embedded")

BrokerKind = Literal["kafka", "tansu"]
EmbeddedBroker = EmbeddedKafka | EmbeddedTansu


def embedded_broker(kind: BrokerKind, workdir: str | os.PathLike[str], **options: object) -> EmbeddedBroker:
    """An (unstarted) embedded broker of ``kind``: Apache Kafka or Tansu, its files in ``workdir``."""
    if kind == "kafka":
        return EmbeddedKafka(workdir, **options)  # type: ignore[arg-type]
    if kind == "tansu":
        return EmbeddedTansu(workdir, **options)  # type: ignore[arg-type]
    raise EmbeddedServiceError(f"SM_EMBEDDED_BROKER={kind!r}: choose kafka or tansu")


def default_broker_kind() -> BrokerKind:
    """``SM_EMBEDDED_BROKER`` when set, else Apache Kafka when Java is here, else Tansu (bench, chaos, tests)."""
    configured = os.environ.get("SM_EMBEDDED_BROKER", "").strip().lower()
    if configured:
        if configured not in ("kafka", "tansu"):
            raise EmbeddedServiceError(f"SM_EMBEDDED_BROKER={configured!r}: choose kafka or tansu")
        return configured  # type: ignore[return-value]
    return "kafka" if java_available() else "tansu"


def _kafka_client_config(settings: Settings) -> dict[str, object]:
    protocol = settings.kafka_security_protocol
    config: dict[str, object] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile:
        config["ssl_cafile"] = settings.kafka_ssl_cafile
    return config


@contextmanager
def ensure_services(settings: Settings, *, workdir: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(kafka_bootstrap, redis_url)``: the configured services, checked, else embedded ones.

    A configured ``KAFKA_BOOTSTRAP`` / ``REDIS_URL`` must answer, or EmbeddedServiceError names it
    (password masked). Without one, the broker ``SM_EMBEDDED_BROKER`` names is started (Tansu by
    default); for Redis, 127.0.0.1:6379 is used when it answers, else an embedded redis-server.
    Only what was started here is stopped on exit.
    """
    workdir = Path(workdir)
    with ExitStack() as stack:
        # --- Kafka ---------------------------------------------------------------
        if settings.kafka_bootstrap:
            bootstrap = settings.kafka_bootstrap
            if not kafka_answers(bootstrap, client_config=_kafka_client_config(settings)):
                raise EmbeddedServiceError(
                    f"the Kafka broker at {bootstrap} (KAFKA_BOOTSTRAP) does not answer; "
                    "start it, or unset KAFKA_BOOTSTRAP to use the embedded broker"
                )
            log.info("using the configured Kafka broker at %s", bootstrap)
        else:
            kind = settings.embedded_broker
            broker = stack.enter_context(embedded_broker(kind, workdir / kind))
            bootstrap = broker.bootstrap
            log.info("KAFKA_BOOTSTRAP is not set: started the embedded broker (%s) at %s", broker.label, bootstrap)

        # --- Redis ---------------------------------------------------------------
        if settings.redis_url:
            redis_url = settings.redis_url
            if not settings_redis_answers(settings, redis_url, timeout=2.0):
                raise EmbeddedServiceError(
                    f"the Redis at {redact_url(redis_url)} (REDIS_URL) does not answer PING; "
                    "start it, or unset REDIS_URL to use a local or embedded Redis"
                )
            log.info("using the configured Redis at %s", redact_url(redis_url))
        elif settings_redis_answers(settings, DEFAULT_REDIS_URL):
            redis_url = DEFAULT_REDIS_URL
            log.info("REDIS_URL is not set: using the Redis that answers at %s", redis_url)
        else:
            server = stack.enter_context(EmbeddedRedis(workdir / "redis"))
            redis_url = server.url
            log.info(
                "REDIS_URL is not set and 127.0.0.1:6379 does not answer: started an embedded Redis at %s", redis_url
            )

        yield bootstrap, redis_url
