"""Find or start the Kafka broker and the Redis a worker needs: configured ones, else embedded ones."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from signal_monitor.config.settings import Settings
from signal_monitor.embedded.broker import EmbeddedBroker, kafka_metadata_ok
from signal_monitor.embedded.process import tcp_open
from signal_monitor.embedded.redis import EmbeddedRedis
from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MASK = "***"
_SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "secret", "token"})


def redact_url(url: str) -> str:
    """Return ``url`` with its password (in the user info or a ``password=`` query field) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            query = urlencode(
                [(key, MASK if key.lower() in _SECRET_QUERY_KEYS else value) for key, value in pairs], safe="*"
            )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redis_answers(url: str, timeout: float = 0.5, *, password: str | None = None) -> bool:
    """Return whether the Redis at ``url`` answers PING within ``timeout`` seconds (no retries)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, object] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    if password:
        options["password"] = password
    try:
        client = redis.Redis.from_url(url, **options)
    except (ValueError, redis.RedisError):
        return False
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


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


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    servers: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise EmbeddedServiceError(f"KAFKA_BOOTSTRAP {bootstrap!r}: {item!r} is not host:port")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        raise EmbeddedServiceError(f"KAFKA_BOOTSTRAP {bootstrap!r} names no server")
    return servers


def kafka_answers(bootstrap: str, timeout: float = 5.0, *, client_config: Mapping[str, object] | None = None) -> bool:
    """Return whether a broker of ``bootstrap`` answers a metadata request; ``client_config`` goes to kafka-python."""
    try:
        servers = _split_bootstrap(bootstrap)
    except EmbeddedServiceError:
        return False
    if not any(tcp_open(host, port, timeout=min(timeout, 1.0)) for host, port in servers):
        return False
    try:
        kafka_metadata_ok(bootstrap, timeout=timeout, client_config=client_config)
    except Exception:  # kafka-python raises many types for an unreachable or refusing broker
        log.debug("Kafka at %s does not answer", bootstrap, exc_info=True)
        return False
    return True


@contextmanager
def ensure_services(settings: Settings, *, workdir: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(kafka_bootstrap, redis_url)``: the configured services, checked, else embedded ones.

    A configured ``KAFKA_BOOTSTRAP`` / ``REDIS_URL`` must answer, or EmbeddedServiceError names it
    (password masked). Without one, an embedded Tansu broker is started; for Redis, 127.0.0.1:6379 is
    used when it answers, else an embedded redis-server. Only what was started here is stopped on exit.
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
            broker = stack.enter_context(EmbeddedBroker(workdir / "kafka"))
            bootstrap = broker.bootstrap
            log.info("KAFKA_BOOTSTRAP is not set: started the embedded broker at %s", bootstrap)

        # --- Redis ---------------------------------------------------------------
        password = settings.redis_password.get_secret_value() if settings.redis_password is not None else None
        if settings.redis_url:
            redis_url = settings.redis_url
            if not redis_answers(redis_url, timeout=2.0, password=password):
                raise EmbeddedServiceError(
                    f"the Redis at {redact_url(redis_url)} (REDIS_URL) does not answer PING; "
                    "start it, or unset REDIS_URL to use a local or embedded Redis"
                )
            log.info("using the configured Redis at %s", redact_url(redis_url))
        elif redis_answers(DEFAULT_REDIS_URL, password=password):
            redis_url = DEFAULT_REDIS_URL
            log.info("REDIS_URL is not set: using the Redis that answers at %s", redis_url)
        else:
            server = stack.enter_context(EmbeddedRedis(workdir / "redis"))
            redis_url = server.url
            log.info(
                "REDIS_URL is not set and 127.0.0.1:6379 does not answer: started an embedded Redis at %s", redis_url
            )

        yield bootstrap, redis_url
