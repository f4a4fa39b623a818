"""The async Redis client of a worker: one server or a Redis Cluster, over TCP or TLS, with a password.

``redis_client(settings)`` picks the client class: ``REDIS_CLUSTER=true`` or
``false`` decides; unset, the server is asked (``INFO cluster``) once at start-up.
A ``rediss://`` URL turns TLS on (``REDIS_SSL_CA_FILE``, ``REDIS_SSL_CERT_REQS``,
see :func:`signal_monitor.security.redis_ssl_kwargs`). The password is the URL's
when it holds one (redis-py lets the URL win), else the argument, else ``REDIS_PASSWORD``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from signal_monitor.config.settings import Settings
from signal_monitor.redaction import redact_url
from signal_monitor.security import redis_ssl_kwargs, redis_tls_kwargs

log = logging.getLogger(__name__)

#: Connection options shared by both client classes.
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 10,
}

AsyncClient = aioredis.Redis | aioredis.RedisCluster

#: The Redis tried when REDIS_URL is empty, before an embedded one is started.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers(
    url: str, timeout: float = 0.5, *, password: str | None = None, tls: Mapping[str, Any] | None = None
) -> bool:
    """Return whether the Redis at ``url`` answers PING within ``timeout`` seconds (no retries).

    ``tls``: redis-py TLS options for a ``rediss://`` URL (``redis_ssl_kwargs``: the CA that signed the
    server's certificate, a client certificate).
    """
    from redis.backoff import NoBackoff

    options: dict[str, object] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        **(tls or {}),
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


def settings_redis_answers(settings: Settings, url: str | None = None, timeout: float = 0.5) -> bool:
    """Return whether the Redis of ``settings`` (or at ``url``) answers PING, with their password and TLS options."""
    url = url or settings.redis_url or DEFAULT_REDIS_URL
    tls = redis_ssl_kwargs(settings.model_copy(update={"redis_url": url}))
    return redis_answers(url, timeout, password=_secret(settings.redis_password), tls=tls)


def _secret(value: object) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value) or None


def is_cluster(url: str, *, password: str | None = None, timeout: float = 2.0, **tls: Any) -> bool:
    """Return whether the server at ``url`` runs in cluster mode (``INFO cluster``: ``cluster_enabled:1``).

    Raises ``redis.RedisError`` (or ``OSError``) when the server does not answer.
    """
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=1.0), 2),
        **tls,
    }
    if password is not None:
        options["password"] = password
    client = redis.Redis.from_url(url, **options)
    try:
        info = client.info("cluster")
    finally:
        client.close()
    return str(info.get("cluster_enabled", 0)) == "1"


def redis_client(
    settings_or_url: Settings | str,
    *,
    password: str | None = None,
    cluster: bool | None = None,
) -> AsyncClient:
    """Return the async client for the configured Redis: ``RedisCluster`` on a cluster, else ``Redis``.

    ``cluster`` overrides ``REDIS_CLUSTER``; when both are unset the server is asked
    (a sync ``INFO cluster``, at start-up). A server that does not answer then is taken
    for a single server, with a warning: set ``REDIS_CLUSTER`` where it matters.
    """
    if isinstance(settings_or_url, str):
        url = settings_or_url
        tls = redis_tls_kwargs(url)
        configured_password: str | None = None
        configured_cluster: bool | None = None
    else:
        url = settings_or_url.redis_url
        tls = redis_ssl_kwargs(settings_or_url)
        configured_password = _secret(settings_or_url.redis_password)
        configured_cluster = getattr(settings_or_url, "redis_cluster", None)
    if not url:
        raise ValueError("no Redis URL: set REDIS_URL (or let ensure_services() pick one)")
    pw = password if password is not None else configured_password
    if cluster is None:
        cluster = configured_cluster
    if cluster is None:
        try:
            cluster = is_cluster(url, password=pw, **tls)
        except (redis.RedisError, OSError) as exc:
            log.warning(
                "cannot ask %s whether it is a cluster (%s); using a single-server client (set REDIS_CLUSTER to decide)",
                redact_url(url), type(exc).__name__,
            )
            cluster = False
    options: dict[str, Any] = {**CLIENT_OPTIONS, **tls}
    if pw is not None:
        options["password"] = pw
    if cluster:
        return aioredis.RedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)
